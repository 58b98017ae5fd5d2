/**
 * A small Kubernetes REST client on Deno's own `fetch`: bearer tokens, a
 * pinned CA, JSON in and out, and raw streaming responses for watches.
 *
 * Requests go through Deno's native HTTP client rather than
 * `@kubernetes/client-node`, whose watch under Deno either stops
 * delivering or never times out a dead connection, whose client
 * certificates through `https.Agent` fail there, and whose import alone
 * costs about 80 MB of memory.
 *
 * @example
 * ```ts
 * const client = KubeClient.fromKubeconfigFile("admin.kubeconfig");
 * const pods = await client.request<{ items: unknown[] }>("GET", "/api/v1/pods");
 * ```
 * @module
 */

import { readKubeconfig } from "./kubeconfig.ts";

/** Where and as whom to connect. */
export interface KubeClientOptions {
  /** The API server's URL, e.g. `https://127.0.0.1:6443`. */
  server: string;
  /** A bearer token; ignored when `tokenFile` is set. */
  token?: string;
  /** A file holding the bearer token, re-read as it rotates (in-cluster tokens do). */
  tokenFile?: string;
  /** PEM of the CA(s) to trust; the system roots when absent. */
  caPem?: string;
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

  constructor(options: KubeClientOptions) {
    this.server = options.server.replace(/\/+$/, "");
    this.#token = options.token;
    this.#tokenFile = options.tokenFile;
    this.#tokenReloadMs = options.tokenReloadMs ?? 60_000;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.#caPem = options.caPem;
    this.#http = this.#createHttpClient();
  }

  #createHttpClient(): Deno.HttpClient {
    return Deno.createHttpClient({
      caCerts: this.#caPem ? [this.#caPem] : undefined,
      poolIdleTimeout: 90_000,
    });
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

  /** Reads a kubeconfig file (its current context); tokens only. */
  static fromKubeconfigFile(path: string): KubeClient {
    return new KubeClient(readKubeconfig(path));
  }

  /** Uses the Pod's service account, as every in-cluster client does. */
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

  #url(path: string, query?: RequestOptions["query"]): string {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v !== undefined && v !== "") url.searchParams.set(k, String(v));
    }
    return url.toString();
  }

  /** Sends a request and returns the raw response, whatever its status. */
  async fetch(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { accept: "application/json" };
    const token = this.#bearer();
    if (token) headers.authorization = `Bearer ${token}`;
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

/** Builds the {@linkcode KubeApiError} for a failed reply's status and body. */
export function errorFromResponse(status: number, text: string): KubeApiError {
  try {
    const s = JSON.parse(text) as { reason?: string; message?: string };
    return new KubeApiError(status, s.reason ?? "", s.message ?? text);
  } catch {
    return new KubeApiError(status, "", text.slice(0, 500) || `HTTP ${status}`);
  }
}
