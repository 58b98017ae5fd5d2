/**
 * A small in-memory stand-in for {@linkcode KubeClient}, for unit tests of
 * the controller core without a control plane: Pods and Nodes (cluster-wide
 * list and watch, with resourceVersions and a watch stream that stays
 * open), merge patches of a Pod (its `metadata.uid` checked, as the API
 * server does), Events, and 404 for every API group (no CRD is served).
 * It records every request, so a test can tell what the core wrote and
 * in which order.
 *
 * @example
 * ```ts
 * const api = new FakeKubeClient();
 * api.put("nodes", node);
 * const manager = new Manager({ client: api.client, registry, settings });
 * ```
 * @module
 */

import type { KubeClient, RequestOptions } from "../../controller/kube_client.ts";
import { errorFromResponse } from "../../controller/kube_client.ts";

// deno-lint-ignore no-explicit-any
type Obj = Record<string, any>;

/** The collections the fake keeps. */
export type Collection = "pods" | "nodes";

interface Change {
  type: "ADDED" | "MODIFIED" | "DELETED";
  collection: Collection;
  object: Obj;
}

/** See the module documentation. */
export class FakeKubeClient {
  readonly #objects: Record<Collection, Map<string, Obj>> = { pods: new Map(), nodes: new Map() };
  readonly #log: Change[] = [];
  readonly #listeners = new Set<(c: Change) => void>();
  #rv = 1;
  /** Every request, as `METHOD path`, in order. */
  readonly requests: string[] = [];
  /** The Events created (reason and message). */
  readonly events: { reason: string; message: string; type: string }[] = [];
  /** What the core sees: this fake as a {@linkcode KubeClient}. */
  readonly client: KubeClient;

  constructor() {
    const fake = {
      server: "http://fake",
      fetch: (method: string, path: string, options: RequestOptions = {}) =>
        this.#fetch(method, path, options),
      request: async <T>(method: string, path: string, options: RequestOptions = {}) => {
        const res = await this.#fetch(method, path, options);
        const text = await res.text();
        if (!res.ok) throw errorFromResponse(res.status, text);
        return (text ? JSON.parse(text) : {}) as T;
      },
      resetConnections: () => {},
    };
    this.client = fake as unknown as KubeClient;
  }

  /** Creates or replaces an object (as `kubectl apply` would), with a new resourceVersion. */
  put(collection: Collection, object: Obj): Obj {
    const key = keyOf(object);
    const had = this.#objects[collection].has(key);
    const stored = structuredClone(object);
    stored.metadata.uid ??= crypto.randomUUID();
    stored.metadata.resourceVersion = String(++this.#rv);
    this.#objects[collection].set(key, stored);
    this.#emit({ type: had ? "MODIFIED" : "ADDED", collection, object: stored });
    return stored;
  }

  /** Deletes an object. */
  remove(collection: Collection, key: string): void {
    const obj = this.#objects[collection].get(key);
    if (!obj) return;
    this.#objects[collection].delete(key);
    obj.metadata.resourceVersion = String(++this.#rv);
    this.#emit({ type: "DELETED", collection, object: obj });
  }

  /** An object as stored now. */
  get(collection: Collection, key: string): Obj | undefined {
    const obj = this.#objects[collection].get(key);
    return obj && structuredClone(obj);
  }

  #emit(change: Change): void {
    this.#log.push(change);
    for (const l of this.#listeners) l(change);
  }

  #fetch(method: string, path: string, options: RequestOptions): Promise<Response> {
    const query = options.query ?? {};
    this.requests.push(`${method} ${path}`);
    const json = (status: number, body: unknown) =>
      Promise.resolve(new Response(JSON.stringify(body), { status }));
    const collection = /^\/api\/v1\/(pods|nodes)$/.exec(path)?.[1] as Collection | undefined;
    if (method === "GET" && collection) {
      if (query.watch) return Promise.resolve(this.#watch(collection, query, options.signal));
      return json(200, {
        kind: collection === "pods" ? "PodList" : "NodeList",
        apiVersion: "v1",
        metadata: { resourceVersion: String(this.#rv) },
        items: [...this.#objects[collection].values()],
      });
    }
    const pod = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(path);
    if (method === "PATCH" && pod) {
      const key = `${pod[1]}/${pod[2]}`;
      const current = this.#objects.pods.get(key);
      if (!current) return json(404, { reason: "NotFound", message: `pods "${pod[2]}" not found` });
      const patch = bodyOf(options);
      if (patch.metadata?.uid && patch.metadata.uid !== current.metadata.uid) {
        return json(409, {
          reason: "Conflict",
          message: "Precondition failed: UID in object meta",
        });
      }
      return json(200, this.put("pods", mergePatch(current, patch)));
    }
    const events = /^\/api\/v1\/namespaces\/[^/]+\/events(\/[^/]+)?$/.exec(path);
    if (events && (method === "POST" || method === "PATCH")) {
      const body = bodyOf(options);
      if (method === "POST") {
        this.events.push({ reason: body.reason, message: body.message, type: body.type });
      }
      return json(method === "POST" ? 201 : 200, body);
    }
    if (method === "GET" && path.startsWith("/apis/")) {
      return json(404, {
        reason: "NotFound",
        message: "the server could not find the requested resource",
      });
    }
    return json(501, {
      reason: "NotImplemented",
      message: `The fake does not serve ${method} ${path}`,
    });
  }

  #watch(collection: Collection, query: RequestOptions["query"], signal?: AbortSignal): Response {
    const from = Number(query?.resourceVersion ?? 0);
    const encoder = new TextEncoder();
    let listener: ((c: Change) => void) | undefined;
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        const send = (c: Change) => {
          if (c.collection !== collection || Number(c.object.metadata.resourceVersion) <= from) {
            return;
          }
          controller.enqueue(
            encoder.encode(`${JSON.stringify({ type: c.type, object: c.object })}\n`),
          );
        };
        for (const c of this.#log) send(c);
        listener = send;
        this.#listeners.add(send);
        signal?.addEventListener("abort", () => {
          this.#listeners.delete(send);
          try {
            controller.close();
          } catch {
            // already closed
          }
        }, { once: true });
      },
      cancel: () => {
        if (listener) this.#listeners.delete(listener);
      },
    });
    return new Response(stream, { status: 200 });
  }
}

/** The request body as an object (the client sends objects as JSON). */
function bodyOf(options: RequestOptions): Obj {
  return typeof options.body === "string" ? JSON.parse(options.body) : options.body as Obj;
}

function keyOf(obj: Obj): string {
  const { namespace, name } = obj.metadata;
  return namespace ? `${namespace}/${name}` : name;
}

/** RFC 7386 merge patch. */
function mergePatch(target: Obj, patch: Obj): Obj {
  const out: Obj = structuredClone(target);
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (typeof v === "object" && !Array.isArray(v) && typeof out[k] === "object") {
      out[k] = mergePatch(out[k] ?? {}, v);
    } else out[k] = structuredClone(v);
  }
  return out;
}
