/**
 * Runs a provider's own kinds and controllers ({@linkcode ProviderExtension})
 * with the core's machinery: a {@linkcode Reflector} per kind (started once
 * the API server serves it, so gamenet runs without the CRDs installed),
 * a {@linkcode Controller} per controller, its sweep as a
 * {@linkcode Periodic}, Events through the recorder.
 * Like Pods, nothing is reconciled before this replica leads and the
 * extension has restored its allocations from the cached objects.
 *
 * The context's reads go through the caches' indexes (namespace, owner,
 * the kind's own, the reverse index of a kind's Pod selector, the Pods'
 * labels): a Pod event costs what it concerns, not every cached object.
 *
 * @example
 * ```ts
 * const runner = new ExtensionRunner({ client, extension, events, pods, log });
 * runner.start();
 * await runner.lead(); // when leading
 * ```
 * @module
 */

import type { KubeClient } from "./kube_client.ts";
import { KubeApiError } from "./kube_client.ts";
import { apiPath } from "./api_path.ts";
import { type KubeObject, objectKey, Reflector } from "./reflector.ts";
import { byOwner, type Indexers, NAMESPACE_INDEX } from "./indexer.ts";
import { PodSelectorIndex } from "./pod_selector_index.ts";
import { Controller } from "./controller.ts";
import { Periodic } from "./periodic.ts";
import { ServedKinds } from "./served_kinds.ts";
import type { EventRecorder } from "./event_recorder.ts";
import {
  type ExtensionContext,
  type ExtensionController,
  type ExtensionKind,
  type ExtensionObject,
  OWNER_INDEX,
  type ProviderExtension,
} from "../providers/extension.ts";
import type { Pod } from "../providers/types.ts";

/** Options of {@linkcode ExtensionRunner}. */
export interface ExtensionRunnerOptions {
  client: KubeClient;
  extension: ProviderExtension;
  events: EventRecorder;
  /** The manager's Pod cache. */
  pods: Reflector<Pod & KubeObject>;
  /**
   * Workers per controller. Many, because a reconcile mostly waits for the
   * cloud, and concurrent ones share a batched cloud call. @default {64}
   */
  workers?: number;
  /** Reconciles a Pod again. @default {() => {}} */
  requeuePod?: (key: string) => void;
  /** Between two looks for kinds not served yet. @default {30_000} */
  discoveryRetryMs?: number;
  log: (message: string) => void;
}

const MERGE_PATCH = "application/merge-patch+json";

type CachedObject = ExtensionObject & KubeObject;

/** The indexes a kind's cache keeps; throws when the kind's own take a core name. */
function indexersOf(
  kind: ExtensionKind,
  selectors?: PodSelectorIndex<CachedObject>,
): Indexers<CachedObject> {
  const indexers: Indexers<CachedObject> = {
    [OWNER_INDEX]: byOwner,
    ...selectors?.selectorIndexers(),
  };
  for (const [name, fn] of Object.entries(kind.indexes ?? {})) {
    if (name === NAMESPACE_INDEX || Object.hasOwn(indexers, name)) {
      throw new Error(`Extension kind ${kind.resource}: index name "${name}" is the core's`);
    }
    indexers[name] = fn;
  }
  return indexers;
}

/** The runner: see the module documentation. */
export class ExtensionRunner {
  readonly #options: Required<ExtensionRunnerOptions>;
  readonly #caches = new Map<string, Reflector<CachedObject>>();
  /** Each kind's indexes, made once: a mistake in them shows at start-up. */
  readonly #indexers = new Map<string, Indexers<CachedObject>>();
  /** The selector indexes of the kinds that select Pods. */
  readonly #podSelectors = new Map<string, PodSelectorIndex<CachedObject>>();
  readonly #queues = new Map<string, Controller>();
  readonly ctx: ExtensionContext;
  #leading = false;
  #started = false;
  #stopped = false;
  #served: ServedKinds;
  #sweep?: Periodic;
  #allServed!: () => void;
  /** Resolves once every kind is served and cached. */
  readonly synced: Promise<void>;

