/**
 * A small Kubernetes REST client on Deno's own `fetch`: a pinned CA, bearer
 * tokens (fixed, from a rotating file, or from a {@linkcode CredentialSource}
 * such as a kubeconfig's exec plugin), client certificates, JSON in and
 * out, and raw streaming responses for watches.
 *
 * Requests go through Deno's native HTTP client rather than
 * `@kubernetes/client-node`, whose watch under Deno either stops
 * delivering or never times out a dead connection, and whose client
 * certificates through `https.Agent` fail there. client-node only loads
 * kubeconfig files (see `kubeconfig.ts`), and only when one is given: its
 * import alone costs about 80 MB of memory, so {@linkcode KubeClient.inCluster}
 * never loads it.
 *
 * @example
 * ```ts
 * const client = await KubeClient.fromKubeconfigFile("admin.kubeconfig");
 * const pods = await client.request<{ items: unknown[] }>("GET", "/api/v1/pods");
 * ```
 * @module
 */

import { KubeconfigError, loadKubeconfig } from "./kubeconfig.ts";

/**
 * What a request authenticates with, besides the CA it trusts.
 *
 * @example
 * ```ts
 * const credentials: Credentials = { token: "abc" };
 * ```
 */
export interface Credentials {
  /** A bearer token. */
  token?: string;
  /** PEM of a client certificate (with `keyPem`). */
  certPem?: string;
  /** PEM of the client certificate's private key. */
  keyPem?: string;
}

/**
 * Credentials that change while gamenet runs, e.g. those of a kubeconfig's
 * exec plugin: asked for before every request, so `get()` must be cheap
 * while what it gave last is still valid.
 *
 * @example
 * ```ts
 * const fixed: CredentialSource = {
 *   get: () => Promise.resolve({ token: "abc" }),
 *   invalidate: () => {},
 * };
 * ```
 */
export interface CredentialSource {
  /** The credentials for the next request. */
  get(): Promise<Credentials>;
  /** The API server refused `used` (401): the next `get()` must not give them again. */
  invalidate(used: Credentials): void;
}

/** Where and as whom to connect. */
export interface KubeClientOptions {
  /** The API server's URL, e.g. `https://127.0.0.1:6443`. */
  server: string;
  /** A bearer token; ignored when `tokenFile` is set. */
  token?: string;
  /** A file holding the bearer token, re-read as it rotates (in-cluster tokens do). */
  tokenFile?: string;
  /** PEM of a client certificate to present (with `keyPem`). */
  certPem?: string;
  /** PEM of the client certificate's private key. */
  keyPem?: string;
  /**
   * Credentials asked for before every request (an exec plugin's); what
   * they give replaces `token`, and their certificate `certPem`.
   */
  credentials?: CredentialSource;
  /** PEM of the CA(s) to trust; the system roots when absent. */
  caPem?: string;
  /** An HTTP(S) or SOCKS5 proxy to connect through, e.g. `http://proxy:3128`. */
  proxyUrl?: string;
  /** How often `tokenFile` is re-read. @default {60_000} */
  tokenReloadMs?: number;
  /** Client-side timeout of a non-streaming request. @default {30_000} */
  requestTimeoutMs?: number;
}

/** Options of one request. */
export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** @default {"application/json"} */
  contentType?: string;
  signal?: AbortSignal;
}

/** The API server's `Status` reply for a failed request. */
export class KubeApiError extends Error {
  /** HTTP status, e.g. 404, 409, 410. */
  readonly status: number;
  /** `Status.reason`, e.g. `NotFound`, `AlreadyExists`, `Conflict`, `Expired`. */
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(message);
    this.name = "KubeApiError";
    this.status = status;
    this.reason = reason;
  }
}

/** Path of the in-cluster service-account folder. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** A Kubernetes API client: see the module documentation. */
export class KubeClient {
  readonly server: string;
  #token?: string;
  #tokenFile?: string;
  #tokenReadAt = 0;
  #tokenReloadMs: number;
  #requestTimeoutMs: number;
  #http: Deno.HttpClient;
  #caPem?: string;
  #proxyUrl?: string;
  #certPem?: string;
  #keyPem?: string;
  #credentials?: CredentialSource;

  constructor(options: KubeClientOptions) {
    this.server = options.server.replace(/\/+$/, "");
    this.#token = options.token;
    this.#tokenFile = options.tokenFile;
    this.#tokenReloadMs = options.tokenReloadMs ?? 60_000;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.#caPem = options.caPem;
    this.#proxyUrl = options.proxyUrl;
    if (Boolean(options.certPem) !== Boolean(options.keyPem)) {
      throw new Error("A client certificate needs its key, and a key its certificate");
    }
    this.#certPem = options.certPem;
    this.#keyPem = options.keyPem;
    this.#credentials = options.credentials;
    this.#http = this.#createHttpClient();
  }

