/**
 * The Pod reconciler and admission handler, generic over network types.
 * `reconcile(key)` is level-based: it reads the Pod from the cache, asks
 * its provider to bring the world in line, and writes the NetworkStatus
 * (Pod annotation, OpenKruiseGame and Agones GameServers) only where it
 * differs. Users' mistakes become a Warning Event and a NotReady status.
 *
 * @example
 * ```ts
 * const pods = new PodController({ registry, cache, writer, events });
 * queue = new WorkQueue((key) => pods.reconcile(key));
 * ```
 * @module
 */

import type { Result } from "../providers/result.ts";
import type { EventRecorder, ObjectRef } from "./event_recorder.ts";
import {
  AGONES_GAMESERVER_LABEL,
  type AgonesGameServer,
  type KruiseGameServer,
  type StatusWriter,
} from "./status_writer.ts";
import { KubeApiError } from "./kube_client.ts";
import { podFinished, readPodStatus } from "../providers/pod_status.ts";
import { waitingReport } from "../providers/network_report.ts";
import type { ProviderRegistry } from "../providers/registry.ts";
import { type Admission, AdmissionLedger } from "./admission_ledger.ts";
import type { Provider } from "../providers/provider.ts";
import type { TrackedPod } from "./allocations_view.ts";
import {
  ConfError,
  type JsonPatchOp,
  NETWORK_DISABLED_LABEL,
  NETWORK_STATUS_ANNOTATION,
  NETWORK_TYPE_ANNOTATION,
  type NetworkReport,
  type NetworkStatus,
  type Node,
  type Outcome,
  OWNER_ANNOTATION,
  type Pod,
} from "../providers/types.ts";

/** Read access to the caches the controller needs. */
export interface PodControllerCache {
  pod(key: string): Pod | undefined;
  node(name: string): Node | undefined;
  kruiseGameServer?(key: string): KruiseGameServer | undefined;
  agonesGameServer?(key: string): AgonesGameServer | undefined;
}

/** Hooks for metrics; all optional. */
export interface PodControllerMetrics {
  reconciled?(result: string, seconds: number): void;
  error?(kind: string): void;
  /** An admitted Pod named a network type no provider has (a typo, or another controller's). */
  unknownNetworkType?(): void;
  /** An Event was dropped: its object's spam filter had no token, or the queue was full. */
  eventDropped?(why: "spam" | "queue-full"): void;
}

/** Dependencies of {@linkcode PodController}. */
export interface PodControllerOptions {
  registry: ProviderRegistry;
  cache: PodControllerCache;
  writer: StatusWriter;
  events: EventRecorder;
  metrics?: PodControllerMetrics;
  /** @default {console.error} */
  log?: (message: string) => void;
  /** @default {() => new Date()} */
  now?: () => Date;
  /** Reconciles a key again (a provider's background work finished). @default {() => {}} */
  requeue?: (key: string) => void;
  /**
   * A provider's reconcile still running after this goes on in the
   * background and the key comes back when it ends (`Infinity`: the worker
   * waits). @default {50}
   */
  backgroundAfterMs?: number;
}

/** A provider's reconcile still running after this goes on in the background. */
export const BACKGROUND_AFTER_MS = 50;
/** A Pod whose reconcile goes on in the background is looked at again after this at the latest. */
const BACKGROUND_CHECK_MS = 30_000;
/** A Pod whose reconcile found a conf error late is looked at again this often. */
const CONF_ERROR_RECHECK_MS = 30_000;

/** An admission request, as far as the controller reads it. */
export interface PodAdmission {
  uid: string;
  namespace: string;
  dryRun?: boolean;
  pod: Pod;
}

/** An admission answer. */
export type PodAdmissionResult =
  | { allowed: true; patch: JsonPatchOp[]; warnings?: string[] }
  | { allowed: false; code: number; message: string };

interface Tracked {
  provider: Provider;
  owner: string;
}

