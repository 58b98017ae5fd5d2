/**
 * What a provider may bring besides a network type: kinds of its own
 * (CRDs) and controllers that reconcile them. The core lends them its
 * watch, cache, queue and status machinery (see
 * `controller/extension_runner.ts`) and never names a network type; the
 * Tencent provider's `DedicatedCLBService` / `DedicatedCLBListener` are
 * the first.
 *
 * @example
 * ```ts
 * const extension: ProviderExtension = {
 *   kinds: [{ apiVersion: "example.com/v1", resource: "widgets", kind: "Widget" }],
 *   controllers: [{ name: "widgets", resource: "widgets", reconcile: () => Promise.resolve({}) }],
 * };
 * ```
 * @module
 */

import type { Pod } from "./types.ts";
import type { Result } from "./result.ts";

/**
 * The index every extension kind's cache keeps of its objects' owners
 * (the UIDs in `metadata.ownerReferences`).
 *
 * @example
 * ```ts
 * const children = ctx.byIndex("dedicatedclblisteners", OWNER_INDEX, service.metadata.uid!);
 * ```
 */
export const OWNER_INDEX = "owner";

/** A kind served by the API server (a CRD), namespaced unless it says otherwise. */
export interface ExtensionKind {
  /** e.g. `networking.cloud.tencent.com/v1alpha1`. */
  apiVersion: string;
  /** Plural, e.g. `dedicatedclblisteners`. */
  resource: string;
  kind: string;
  /**
   * Indexes the kind's cache keeps besides namespace and
   * {@linkcode OWNER_INDEX}, by name: the values an object is found under
   * with `ctx.byIndex`, kept up to date on every change.
   */
  indexes?: Record<string, (obj: ExtensionObject) => string[]>;
  /**
   * For a kind that selects Pods of its namespace by labels (equality, as
   * a Service's `spec.selector`): where the selector is. The cache then
   * keeps a reverse index, so `ctx.selecting` finds the objects selecting
   * a Pod without reading them all. An empty selector selects nothing.
   */
  podSelector?(obj: ExtensionObject): Record<string, string> | undefined;
  /**
   * Only objects with these labels are watched and cached (a label
   * selector, e.g. `app.kubernetes.io/managed-by=gamenet`): for kinds
   * gamenet owns a few of among many, such as Services. @default {undefined}
   */
  labelSelector?: string;
  /**
   * The kind's objects have no namespace (`CLBPortPool`): their cache key
   * is the bare name, and `ctx` calls take `""` as namespace. @default {false}
   */
  clusterScoped?: boolean;
}

/** An object of an extension kind, as far as the core knows it. */
export interface ExtensionObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    deletionTimestamp?: string;
    ownerReferences?: {
      apiVersion: string;
      kind: string;
      name: string;
      uid: string;
      controller?: boolean;
      blockOwnerDeletion?: boolean;
    }[];
  };
  // deno-lint-ignore no-explicit-any
  spec?: any;
  // deno-lint-ignore no-explicit-any
  status?: any;
}

/** What an extension controller may read and write. */
export interface ExtensionContext {
  /** From the cache: an object of `resource` by `namespace/name`. */
  get(resource: string, key: string): ExtensionObject | undefined;
  /** From the cache: every object of `resource` (in `namespace`). */
  list(resource: string, namespace?: string): ExtensionObject[];
  /**
   * From the cache, through an index: the objects of `resource` found
   * under `value` in {@linkcode OWNER_INDEX} or an index its kind declares.
   */
  byIndex(resource: string, index: string, value: string): ExtensionObject[];
  /** From the cache: the objects of `resource` (a kind with a `podSelector`) selecting `pod`. */
  selecting(resource: string, pod: Pod): ExtensionObject[];
  /** From the cache. */
  pod(key: string): Pod | undefined;
  pods(namespace: string): Pod[];
  /**
   * From the cache: the Pods of `obj`'s namespace that its `podSelector`
   * selects (`resource` is a kind with one; an empty selector selects none).
   */
  selectedPods(resource: string, obj: ExtensionObject): Pod[];
  create(resource: string, namespace: string, obj: ExtensionObject): Promise<ExtensionObject>;
  /** A JSON merge patch, on the object or its `status` subresource. */
  patch(
    resource: string,
    namespace: string,
    name: string,
    patch: unknown,
    subresource?: "status",
  ): Promise<void>;
  /** Deleting what is already gone is success. */
  delete(resource: string, namespace: string, name: string): Promise<void>;
  /** A JSON merge patch on a Pod (annotations). */
  patchPod(namespace: string, name: string, patch: unknown): Promise<void>;
  /** An Event on an object of `resource` (`"pods"` for a Pod). */
  event(
    resource: string,
    obj: ExtensionObject | Pod,
    type: "Normal" | "Warning",
    reason: string,
    message: string,
  ): Promise<void>;
  /** Queues a key of a controller (its own or another's). */
  enqueue(controller: string, key: string): void;
  /** Reconciles a Pod (`namespace/name`) again: an object it depends on changed. */
  requeuePod(key: string): void;
  /**
   * From the API server (not cached: a periodic look at objects gamenet
   * does not watch): every object of `resource` in every namespace.
   */
  listLive(resource: string): Promise<ExtensionObject[]>;
  /**
   * From the API server (not cached: read when something is wrong): the
   * Warning Events about an object of `resource`, newest first — what
   * another controller (a cloud's CCM) said about it.
   */
  warnings(
    resource: string,
    namespace: string,
    name: string,
  ): Promise<{ reason: string; message: string }[]>;
}

/** A controller of one extension kind. */
export interface ExtensionController {
  /** Unique, used by `enqueue`. */
  readonly name: string;
  /** The resource whose `namespace/name` keys it reconciles. */
  readonly resource: string;
  /** Keys concerned by a change of a Pod (or its deletion: `pod` is the last state). */
  keysForPod?(pod: Pod, ctx: ExtensionContext): string[];
  /** Keys concerned by a change of an object of another watched resource. */
  keysFor?(resource: string, obj: ExtensionObject, ctx: ExtensionContext): string[];
  /**
   * Reconciles at once, when more than the runner's default: for a
   * controller whose reconciles mostly wait for a cloud whose calls they
   * share (more in flight, fuller batches). @default {the runner's}
   */
  readonly workers?: number;
  /** Level-based: read the object from the cache, make the world match, write status. */
  reconcile(key: string, ctx: ExtensionContext): Promise<Result>;
}

/** What a provider brings besides its network type. */
export interface ProviderExtension {
  kinds: ExtensionKind[];
  controllers: ExtensionController[];
  /**
   * Once the kinds' caches are synced and this replica leads, before any
   * reconcile: rebuild allocations from the objects.
   */
  restore?(ctx: ExtensionContext): Promise<void>;
  /**
   * The leader's periodic look outside the cluster (cloud resources whose
   * object is gone); never two at once.
   */
  sweep?(ctx: ExtensionContext): Promise<void>;
  /** @default {60_000} */
  sweepEveryMs?: number;
}
