/**
 * The one interface between the controller and a network type. A provider
 * is built by `main.ts` with whatever it needs (an allocator, a cloud
 * client, configured ranges); the controller then calls only these
 * methods, so adding a network type never touches the controller.
 *
 * @example
 * ```ts
 * const none: Provider = createNoneProvider();
 * const conf = none.parse(pod);
 * const outcome = await none.reconcile(pod, conf, ctx);
 * ```
 * @module
 */

import type { JsonPatchOp, Node, Outcome, OwnerReference, Pod } from "./types.ts";
import type { ProviderExtension } from "./extension.ts";
import type { ProviderView } from "./view.ts";

export type { ProviderView } from "./view.ts";

/** What a provider may read while admitting a Pod. */
export interface AdmitContext {
  /** The allocation key for this Pod (also written to the Pod as `gamenet.io/owner`). */
  owner: string;
  /**
   * `dryRun` admission: compute the patch, allocate nothing. Otherwise,
   * whatever is allocated under `owner` and never claimed by a Pod is given
   * back with {@linkcode Provider.release} a grace period after admission.
   */
  dryRun: boolean;
}

/** What a provider may read while reconciling a Pod. */
export interface ReconcileContext {
  /** The allocation key of the Pod (its `gamenet.io/owner`, else `namespace/name`). */
  owner: string;
  /** A Node from the cache. */
  node(name: string): Node | undefined;
  /**
   * Reconciles the Pod again soon: for a provider that finishes slow cloud
   * work in the background instead of holding a worker.
   */
  requeue?(): void;
}

/** What a provider may use in its periodic {@linkcode Provider.sweep}. */
export interface SweepContext {
  /**
   * Whether a Pod's controlling workload (StatefulSet, GameServerSet, ...)
   * still exists: `Fixed` allocations outlive their Pod, not their
   * workload. Answers `true` when the API server cannot tell.
   */
  workloadExists(namespace: string, ref: OwnerReference): Promise<boolean>;
  /** Reconciles a Pod again (what it holds changed underneath, e.g. in the cloud). */
  requeue(key: string): void;
}

/** The result of admission: a JSON patch to apply (may be empty) and warnings for the user. */
export interface AdmitResult {
  patch: JsonPatchOp[];
  warnings?: string[];
}

/** What a restore found wrong (reported, never hidden). */
export interface RestoreConflict {
  message: string;
}

/** A network type: see the module documentation. */
export interface Provider<Conf = unknown> {
  /** Canonical name, e.g. `Kubernetes-HostPort`. */
  readonly name: string;
  readonly aliases: readonly string[];
  /**
   * Parses and validates `network-conf` for this Pod.
   * @throws {ConfError} with a message for a person.
   */
  parse(pod: Pod): Conf;
  /** Admission: the patch for a Pod being created. May allocate under `ctx.owner`. */
  admit(pod: Pod, conf: Conf, ctx: AdmitContext): Promise<AdmitResult>;
  /** Level-based: bring the world to what the Pod asks for, report what is. */
  reconcile(pod: Pod, conf: Conf, ctx: ReconcileContext): Promise<Outcome>;
  /** The Pod is gone: give back what `owner` held. Idempotent. */
  release(owner: string): Promise<void>;
  /**
   * Start-up, before any allocation: rebuild state from this type's live
   * Pods. Returns conflicts (two Pods claiming one port) for the caller to
   * report.
   */
  restore?(
    pods: { pod: Pod; owner: string }[],
    ctx: Omit<ReconcileContext, "owner">,
  ): RestoreConflict[] | Promise<RestoreConflict[]>;
  /**
   * The leader's periodic look at what the provider holds outside the
   * cluster (cloud listeners): deletes what no Pod needs any more, repairs
   * what drifted. Runs every {@linkcode Provider.sweepEveryMs}, never twice
   * at once.
   */
  sweep?(ctx: SweepContext): Promise<void>;
  /** @default {60_000} */
  readonly sweepEveryMs?: number;
  /**
   * Every Pod of any type (or none), and `undefined` when one is gone: for
   * providers that must know about resources other Pods hold (host ports
   * of Pods gamenet does not manage). Called before `restore` for the
   * Pods present at start-up, then on every change.
   */
  observe?(key: string, pod: Pod | undefined): void;
  /** A Node appeared (`present`) or went; called for every cached Node before `restore`. */
  observeNode?(name: string, present: boolean): void;
  /** The allocator's state, for `/allocations`; cheap enough to call per request. */
  view?(): ProviderView;
  /** Kinds and controllers of the provider's own (CRDs), run by the core. */
  readonly extension?: ProviderExtension;
  /**
   * Further extensions, each watched and synced on its own: one whose
   * CRDs are not installed does not hold the others back.
   */
  readonly extensions?: readonly ProviderExtension[];
}