function escapePointer(s: string): string {
  return s.replace(/~/g, "~0").replace(/\//g, "~1");
}

function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The allocation key of a live Pod. */
export function ownerOf(key: string, pod: Pod): string {
  return pod.metadata.annotations?.[OWNER_ANNOTATION] ?? key;
}

/** The reconciler: see the module documentation. */
export class PodController {
  readonly #options: Required<Omit<PodControllerOptions, "metrics">> & {
    metrics: PodControllerMetrics;
  };
  /** Pods a provider holds something for: released when they go. */
  readonly #tracked = new Map<string, Tracked>();
  /** Admissions whose Pod has not been seen yet. */
  readonly #admissions = new AdmissionLedger();
  /** Provider reconciles going on in the background, by Pod key. */
  readonly #running = new Map<string, Promise<Outcome>>();
  /** How those ended, until the key's next reconcile reads it. */
  readonly #ended = new Map<string, Outcome>();
  /**
   * The status last written to a Pod and the Pod's version after the
   * write: until the cache shows that version (or a later one), it does
   * not hold the write, and a reconcile meanwhile (an owned object's event,
   * the kubelet's update) compares against this instead of writing the
   * status again with a new createTime.
   */
  readonly #written = new Map<string, { version: string; status: NetworkStatus }>();

  constructor(options: PodControllerOptions) {
    this.#options = {
      log: (m) => console.error(m),
      now: () => new Date(),
      requeue: () => {},
      backgroundAfterMs: BACKGROUND_AFTER_MS,
      metrics: {},
      ...options,
    };
  }

  /**
   * Pods currently tracked (managed by some provider), live: not a copy,
   * as `/allocations` and every scrape read it whole.
   */
  get tracked(): ReadonlyMap<string, TrackedPod> {
    return this.#tracked;
  }

  /** Marks a Pod found at start-up as held by `provider` under `owner`. */
  adopt(key: string, provider: Provider, owner: string): void {
    this.#tracked.set(key, { provider, owner });
  }

  /** The admission of `owner` while its Pod has not been seen (for `/allocations`). */
  admission(owner: string): Admission | undefined {
    return this.#admissions.get(owner);
  }

  /**
   * Gives back what was allocated at admissions made `graceMs` ago or
   * earlier whose Pod never appeared (`isLive` denies their owner: asked
   * only about admissions that old). Returns their owners.
   */
  async releaseUnclaimedAdmissions(
    graceMs: number,
    isLive: (owner: string) => boolean,
  ): Promise<string[]> {
    if (this.#admissions.size === 0) return [];
    const due = this.#admissions.takeDue(this.#options.now().getTime() - graceMs, isLive);
    for (const [owner, { type }] of due) await this.#options.registry.get(type)?.release(owner);
    return due.map(([owner]) => owner);
  }

  /** Admission of a Pod being created. Never throws. */
  async admit(req: PodAdmission): Promise<PodAdmissionResult> {
    const pod = req.pod;
    pod.metadata.namespace ??= req.namespace;
    const type = pod.metadata.annotations?.[NETWORK_TYPE_ANNOTATION];
    const provider = this.#options.registry.get(type);
    if (!provider) {
      if (type === undefined) return { allowed: true, patch: [] };
      this.#options.metrics.unknownNetworkType?.();
      return { allowed: true, patch: [], warnings: [this.#unknownTypeWarning(type)] };
    }
    let conf: unknown;
    try {
      conf = provider.parse(pod);
    } catch (err) {
      if (err instanceof ConfError) return { allowed: false, code: 422, message: err.message };
      throw err;
    }
    // A reinvoked admission already carries the owner it was given.
    const existing = pod.metadata.annotations?.[OWNER_ANNOTATION];
    const owner = existing ?? `admission/${req.uid}`;
    const dryRun = req.dryRun ?? false;
    const at = this.#options.now().getTime();
    try {
      const result = await provider.admit(pod, conf, { owner, dryRun });
      if (!dryRun && !existing) {
        const { name, generateName } = pod.metadata;
        this.#admissions.record(owner, {
          namespace: pod.metadata.namespace ?? req.namespace,
          pod: name || `${generateName ?? ""}*`,
          type: provider.name,
          at,
        });
      }
      const patch: JsonPatchOp[] = existing ? [] : [{
        op: "add",
        path: `/metadata/annotations/${escapePointer(OWNER_ANNOTATION)}`,
        value: owner,
      }];
      // The first status goes in with the Pod itself, as OpenKruiseGame's
      // webhook writes it: one PATCH per Pod fewer in a burst, and kubectl
      // shows Waiting from the start. Another writer's status is left.
      if (!existing && readPodStatus(pod) === undefined) {
        patch.push({
          op: "add",
          path: `/metadata/annotations/${escapePointer(NETWORK_STATUS_ANNOTATION)}`,
          value: JSON.stringify(networkStatus(pod, waitingReport(pod), undefined, new Date(at))),
        });
      }
      const warnings = [...(result.warnings ?? [])];
      if (
        pod.metadata.annotations?.[NETWORK_DISABLED_LABEL] !== undefined &&
        pod.metadata.labels?.[NETWORK_DISABLED_LABEL] === undefined
      ) {
        warnings.push(
          `${NETWORK_DISABLED_LABEL} is read from the Pod's labels, not its annotations ` +
            `(as OpenKruiseGame does): this one has no effect`,
        );
      }
      return {
        allowed: true,
        patch: [...patch, ...result.patch],
        warnings: warnings.length > 0 ? warnings : undefined,
      };
    } catch (err) {
      if (err instanceof ConfError) return { allowed: false, code: 422, message: err.message };
      this.#options.metrics.error?.("admission");
      return {
        allowed: false,
        code: 500,
        message: `gamenet could not admit the Pod: ${(err as Error).message}`,
      };
    }
  }

  /** Level-based reconcile of one Pod key. */
  async reconcile(key: string): Promise<Result> {
    const started = performance.now();
    let result = "done";
    try {
      const handled = await this.#reconcile(key);
      if (handled.retry) result = "retry";
      else if (handled.requeueAfterMs !== undefined) result = "requeue";
      return handled;
    } catch (err) {
      result = "error";
      this.#options.metrics.error?.(
        err instanceof KubeApiError ? `api_${err.status}` : "reconcile",
      );
      throw err;
    } finally {
      this.#options.metrics.reconciled?.(result, (performance.now() - started) / 1000);
    }
  }

  async #reconcile(key: string): Promise<Result> {
    const pod = this.#options.cache.pod(key);
    const tracked = this.#tracked.get(key);
    const provider = pod
      ? this.#options.registry.get(pod.metadata.annotations?.[NETWORK_TYPE_ANNOTATION])
      : undefined;
    const gone = podFinished(pod);
    // A Pod re-created under the same name (StatefulSet) between two
    // reconciles has a new owner: the old one's holding is given back first.
    const replaced = !gone && tracked !== undefined && tracked.owner !== ownerOf(key, pod!);
    const written = this.#written.get(key);
    if (written && (gone || !behind(pod!.metadata.resourceVersion, written.version))) {
      this.#written.delete(key);
    }
    if (gone || !provider || (tracked && tracked.provider !== provider) || replaced) {
      if (tracked) {
        // What the last reconcile still does lands before it is undone.
        await this.#running.get(key)?.catch(() => {});
        this.#ended.delete(key);
        await tracked.provider.release(tracked.owner);
        this.#tracked.delete(key);
      }
      if (gone || !provider) return {};
    }
    const owner = ownerOf(key, pod!);
    const ref = podObjectRef(pod!);
    let conf: unknown;
    try {
      conf = provider.parse(pod!);
    } catch (err) {
      if (!(err instanceof ConfError)) throw err;
      await this.#options.events.warning(ref, err.reason, err.message);
      await this.#writeStatus(key, pod!, notReady());
      return {};
    }
    this.#tracked.set(key, { provider, owner });
    this.#admissions.seen(owner);
    if (this.#running.has(key)) return { requeueAfterMs: BACKGROUND_CHECK_MS };
    let outcome = this.#ended.get(key);
    this.#ended.delete(key);
    // A reconcile that ended in the background: its failure is the answer
    // once, so that the queue's backoff applies; success is looked at anew.
    if (!outcome || outcome.kind === "done") {
      const work = provider.reconcile(pod!, conf, {
        owner,
        node: (name) => this.#options.cache.node(name),
        requeue: () => this.#options.requeue(key),
      }).catch((err): Outcome => {
        // Found late, for a person to fix (an object of someone else's in
        // the way): an Event and NotReady, looked at again now and then.
        if (!(err instanceof ConfError)) throw err;
        return {
          kind: "failed",
          error: err,
          report: { ...waitingReport(pod!), currentNetworkState: "NotReady" },
          requeueAfterMs: CONF_ERROR_RECHECK_MS,
        };
      });
      outcome = await this.#within(work, this.#options.backgroundAfterMs);
      if (!outcome) {
        // Slow cloud work (tasks, batches shared with other Pods): the
        // worker moves on, and the Pod comes back when the work ends.
        this.#running.set(key, work);
        work.then(
          (ended) => this.#ended.set(key, ended),
          (err) => this.#ended.set(key, { kind: "retry", error: err as Error }),
        ).finally(() => {
          this.#running.delete(key);
          this.#options.requeue(key);
        });
        // A Ready Pod stays Ready while its network is checked or repaired
        // (a restart reads the cloud again): only a new Pod shows Waiting.
        if (readPodStatus(pod!)?.currentNetworkState !== "Ready") {
          await this.#writeStatus(key, pod!, waitingReport(pod!));
        }
        return { requeueAfterMs: BACKGROUND_CHECK_MS };
      }
    }
    switch (outcome.kind) {
      case "done":
        await this.#writeStatus(key, pod!, outcome.report);
        return {};
      case "failed":
        await this.#options.events.warning(ref, outcome.error.reason, outcome.error.message);
        await this.#writeStatus(key, pod!, outcome.report);
        return outcome.requeueAfterMs === undefined
          ? {}
          : { requeueAfterMs: outcome.requeueAfterMs };
      case "requeueAfter":
        if (outcome.report) await this.#writeStatus(key, pod!, outcome.report);
        return { requeueAfterMs: outcome.ms };
      case "retry":
        this.#options.log(`Pod ${key}: ${outcome.error.message}`);
        if (outcome.report) await this.#writeStatus(key, pod!, outcome.report);
        return { retry: true };
    }
  }

  /** `work`'s outcome if it ends within `ms`, else undefined (`Infinity`: wait for it). */
  async #within(work: Promise<Outcome>, ms: number): Promise<Outcome | undefined> {
    if (!Number.isFinite(ms)) return await work;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        work,
        new Promise<undefined>((resolve) => timer = setTimeout(() => resolve(undefined), ms)),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * What kubectl prints for a network type no provider has: the closest
   * known name, and that the Pod is left to other controllers. Short: the
   * API server may cut warnings beyond 256 characters.
   */
  #unknownTypeWarning(type: string): string {
    const registry = this.#options.registry;
    const closest = registry.closest(type);
    const known = registry.all.map((p) => p.name).join(", ");
    return `${NETWORK_TYPE_ANNOTATION} "${type}" is not a type gamenet knows` +
      (closest ? ` (did you mean "${closest}"?)` : "") +
      `; the Pod is left to other controllers. Known: ${known}`;
  }

  async #writeStatus(key: string, pod: Pod, report: NetworkReport): Promise<void> {
    const written = this.#written.get(key);
    const cacheBehind = written !== undefined &&
      behind(pod.metadata.resourceVersion, written.version);
    const previous = cacheBehind ? written.status : readPodStatus(pod);
    const status = networkStatus(pod, report, previous, this.#options.now());
    try {
      const version = await this.#options.writer.writePod(pod, status, previous);
      if (version !== false) this.#written.set(key, { version, status });
    } catch (err) {
      // 409: the Pod with this name has another UID now; the new one gets its own reconcile.
      // 404: gone meanwhile; its delete event releases what it held.
      if (err instanceof KubeApiError && (err.status === 404 || err.status === 409)) return;
      throw err;
    }
    const kgs = this.#options.cache.kruiseGameServer?.(key);
    if (kgs) await this.#options.writer.writeKruiseGameServer(kgs, status);
    const agonesName = pod.metadata.labels?.[AGONES_GAMESERVER_LABEL];
    if (agonesName) {
      const ags = this.#options.cache.agonesGameServer?.(`${pod.metadata.namespace}/${agonesName}`);
      if (ags) await this.#options.writer.writeAgonesGameServer(ags, status);
    }
  }
}