  constructor(options: ExtensionRunnerOptions) {
    this.#options = { workers: 64, discoveryRetryMs: 30_000, requeuePod: () => {}, ...options };
    this.synced = new Promise((resolve) => this.#allServed = resolve);
    for (const c of this.#options.extension.controllers) {
      this.#queues.set(
        c.name,
        new Controller({
          name: c.name,
          workers: c.workers ?? this.#options.workers,
          reconcile: (key) => c.reconcile(key, this.ctx),
          log: this.#options.log,
        }),
      );
    }
    for (const kind of this.#options.extension.kinds) {
      let selectors: PodSelectorIndex<CachedObject> | undefined;
      if (kind.podSelector) {
        selectors = new PodSelectorIndex(kind.resource, (obj) => kind.podSelector!(obj));
        this.#podSelectors.set(kind.resource, selectors);
        // On the shared Pod cache, under a name of this kind's own.
        this.#options.pods.addIndexers(selectors.podIndexers());
      }
      this.#indexers.set(kind.resource, indexersOf(kind, selectors));
    }
    this.ctx = this.#context();
    this.#served = new ServedKinds(this.#options.client, {
      retryMs: this.#options.discoveryRetryMs,
      log: this.#options.log,
    });
  }

  /** Looks for the kinds (and keeps looking) and starts their caches. */
  start(): void {
    const kinds = this.#options.extension.kinds;
    void this.#served.watch(kinds, (kind) => {
      const cache = new Reflector<CachedObject>(this.#options.client, {
        path: `${apiPath(kind.apiVersion)}/${kind.resource}`,
        labelSelector: kind.labelSelector,
        log: this.#options.log,
        indexers: this.#indexers.get(kind.resource),
      }, {
        onAdd: (obj) => this.#changed(kind.resource, obj),
        onUpdate: (_old, obj) => this.#changed(kind.resource, obj),
        onDelete: (obj) => this.#changed(kind.resource, obj),
      });
      this.#caches.set(kind.resource, cache);
      cache.start();
    }).then(async () => {
      await Promise.all([...this.#caches.values()].map((c) => c.synced));
      if (this.#caches.size === kinds.length) this.#allServed();
    });
  }

  /** This replica leads: restore once the caches are synced, then reconcile. */
  async lead(): Promise<void> {
    this.#leading = true;
    await this.synced;
    if (!this.#leading || this.#stopped) return;
    await this.#options.extension.restore?.(this.ctx);
    if (!this.#leading || this.#stopped) return;
    this.#started = true;
    const { sweep, sweepEveryMs } = this.#options.extension;
    if (sweep) {
      this.#sweep = new Periodic("Extension sweep", sweepEveryMs ?? 60_000, () => sweep(this.ctx), {
        when: () => this.#leading,
        log: this.#options.log,
      });
    }
    for (const c of this.#options.extension.controllers) {
      const queue = this.#queues.get(c.name)!;
      queue.start();
      for (const key of this.#caches.get(c.resource)?.store.keys() ?? []) queue.add(key);
    }
    // Pods that asked for something while no replica led (an annotation
    // with no object made for it yet) are offered once, as if they changed.
    const byPod = this.#options.extension.controllers.filter((c) => c.keysForPod);
    if (byPod.length > 0) {
      for (const pod of this.#options.pods.store.values()) this.podChanged(pod);
    }
  }

  /** A Pod changed (or went: its last state). */
  podChanged(pod: Pod): void {
    if (!this.#started) return;
    for (const c of this.#options.extension.controllers) {
      for (const key of c.keysForPod?.(pod, this.ctx) ?? []) this.#queues.get(c.name)!.add(key);
    }
  }

  /** Stops queues and caches. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#leading = false;
    this.#served.stop();
    this.#sweep?.stop();
    this.#allServed();
    await Promise.all([
      ...[...this.#queues.values()].map((q) => q.stop()),
      ...[...this.#caches.values()].map((c) => c.stop()),
    ]);
  }

  /** Watch restarts by resource, for metrics. */
  watchRestarts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [resource, cache] of this.#caches) out[resource] = cache.stats.watchRestarts;
    return out;
  }

  #changed(resource: string, obj: CachedObject): void {
    if (!this.#started) return;
    for (const c of this.#options.extension.controllers) {
      const queue = this.#queues.get(c.name)!;
      if (c.resource === resource) queue.add(objectKey(obj));
      for (const key of c.keysFor?.(resource, obj, this.ctx) ?? []) queue.add(key);
    }
  }

  #podSelector(resource: string): PodSelectorIndex<CachedObject> {
    const found = this.#podSelectors.get(resource);
    if (!found) throw new Error(`${resource}: its kind declares no podSelector`);
    return found;
  }

  #kind(resource: string) {
    const kind = this.#options.extension.kinds.find((k) => k.resource === resource);
    if (!kind) throw new Error(`${resource} is not a kind of this extension`);
    return kind;
  }

  #context(): ExtensionContext {
    const client = this.#options.client;
    const path = (resource: string, namespace: string, name?: string) => {
      const kind = this.#kind(resource);
      const scope = kind.clusterScoped ? "" : `/namespaces/${encodeURIComponent(namespace)}`;
      return `${apiPath(kind.apiVersion)}${scope}/${resource}${
        name === undefined ? "" : `/${encodeURIComponent(name)}`
      }`;
    };
    const controllers = new Map<string, ExtensionController>(
      this.#options.extension.controllers.map((c) => [c.name, c]),
    );
    const pods = this.#options.pods;
    return {
      get: (resource, key) => this.#caches.get(resource)?.get(key),
      list: (resource, namespace) => {
        const cache = this.#caches.get(resource);
        if (!cache) return [];
        return namespace === undefined
          ? [...cache.store.values()]
          : cache.byIndex(NAMESPACE_INDEX, namespace);
      },
      byIndex: (resource, index, value) => {
        // Checked here too: before its kind is served a cache is missing,
        // and a wrong name would read as "nothing there".
        if (
          index !== NAMESPACE_INDEX && !Object.hasOwn(this.#indexers.get(resource) ?? {}, index)
        ) {
          throw new Error(`${resource}: no index "${index}" is kept`);
        }
        return this.#caches.get(resource)?.byIndex(index, value) ?? [];
      },
      selecting: (resource, pod) => {
        const cache = this.#caches.get(resource);
        return cache ? this.#podSelector(resource).selecting(cache.store, pod) : [];
      },
      pod: (key) => pods.get(key),
      pods: (namespace) => pods.byIndex(NAMESPACE_INDEX, namespace),
      selectedPods: (resource, obj) => {
        const cache = this.#caches.get(resource);
        return cache ? this.#podSelector(resource).selectedPods(pods, cache.store, obj) : [];
      },
      create: async (resource, namespace, obj) => {
        const kind = this.#kind(resource);
        return await client.request<ExtensionObject>("POST", path(resource, namespace), {
          body: { apiVersion: kind.apiVersion, kind: kind.kind, ...obj },
        });
      },
      patch: async (resource, namespace, name, patch, subresource) => {
        const p = path(resource, namespace, name) + (subresource ? `/${subresource}` : "");
        await client.request("PATCH", p, { body: patch, contentType: MERGE_PATCH });
      },
      delete: async (resource, namespace, name) => {
        try {
          await client.request("DELETE", path(resource, namespace, name));
        } catch (err) {
          if (!(err instanceof KubeApiError && err.status === 404)) throw err;
        }
      },
      patchPod: async (namespace, name, patch) => {
        await client.request(
          "PATCH",
          `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`,
          { body: patch, contentType: MERGE_PATCH },
        );
      },
      event: async (resource, obj, type, reason, message) => {
        const kind = resource === "pods" ? { apiVersion: "v1", kind: "Pod" } : this.#kind(resource);
        await this.#options.events.record(
          {
            apiVersion: kind.apiVersion,
            kind: kind.kind,
            // A cluster-scoped object's Events live in "default", as kubectl looks for them.
            namespace: obj.metadata.namespace || "default",
            name: obj.metadata.name ?? "",
            uid: obj.metadata.uid,
          },
          type,
          reason,
          message,
        );
      },
      requeuePod: (key) => this.#options.requeuePod(key),
      listLive: async (resource) => {
        const list = await client.request<{ items: ExtensionObject[] }>(
          "GET",
          `${apiPath(this.#kind(resource).apiVersion)}/${resource}`,
        );
        return list.items;
      },
      warnings: async (resource, namespace, name) => {
        const kind = this.#kind(resource).kind;
        const list = await client.request<{
          items: {
            type?: string;
            reason?: string;
            message?: string;
            lastTimestamp?: string;
            eventTime?: string;
          }[];
        }>("GET", `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`, {
          query: { fieldSelector: `involvedObject.kind=${kind},involvedObject.name=${name}` },
        });
        const when = (e: { lastTimestamp?: string; eventTime?: string }) =>
          e.lastTimestamp ?? e.eventTime ?? "";
        return list.items.filter((e) => e.type === "Warning")
          .sort((a, b) => when(b).localeCompare(when(a)))
          .map((e) => ({ reason: e.reason ?? "", message: e.message ?? "" }));
      },
      enqueue: (controller, key) => {
        if (!this.#started || !controllers.has(controller)) return;
        this.#queues.get(controller)!.add(key);
      },
    };
  }
}
