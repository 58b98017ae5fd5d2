/**
 * A small stand-in for kube-apiserver that holds more Pods and Nodes than
 * this machine's real one can: it serves LIST (`limit`/`continue` pages, a
 * `resourceVersion`) and WATCH (events after the asked version, bookmarks)
 * of `/api/v1/pods` and `/api/v1/nodes` from the JSON text it is given (the
 * real API server's, see `recording.ts`), answers GETs and merge PATCHes of
 * its own Pods (the change goes out on the watch, as the real one's does),
 * and proxies every other request (Leases, Events, discovery, CRDs…) to a
 * real API server through `upstream`.
 *
 * On 127.0.0.1, over HTTPS when given a certificate (as the real API server
 * serves) or plain HTTP; it takes any token.
 *
 * ```sh
 * deno run --allow-all bench/scale.ts stub   # starts one in front of a real control plane
 * ```
 * @module
 */

import type { KubeClient } from "../../controller/kube_client.ts";

/** Options of {@linkcode ApiStub.start}. */
export interface ApiStubOptions {
  /** Pods as list items (JSON text, no `kind`), keyed `namespace/name`. */
  pods: { key: string; json: string }[];
  /** Nodes as list items, keyed by name. */
  nodes: { key: string; json: string }[];
  /** Where every other request goes. */
  upstream: KubeClient;
  /** The version the lists start at. @default {1_000_000} */
  resourceVersion?: number;
  /** How often an open watch gets a BOOKMARK. @default {30_000} */
  bookmarkEveryMs?: number;
  /**
   * Events kept per collection for watches that resume; one resuming from
   * before them gets 410 Expired, as from the real API server's window.
   * A long run of changes would otherwise keep every version in memory.
   * @default {100_000}
   */
  historySize?: number;
  /**
   * Serve HTTPS with this pair (PEM), as the real API server does: an
   * in-cluster client speaks nothing else. @default {undefined: plain HTTP}
   */
  tls?: { certPem: string; keyPem: string };
}

interface Collection {
  kind: string;
  keys: string[];
  json: Map<string, string>;
  /** Events since start, for watches that resume from a version. */
  history: { rv: number; line: string }[];
  watchers: Set<ReadableStreamDefaultController<Uint8Array>>;
}

/** Counters of what the stub answered itself. */
export interface ApiStubStats {
  lists: number;
  listBytes: number;
  watches: number;
  patches: number;
  gets: number;
  proxied: number;
}

const encoder = new TextEncoder();

/** The stub: see the module documentation. */
export class ApiStub implements AsyncDisposable {
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #tls: boolean;
  readonly #upstream: KubeClient;
  readonly #collections: Record<"pods" | "nodes", Collection>;
  readonly #bookmarkEveryMs: number;
  readonly #historySize: number;
  #rv: number;
  readonly stats: ApiStubStats = {
    lists: 0,
    listBytes: 0,
    watches: 0,
    patches: 0,
    gets: 0,
    proxied: 0,
  };