  #createHttpClient(): Deno.HttpClient {
    const options: Deno.CreateHttpClientOptions = {
      caCerts: this.#caPem ? [this.#caPem] : undefined,
      poolIdleTimeout: 90_000,
      proxy: this.#proxyUrl ? proxyOf(this.#proxyUrl) : undefined,
    };
    // The certificate is the connection's, not a request's: a new one (an
    // exec plugin's renewed certificate) needs a new client.
    if (!this.#certPem || !this.#keyPem) return Deno.createHttpClient(options);
    try {
      return Deno.createHttpClient({ ...options, cert: this.#certPem, key: this.#keyPem });
    } catch (err) {
      throw new Error(`Client certificate or key: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Drops every pooled connection: later requests connect anew. Called when
   * a request or watch went silent, because the connection it used may be
   * half-open (its peer gone without a FIN) and would be handed out again.
   */
  resetConnections(): void {
    const old = this.#http;
    this.#http = this.#createHttpClient();
    old.close();
  }

  /**
   * Connects as the current context of a kubeconfig file (or of a
   * `KUBECONFIG`-style list of files) says: bearer token, token file,
   * client certificate or exec plugin. Loads `@kubernetes/client-node` to
   * read it; an exec plugin runs once here, so a failing one fails now.
   *
   * @example
   * ```ts
   * const client = await KubeClient.fromKubeconfigFile(`${Deno.env.get("HOME")}/.kube/config`);
   * ```
   */
  static async fromKubeconfigFile(path: string): Promise<KubeClient> {
    const options = await loadKubeconfig(path);
    try {
      return new KubeClient(options);
    } catch (err) {
      throw new KubeconfigError(`Kubeconfig ${path}: ${(err as Error).message}`);
    }
  }

  /**
   * Uses the Pod's service account, as every in-cluster client does,
   * without loading `@kubernetes/client-node`.
   *
   * @example
   * ```ts
   * const client = KubeClient.inCluster();
   * ```
   */
  static inCluster(): KubeClient {
    const host = Deno.env.get("KUBERNETES_SERVICE_HOST");
    const port = Deno.env.get("KUBERNETES_SERVICE_PORT") ?? "443";
    if (!host) {
      throw new Error(
        "Not running in a cluster (KUBERNETES_SERVICE_HOST is unset): pass --kubeconfig",
      );
    }
    const server = host.includes(":") ? `https://[${host}]:${port}` : `https://${host}:${port}`;
    return new KubeClient({
      server,
      tokenFile: `${SERVICE_ACCOUNT_DIR}/token`,
      caPem: Deno.readTextFileSync(`${SERVICE_ACCOUNT_DIR}/ca.crt`),
    });
  }

  #bearer(): string | undefined {
    if (this.#tokenFile) {
      const now = Date.now();
      if (!this.#token || now - this.#tokenReadAt > this.#tokenReloadMs) {
        this.#token = Deno.readTextFileSync(this.#tokenFile).trim();
        this.#tokenReadAt = now;
      }
    }
    return this.#token;
  }

  /** What the next request authenticates with; a source's new certificate swaps the client. */
  async #current(): Promise<Credentials> {
    if (!this.#credentials) return { token: this.#bearer() };
    const got = await this.#credentials.get();
    if (got.certPem && got.keyPem && got.certPem !== this.#certPem) {
      this.#certPem = got.certPem;
      this.#keyPem = got.keyPem;
      this.resetConnections();
    }
    return { token: got.token ?? this.#bearer(), certPem: got.certPem, keyPem: got.keyPem };
  }

  /**
   * After a 401 with `used`: true when newer credentials may exist (a
   * source's next ones, a token file rewritten since its last read), so
   * the request is worth one more try.
   */
  #renew(used: Credentials): boolean {
    if (this.#credentials) {
      this.#credentials.invalidate(used);
      return true;
    }
    if (!this.#tokenFile) return false;
    this.#tokenReadAt = 0;
    return this.#bearer() !== used.token;
  }

  #url(path: string, query?: RequestOptions["query"]): string {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v !== undefined && v !== "") url.searchParams.set(k, String(v));
    }
    return url.toString();
  }

  async #send(
    method: string,
    path: string,
    options: RequestOptions,
    credentials: Credentials,
  ): Promise<Response> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (credentials.token) headers.authorization = `Bearer ${credentials.token}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers["content-type"] = options.contentType ?? "application/json";
      body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
    }
    return await fetch(this.#url(path, options.query), {
      method,
      headers,
      body,
      signal: options.signal,
      client: this.#http,
    });
  }

  /**
   * Sends a request and returns the raw response, whatever its status. A
   * 401 is tried once more when the credentials may have changed since
   * (an expired exec credential, a rotated token file).
   */
  async fetch(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const used = await this.#current();
    const res = await this.#send(method, path, options, used);
    if (res.status !== 401 || !this.#renew(used)) return res;
    await res.body?.cancel();
    return await this.#send(method, path, options, await this.#current());
  }

  /** Sends a request and parses the JSON reply; a non-2xx reply throws {@linkcode KubeApiError}. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const timeout = AbortSignal.timeout(this.#requestTimeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    let text: string;
    let res: Response;
    try {
      res = await this.fetch(method, path, { ...options, signal });
      text = await res.text();
    } catch (err) {
      if (timeout.aborted) {
        this.resetConnections();
        throw new Error(
          `${method} ${path}: no answer within ${this.#requestTimeoutMs} ms`,
          { cause: err },
        );
      }
      throw err;
    }
    if (!res.ok) throw errorFromResponse(res.status, text);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** Releases the connection pool. */
  close(): void {
    this.#http.close();
  }
}

/** Deno's proxy setting for a kubeconfig's `proxy-url`. */
function proxyOf(url: string): Deno.Proxy {
  const scheme = url.slice(0, url.indexOf(":"));
  if (scheme === "socks5" || scheme === "socks5h") return { transport: "socks5", url };
  if (scheme === "http" || scheme === "https") return { transport: scheme, url };
  throw new Error(`Proxy "${url}": write http://, https://, socks5:// or socks5h://`);
}

/** Builds the {@linkcode KubeApiError} for a failed reply's status and body. */
export function errorFromResponse(status: number, text: string): KubeApiError {
  try {
    const s = JSON.parse(text) as { reason?: string; message?: string };
    return new KubeApiError(status, s.reason ?? "", s.message ?? text);
  } catch {
    return new KubeApiError(status, "", text.slice(0, 500) || `HTTP ${status}`);
  }
}