/** The status `report` makes of `previous` at `now`: times move only when the state does. */
function networkStatus(
  pod: Pod,
  report: NetworkReport,
  previous: NetworkStatus | undefined,
  now: Date,
): NetworkStatus {
  const at = rfc3339(now);
  return {
    networkType: pod.metadata.annotations?.[NETWORK_TYPE_ANNOTATION] ?? "",
    currentNetworkState: report.currentNetworkState,
    desiredNetworkState: report.desiredNetworkState,
    createTime: previous?.createTime ?? at,
    lastTransitionTime: previous && previous.currentNetworkState === report.currentNetworkState
      ? previous.lastTransitionTime
      : at,
    internalAddresses: report.internalAddresses,
    externalAddresses: report.externalAddresses,
  };
}

/**
 * Whether a cached Pod at version `cached` predates the version `written`
 * gamenet's write produced. Versions are etcd's revisions, which only
 * grow; one that is not a number (another store) never counts as behind.
 */
function behind(cached: string | undefined, written: string): boolean {
  if (cached === undefined) return true;
  if (!/^\d+$/.test(cached) || !/^\d+$/.test(written)) return false;
  return BigInt(cached) < BigInt(written);
}

function notReady(): NetworkReport {
  return {
    currentNetworkState: "NotReady",
    desiredNetworkState: "Ready",
    internalAddresses: [],
    externalAddresses: [],
  };
}

/** The Event target for a Pod. */
export function podObjectRef(pod: Pod): ObjectRef {
  return {
    apiVersion: "v1",
    kind: "Pod",
    namespace: pod.metadata.namespace ?? "default",
    name: pod.metadata.name ?? "",
    uid: pod.metadata.uid,
  };
}