  private constructor(options: ApiStubOptions) {
    this.#upstream = options.upstream;
    this.#tls = options.tls !== undefined;
    this.#rv = options.resourceVersion ?? 1_000_000;
    this.#bookmarkEveryMs = options.bookmarkEveryMs ?? 30_000;
    this.#historySize = options.historySize ?? 100_000;
    const collection = (kind: string, items: { key: string; json: string }[]): Collection => ({
      kind,
      keys: items.map((i) => i.key),
      json: new Map(items.map((i) => [i.key, i.json])),
      history: [],
      watchers: new Set(),
    });
    this.#collections = {
      pods: collection("Pod", options.pods),
      nodes: collection("Node", options.nodes),
    };
    this.#server = Deno.serve(
      {
        hostname: "127.0.0.1",
        port: 0,
        onListen: () => {},
        ...(options.tls && { cert: options.tls.certPem, key: options.tls.keyPem }),
      },
      (req) => this.#handle(req),
    );
  }

  /** Starts serving on a free port. */
  static start(options: ApiStubOptions): ApiStub {
    return new ApiStub(options);
  }

  /** `http(s)://127.0.0.1:<port>`. */
  get url(): string {
    return `${this.#tls ? "https" : "http"}://127.0.0.1:${this.#server.addr.port}`;
  }

  /** Pods it serves, in list order. */
  get podKeys(): readonly string[] {
    return this.#collections.pods.keys;
  }

  /**
   * Changes label `key` of each Pod of `keys` to `value` (a new
   * resourceVersion) and sends the MODIFIED events to the open watches.
   */
  touchPods(keys: readonly string[], key: string, value: string): void {
    this.editPods(keys, (pod) => pod.metadata.labels = { ...pod.metadata.labels, [key]: value });
  }

  /**
   * Applies `edit` to each Pod of `keys` (parsed; a new resourceVersion)
   * and sends the MODIFIED events to the open watches.
   */
  editPods(
    keys: readonly string[],
    edit: (
      pod: { metadata: Record<string, unknown> & { labels?: Record<string, string> } },
    ) => void,
  ): void {
    const pods = this.#collections.pods;
    for (const k of keys) {
      const pod = JSON.parse(pods.json.get(k)!);
      edit(pod);
      this.#store(pods, k, pod);
    }
  }

  /** The stored Pod (parsed). */
  pod(key: string): { metadata: Record<string, unknown> } | undefined {
    const json = this.#collections.pods.json.get(key);
    return json === undefined ? undefined : JSON.parse(json);
  }

  #store(c: Collection, key: string, obj: { metadata: { resourceVersion?: string } }): string {
    const rv = ++this.#rv;
    obj.metadata.resourceVersion = String(rv);
    const json = JSON.stringify(obj);
    c.json.set(key, json);
    const line = `{"type":"MODIFIED","object":{"kind":"${c.kind}","apiVersion":"v1",${
      json.slice(1)
    }}\n`;
    c.history.push({ rv, line });
    if (c.history.length > this.#historySize) c.history.shift();
    const bytes = encoder.encode(line);
    for (const w of c.watchers) {
      try {
        w.enqueue(bytes);
      } catch {
        c.watchers.delete(w);
      }
    }
    return json;
  }

  async #handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const path = url.pathname;
    if (req.method === "GET" && (path === "/api/v1/pods" || path === "/api/v1/nodes")) {
      const c = this.#collections[path === "/api/v1/pods" ? "pods" : "nodes"];
      return url.searchParams.get("watch") === "true" || url.searchParams.get("watch") === "1"
        ? this.#watch(c, url.searchParams)
        : this.#list(c, url.searchParams);
    }
    const pod = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)(\/status)?$/.exec(path);
    const podKey = pod && `${pod[1]}/${pod[2]}`;
    if (podKey && this.#collections.pods.json.has(podKey)) {
      if (req.method === "GET") {
        this.stats.gets++;
        return json(this.#withKind("Pod", this.#collections.pods.json.get(podKey)!));
      }
      if (req.method === "PATCH" && req.headers.get("content-type")?.includes("merge-patch")) {
        this.stats.patches++;
        const obj = mergePatch(
          JSON.parse(this.#collections.pods.json.get(podKey)!),
          await req.json(),
        ) as { metadata: { resourceVersion?: string } };
        return json(this.#withKind("Pod", this.#store(this.#collections.pods, podKey, obj)));
      }
    }
    const node = /^\/api\/v1\/nodes\/([^/]+)$/.exec(path);
    if (node && req.method === "GET" && this.#collections.nodes.json.has(node[1])) {
      this.stats.gets++;
      return json(this.#withKind("Node", this.#collections.nodes.json.get(node[1])!));
    }
    return await this.#proxy(req, url);
  }

  #withKind(kind: string, item: string): string {
    return `{"kind":"${kind}","apiVersion":"v1",${item.slice(1)}`;
  }

  #list(c: Collection, q: URLSearchParams): Response {
    this.stats.lists++;
    const limit = Number(q.get("limit") || c.keys.length) || c.keys.length;
    const from = Number(q.get("continue") || 0);
    const to = Math.min(c.keys.length, from + limit);
    const items: string[] = [];
    for (let i = from; i < to; i++) items.push(c.json.get(c.keys[i])!);
    const meta = to < c.keys.length
      ? `{"resourceVersion":"${this.#rv}","continue":"${to}","remainingItemCount":${
        c.keys.length - to
      }}`
      : `{"resourceVersion":"${this.#rv}"}`;
    const body = `{"kind":"${c.kind}List","apiVersion":"v1","metadata":${meta},"items":[${
      items.join(",")
    }]}`;
    this.stats.listBytes += body.length;
    return json(body);
  }

  #watch(c: Collection, q: URLSearchParams): Response {
    this.stats.watches++;
    const since = Number(q.get("resourceVersion") || 0);
    const timeoutMs = Number(q.get("timeoutSeconds") || 1800) * 1000;
    const bookmarks = q.get("allowWatchBookmarks") === "true";
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    let bookmarkTimer: ReturnType<typeof setInterval> | undefined;
    let endTimer: ReturnType<typeof setTimeout> | undefined;
    const end = () => {
      clearInterval(bookmarkTimer);
      clearTimeout(endTimer);
      c.watchers.delete(controller);
    };
    const body = new ReadableStream<Uint8Array>({
      start: (ctl) => {
        controller = ctl;
        if (since > 0 && c.history.length > 0 && since < c.history[0].rv - 1) {
          ctl.enqueue(encoder.encode(
            `{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure",` +
              `"message":"too old resource version: ${since} (${c.history[0].rv - 1})",` +
              `"reason":"Expired","code":410}}\n`,
          ));
          ctl.close();
          return;
        }
        for (const e of c.history) if (e.rv > since) ctl.enqueue(encoder.encode(e.line));
        c.watchers.add(ctl);
        if (bookmarks) {
          bookmarkTimer = setInterval(() => {
            try {
              ctl.enqueue(encoder.encode(
                `{"type":"BOOKMARK","object":{"kind":"${c.kind}","apiVersion":"v1","metadata":{"resourceVersion":"${this.#rv}"}}}\n`,
              ));
            } catch {
              end();
            }
          }, this.#bookmarkEveryMs);
        }
        endTimer = setTimeout(() => {
          end();
          try {
            ctl.close();
          } catch {
            // already closed by the client
          }
        }, timeoutMs);
      },
      cancel: end,
    });
    return new Response(body, {
      headers: { "content-type": "application/json", "transfer-encoding": "chunked" },
    });
  }

  async #proxy(req: Request, url: URL): Promise<Response> {
    this.stats.proxied++;
    const body = req.body ? await req.text() : undefined;
    const res = await this.#upstream.fetch(req.method, url.pathname + url.search, {
      body: body || undefined,
      contentType: req.headers.get("content-type") ?? undefined,
      // Not req.signal: Deno.serve aborts it once the answer starts, which would cut a proxied watch.
    });
    return new Response(res.body, {
      status: res.status,
      headers: { "content-type": res.headers.get("content-type") ?? "application/json" },
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const c of Object.values(this.#collections)) {
      for (const w of c.watchers) {
        try {
          w.close();
        } catch {
          // gone
        }
      }
      c.watchers.clear();
    }
    await this.#server.shutdown();
  }
}

function json(body: string): Response {
  return new Response(body, { headers: { "content-type": "application/json" } });
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    typeof target === "object" && target !== null && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}
