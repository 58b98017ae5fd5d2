/**
 * Runs the controller in the order that keeps allocations safe:
 * caches synced → leadership won → allocator restored from every live Pod
 * → ready (webhook answers, `/readyz` 200) → workers reconcile. A follower
 * keeps its caches warm but allocates nothing and is not ready; a leader
 * that loses its Lease stops allocating at once and calls
 * `onLostLeadership` (the binary exits, as controller-runtime does, so the
 * next start is a clean follower).
 *
 * @example
 * ```ts
 * const manager = new Manager({ client, registry, settings, onLostLeadership: () => Deno.exit(1) });
 * await manager.start();
 * ```
 * @module
 */

import type { KubeClient } from "./kube_client.ts";
import { type KubeObject, objectKey, Reflector } from "./reflector.ts";
import { Controller } from "./controller.ts";
import { Periodic } from "./periodic.ts";
import { ServedKinds } from "./served_kinds.ts";
import { LeaderElector } from "./leader_elector.ts";
import { EventRecorder } from "./event_recorder.ts";
import { type RecentEvent, RecentEvents } from "./recent_events.ts";
import { StatusWriter } from "./status_writer.ts";
import {
  AGONES_GAMESERVER_LABEL,
  type AgonesGameServer,
  type KruiseGameServer,
} from "./status_writer.ts";
import {
  ownerOf,
  type PodAdmission,
  type PodAdmissionResult,
  PodController,
  type PodControllerMetrics,
} from "./pod_controller.ts";
import type { ProviderRegistry } from "../providers/registry.ts";
import type { AllocationCounts, AllocationsView, GameServerCount } from "../providers/view.ts";
import { buildAllocationsView, countAllocations } from "./allocations_view.ts";
import { countGameServers } from "./game_server_counts.ts";
import { WorkloadLookup } from "./workload_lookup.ts";
import { podFinished } from "../providers/pod_status.ts";
import { done } from "../providers/result.ts";
import { ExtensionRunner } from "./extension_runner.ts";
import {
  NETWORK_CONF_ANNOTATION,
  NETWORK_TYPE_ANNOTATION,
  type Node,
  type Pod,
} from "../providers/types.ts";
import { Interner } from "./interner.ts";

/** Settings of {@linkcode Manager} (see `controller/config.ts` for their defaults). */
export interface ManagerSettings {
  workers: number;
  resyncMs: number;
  admissionGraceMs: number;
  leaderElect: boolean;
  namespace: string;
  leaseName: string;
  identity: string;
}

/** Metrics hooks, all optional (those of {@linkcode PodControllerMetrics}). */
export type ManagerMetrics = PodControllerMetrics;

/** Options of {@linkcode Manager}. */
export interface ManagerOptions {
  client: KubeClient;
  registry: ProviderRegistry;
  settings: ManagerSettings;
  metrics?: ManagerMetrics;
  /** Called when a leader loses its Lease. @default {() => {}} */
  onLostLeadership?: () => void;
  /** @default {console.error} */
  log?: (message: string) => void;
  /**
   * Every allowed admission and every reconcile started, one line each
   * with the Pod's key: what a replica did and when, for an audit of a
   * hand-over. @default {() => {}}
   */
  debug?: (message: string) => void;
}

/** Readiness, with the reason when not ready. */
export interface Readiness {
  ready: boolean;
  reason: string;
}

const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";
const DISCOVERY_RETRY_MS = 60_000;
const KRUISE_GAMESERVERS = { apiVersion: "game.kruise.io/v1alpha1", resource: "gameservers" };
const AGONES_GAMESERVERS = { apiVersion: "agones.dev/v1", resource: "gameservers" };
/** Pods by `spec.nodeName`. */
const NODE_INDEX = "node";
/** Pods by `namespace/name` of the Agones GameServer that made them. */
const AGONES_GAMESERVER_INDEX = "agones-gameserver";
/** The GameServer kinds whose status (or annotation) carries a Pod's network status. */
const GAMESERVER_KINDS = [KRUISE_GAMESERVERS, AGONES_GAMESERVERS];
/**
 * How often admissions past their grace are looked for: an unclaimed
 * allocation goes back within this much of admission time + grace.
 */
const ADMISSION_CHECK_EVERY_MS = 1_000;
/** A provider's cloud sweep, when it names no interval. */
const PROVIDER_SWEEP_EVERY_MS = 60_000;
/**
 * A view built this recently, with nothing changed since, serves the next
 * reader too: a page and its stream's first snapshot, a burst of `curl`s,
 * need one build, not one each (about 0.1-0.3 s at 20,000 game servers).
 * Short, as time alone frees ports held back by the reuse delay.
 */
const VIEW_REUSE_MS = 1_000;

/** Node names and IPs, pools' `network-conf` and `network-type`: shared by many cached Pods. */
const sharedValues = new Interner<string>();
/** Pods' containers (names and ports), keyed by their JSON: a template's are all alike. */
const sharedContainers = new Interner<NonNullable<Pod["spec"]>["containers"]>({
  maxSize: 10_000,
});

/**
 * Keeps only what gamenet reads of a Pod: thousands of Pods stay small in
 * memory. Every annotation stays (a provider may read one the user names,
 * as DedicatedCLB's `addressPodAnnotation`), but values many Pods share —
 * their node's name and IP, their pool's `network-conf` and
 * `network-type`, their containers' ports — are kept once for all of them
 * (about a quarter of a cached Pod's heap at 24,000 Pods): the cache's Pods
 * are read, never changed, and their shared containers are frozen so that
 * a change would throw rather than reach other Pods.
 */
export function slimPod(pod: Pod): Pod {
  const m = pod.metadata;
  let annotations: Record<string, string> | undefined;
  if (m.annotations) {
    annotations = {};
    for (const [key, value] of Object.entries(m.annotations)) {
      if (key === LAST_APPLIED) continue;
      annotations[key] = key === NETWORK_CONF_ANNOTATION || key === NETWORK_TYPE_ANNOTATION
        ? sharedValues.get(value)
        : value;
    }
  }
  const status = pod.status;
  const podIP = status?.podIP;
  const podIPs = status?.podIPs;
  return {
    metadata: {
      name: m.name,
      namespace: m.namespace,
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      creationTimestamp: m.creationTimestamp,
      deletionTimestamp: m.deletionTimestamp,
      labels: m.labels,
      annotations,
      ownerReferences: m.ownerReferences,
    },
    spec: pod.spec && {
      nodeName: pod.spec.nodeName === undefined ? undefined : sharedValues.get(pod.spec.nodeName),
      hostNetwork: pod.spec.hostNetwork,
      containers: containersOf(pod.spec.containers),
    },
    status: status && {
      phase: status.phase,
      podIP,
      // The one IP is the Pod's IP again: one string for both.
      podIPs: podIPs?.length === 1 && podIPs[0].ip === podIP ? [{ ip: podIP }] : podIPs,
      hostIP: status.hostIP === undefined ? undefined : sharedValues.get(status.hostIP),
    },
  };
}

/** The containers' names and ports, one frozen copy for all Pods with the same. */
function containersOf(
  containers: NonNullable<Pod["spec"]>["containers"],
): NonNullable<Pod["spec"]>["containers"] {
  const slim = containers.map((c) => ({ name: c.name, ports: c.ports }));
  const kept = sharedContainers.get(JSON.stringify(slim), slim);
  if (kept === slim) deepFreeze(slim);
  return kept;
}

function deepFreeze(value: unknown): void {
  if (value === null || typeof value !== "object" || Object.isFrozen(value)) return;
  for (const v of Object.values(value)) deepFreeze(v);
  Object.freeze(value);
}

function slimNode(node: Node): Node {
  return {
    metadata: {
      name: node.metadata.name,
      uid: node.metadata.uid,
      resourceVersion: node.metadata.resourceVersion,
      labels: node.metadata.labels,
    },
    status: { addresses: node.status?.addresses },
  };
}

type Phase = "starting" | "syncing" | "following" | "restoring" | "ready" | "stopped";

/** The manager: see the module documentation. */
export class Manager {
  readonly #options: Required<Omit<ManagerOptions, "metrics">> & { metrics: ManagerMetrics };
  readonly pods: Reflector<Pod & KubeObject>;
  readonly nodes: Reflector<Node & KubeObject>;
  #kruise?: Reflector<KruiseGameServer & KubeObject>;
  #agones?: Reflector<AgonesGameServer & KubeObject>;
  readonly controller: PodController;
  /** Runs `controller.reconcile` for Pod keys. */
  readonly queue: Controller;
  readonly events: EventRecorder;
  /** What gamenet said about each Pod lately, for `/ui` and the rows' `reason`. */
  readonly recent: RecentEvents = new RecentEvents();
  #elector?: LeaderElector;
  #phase: Phase = "starting";
  /** Moves whenever what {@linkcode allocations} shows may have changed. */
  #changes = 0;
  #lastView?: { view: AllocationsView; changes: number; at: number };
  #restoreConflicts: readonly { message: string }[] = [];
  #stopped = false;
  #periodics: Periodic[] = [];
  #served: ServedKinds;
  /** Providers' own kinds and controllers (CRDs). */
  readonly #extensions: ExtensionRunner[] = [];

  constructor(options: ManagerOptions) {
    this.#options = {
      onLostLeadership: () => {},
      log: (m) => console.error(m),
      debug: () => {},
      metrics: {},
      ...options,
    };
    const { client, log } = this.#options;
    this.events = new EventRecorder(client, {
      instance: options.settings.identity,
      log,
      onRecord: (ref, event) => this.recent.remember(ref, event),
      onDrop: (why) => this.#options.metrics.eventDropped?.(why),
    });
    this.pods = new Reflector<Pod & KubeObject>(client, {
      path: "/api/v1/pods",
      transform: slimPod as (p: Pod & KubeObject) => Pod & KubeObject,
      log,
      // A node's change and an Agones GameServer's event find their Pods here, not by a scan.
      indexers: {
        [NODE_INDEX]: (pod) => pod.spec?.nodeName ? [pod.spec.nodeName] : [],
        [AGONES_GAMESERVER_INDEX]: (pod) => {
          const gs = pod.metadata.labels?.[AGONES_GAMESERVER_LABEL];
          return gs ? [`${pod.metadata.namespace}/${gs}`] : [];
        },
      },
    }, {
      onAdd: (pod) => this.#podChanged(objectKey(pod), pod),
      onUpdate: (_old, pod) => this.#podChanged(objectKey(pod), pod),
      onDelete: (pod) => {
        this.#podChanged(objectKey(pod), undefined);
        this.recent.forget(pod.metadata.namespace ?? "", pod.metadata.name ?? "");
        for (const runner of this.#extensions) runner.podChanged(pod);
      },
    });
    this.nodes = new Reflector<Node & KubeObject>(client, {
      path: "/api/v1/nodes",
      transform: slimNode as (n: Node & KubeObject) => Node & KubeObject,
      log,
    }, {
      onAdd: (node) => this.#nodeChanged(node.metadata.name, true),
      onDelete: (node) => this.#nodeChanged(node.metadata.name, false),
      // A node's address change moves every host-port address on it.
      onUpdate: (old, node) => {
        if (JSON.stringify(old.status?.addresses) !== JSON.stringify(node.status?.addresses)) {
          this.#enqueuePodsOn(node.metadata.name);
        }
      },
    });
    this.controller = new PodController({
      registry: options.registry,
      writer: new StatusWriter(client),
      events: this.events,
      metrics: this.#options.metrics,
      log,
      requeue: (key) => this.#enqueueIfReady(key),
      cache: {
        pod: (key) => this.pods.get(key),
        node: (name) => this.nodes.get(name),
        kruiseGameServer: (key) => this.#kruise?.get(key),
        agonesGameServer: (key) => this.#agones?.get(key),
      },
    });
    for (const provider of options.registry.all) {
      for (const extension of [provider.extension ?? [], provider.extensions ?? []].flat()) {
        this.#extensions.push(
          new ExtensionRunner({
            client,
            extension,
            events: this.events,
            pods: this.pods,
            requeuePod: (key) => this.#enqueueIfReady(key),
            log,
          }),
        );
      }
    }
    this.queue = new Controller({
      name: "pods",
      workers: options.settings.workers,
      reconcile: (key) => {
        // Fenced: past the renew deadline nothing is allocated, even when
        // the step-down timer has not run yet.
        if (!this.#leading()) return done();
        this.#options.debug(`Reconcile ${key}`);
        // A reconcile may allocate or release before any Pod update says so.
        return this.controller.reconcile(key).finally(() => this.#changes++);
      },
      log,
    });
    this.#served = new ServedKinds(client, { retryMs: DISCOVERY_RETRY_MS });
  }

  /** Whether this replica serves (leader, caches synced, allocator restored). */
  get readiness(): Readiness {
    const reasons: Record<Phase, string> = {
      starting: "starting",
      syncing: "caches not synced",
      following: `not the leader (the leader is ${this.#elector?.leader || "unknown"})`,
      restoring: "restoring allocations",
      ready: "",
      stopped: "stopped",
    };
    if (this.#phase === "ready" && !this.#leading()) {
      return { ready: false, reason: "the leader Lease could not be renewed in time" };
    }
    return { ready: this.#phase === "ready", reason: reasons[this.#phase] };
  }

  /** Starts caches and, once they are synced, the election (or leads at once without one). */
  async start(): Promise<void> {
    this.#phase = "syncing";
    this.pods.start();
    this.nodes.start();
    this.#discoverGameServers();
    for (const runner of this.#extensions) runner.start();
    await Promise.all([this.pods.synced, this.nodes.synced]);
    // stop() may have run while the caches synced.
    if (this.#stopped) return;
    if (!this.#options.settings.leaderElect) {
      await this.#lead();
      return;
    }
    this.#phase = "following";
    this.#elector = new LeaderElector(this.#options.client, {
      namespace: this.#options.settings.namespace,
      name: this.#options.settings.leaseName,
      identity: this.#options.settings.identity,
      log: this.#options.log,
      onStartedLeading: () => {
        this.#lead().catch((err) =>
          this.#options.log(`Taking the lead failed: ${(err as Error).message}`)
        );
      },
      onStoppedLeading: () => {
        if (this.#phase === "stopped") return;
        // Stop allocating before anything else: another replica may lead already.
        this.#phase = "following";
        void this.queue.stop();
        this.#options.log("Lost leadership: stopped allocating");
        this.#options.onLostLeadership();
      },
    });
    this.#elector.start();
  }

  async #lead(): Promise<void> {
    this.#phase = "restoring";
    const conflicts = await this.#restore();
    // Leadership may have been lost (or stop() called) while a provider read the cloud.
    if (this.#phase !== "restoring") return;
    for (const c of conflicts) this.#options.log(`Restore: ${c.message}`);
    this.#restoreConflicts = conflicts;
    this.#changes++;
    this.#phase = "ready";
    this.queue.start();
    // Extension kinds may not be installed: they follow when they are.
    for (const runner of this.#extensions) {
      runner.lead().catch((err) => this.#options.log(`Extension: ${(err as Error).message}`));
    }
    for (const key of this.pods.store.keys()) this.queue.add(key);
    const leading = () => this.#phase === "ready";
    const log = this.#options.log;
    this.#periodics.push(
      new Periodic(
        "Admissions",
        ADMISSION_CHECK_EVERY_MS,
        () => this.#releaseUnclaimedAdmissions(),
        {
          when: leading,
          log,
        },
      ),
    );
    if (this.#options.settings.resyncMs > 0) {
      this.#periodics.push(
        new Periodic("Resync", this.#options.settings.resyncMs, () => {
          for (const key of this.pods.store.keys()) this.queue.add(key);
        }, { when: leading, log }),
      );
    }
    const workloads = new WorkloadLookup(this.#options.client);
    for (const provider of this.#options.registry.all) {
      if (!provider.sweep) continue;
      const sweep = () =>
        provider.sweep!({
          workloadExists: (ns, ref) => workloads.exists(ns, ref),
          requeue: (key) => this.#enqueueIfReady(key),
        }).finally(() => this.#changes++);
      this.#periodics.push(
        new Periodic(
          `${provider.name} sweep`,
          provider.sweepEveryMs ?? PROVIDER_SWEEP_EVERY_MS,
          sweep,
          { when: leading, log },
        ),
      );
    }
  }

  /** Rebuilds every provider's state from the cache (and the cloud); no allocation happens before. */
  async #restore(): Promise<{ message: string }[]> {
    const registry = this.#options.registry;
    const byProvider = new Map<string, { pod: Pod; owner: string }[]>();
    for (const [key, pod] of this.pods.store) {
      for (const p of registry.all) p.observe?.(key, pod);
      const provider = registry.get(pod.metadata.annotations?.[NETWORK_TYPE_ANNOTATION]);
      if (!provider || podFinished(pod)) {
        continue;
      }
      const owner = ownerOf(key, pod);
      this.controller.adopt(key, provider, owner);
      const list = byProvider.get(provider.name) ?? [];
      list.push({ pod, owner });
      byProvider.set(provider.name, list);
    }
    const conflicts: { message: string }[] = [];
    for (const provider of registry.all) {
      try {
        const found = await provider.restore?.(byProvider.get(provider.name) ?? [], {
          node: (name) => this.nodes.get(name),
        });
        conflicts.push(...(found ?? []));
      } catch (err) {
        // The provider's own Pods then wait for it (it retries on first use); the others go on.
        conflicts.push({ message: `${provider.name}: ${(err as Error).message}` });
      }
    }
    return conflicts;
  }

  #podChanged(key: string, pod: Pod | undefined): void {
    this.#changes++;
    // Observers see every change at once, also on followers, so a new
    // leader's view of foreign host ports is never stale (observe is
    // idempotent per key; the restore calls it again).
    for (const p of this.#options.registry.all) p.observe?.(key, pod);
    if (this.#phase === "ready") this.queue.add(key);
    if (pod) { for (const runner of this.#extensions) runner.podChanged(pod); }
  }

  #nodeChanged(name: string, present: boolean): void {
    this.#changes++;
    for (const p of this.#options.registry.all) p.observeNode?.(name, present);
    // Gone: its Pods lose their addresses. New: Pods bound to it before it
    // reached this cache (the Pod and Node watches race) get theirs now.
    this.#enqueuePodsOn(name);
  }

  #enqueuePodsOn(node: string): void {
    if (this.#phase !== "ready") return;
    for (const pod of this.pods.byIndex(NODE_INDEX, node)) this.queue.add(objectKey(pod));
  }

  /** Gives back what admissions allocated for Pods that never appeared within the grace period. */
  async #releaseUnclaimedAdmissions(): Promise<void> {
    // Built only when an admission is old enough to ask about.
    let live: Set<string> | undefined;
    const isLive = (owner: string) => {
      if (!live) {
        live = new Set();
        for (const [key, pod] of this.pods.store) live.add(ownerOf(key, pod));
      }
      return live.has(owner);
    };
    const released = await this.controller.releaseUnclaimedAdmissions(
      this.#options.settings.admissionGraceMs,
      isLive,
    );
    if (released.length > 0) this.#changes++;
    for (const owner of released) {
      this.#options.log(`Released ${owner}: its Pod never appeared (admission refused later?)`);
    }
  }

  /**
   * Whether this replica may allocate now: ready, and (with an election)
   * within its renew deadline.
   */
  #leading(): boolean {
    return this.#phase === "ready" && (this.#elector?.isLeader ?? true);
  }

  /** Admission, refused at once unless this replica is ready and leading. */
  async admit(req: PodAdmission): Promise<PodAdmissionResult> {
    if (!this.#leading()) {
      return {
        allowed: false,
        code: 503,
        message:
          `gamenet is not ready (${this.readiness.reason}); the Pod will be retried by its controller`,
      };
    }
    const result = await this.controller.admit(req);
    this.#changes++;
    if (result.allowed) {
      const m = req.pod.metadata ?? {};
      this.#options.debug(
        `Admitted ${req.namespace}/${m.name ?? `${m.generateName ?? ""}*`} (${req.uid})`,
      );
    }
    return result;
  }

  /** Watches OpenKruiseGame's and Agones' GameServers once their CRDs are served. */
  #discoverGameServers(): void {
    const { client, log } = this.#options;
    void this.#served.watch(GAMESERVER_KINDS, (kind) => {
      if (kind.apiVersion === KRUISE_GAMESERVERS.apiVersion) {
        this.#kruise = new Reflector(client, {
          path: `/apis/${kind.apiVersion}/${kind.resource}`,
          log,
        }, {
          onAdd: (gs) => this.#enqueueIfReady(objectKey(gs)),
          onUpdate: (_o, gs) => this.#enqueueIfReady(objectKey(gs)),
        });
        this.#kruise.start();
      } else {
        this.#agones = new Reflector(client, {
          path: `/apis/${kind.apiVersion}/${kind.resource}`,
          log,
        }, {
          onAdd: (gs) => this.#enqueueAgones(gs),
          onUpdate: (_o, gs) => this.#enqueueAgones(gs),
        });
        this.#agones.start();
      }
    });
  }

  #enqueueIfReady(key: string): void {
    if (this.#phase === "ready") this.queue.add(key);
  }

  #enqueueAgones(gs: AgonesGameServer): void {
    const key = `${gs.metadata.namespace}/${gs.metadata.name}`;
    for (const pod of this.pods.byIndex(AGONES_GAMESERVER_INDEX, key)) {
      this.#enqueueIfReady(objectKey(pod));
    }
  }

  /**
   * What every allocator holds, joined with the cached Pods (`GET
   * /allocations`). Shared with other readers for up to
   * {@linkcode VIEW_REUSE_MS} while nothing changes: treat it as read-only.
   */
  allocations(): AllocationsView {
    const last = this.#lastView;
    if (last && last.changes === this.#changes && performance.now() - last.at < VIEW_REUSE_MS) {
      return last.view;
    }
    const view = buildAllocationsView(
      this.#options.registry,
      this.controller.tracked,
      (key) => this.pods.get(key),
      (owner) => this.controller.admission(owner),
      (p) => this.#lastWarning(p),
    );
    this.#lastView = { view, changes: this.#changes, at: performance.now() };
    return view;
  }

  #lastWarning(pod: Pod): RecentEvent | undefined {
    const m = pod.metadata;
    return this.recent.lastWarning(m.namespace ?? "", m.name ?? "", m.uid);
  }

  /**
   * A number that moves whenever what {@linkcode allocations} shows may have
   * changed (a Pod, a node, an admission, a reconcile, a sweep): a reader
   * polling the view skips building it while the number stands. Time alone
   * also changes the view (the reuse delay's ports come free), so a reader
   * still rebuilds now and then.
   *
   * @example
   * ```ts
   * const seen = manager.changes;
   * // …later
   * if (manager.changes !== seen) view = manager.allocations();
   * ```
   */
  get changes(): number {
    return this.#changes;
  }

  /** What the last restore could not reconcile (also logged), e.g. two Pods claiming one port. */
  restoreConflicts(): readonly { message: string }[] {
    return this.#restoreConflicts;
  }

  /** A cached Pod (as gamenet keeps it: see {@linkcode slimPod}), or undefined. */
  pod(namespace: string, name: string): Pod | undefined {
    return this.pods.get(`${namespace}/${name}`);
  }

  /** The Events gamenet recorded lately for a Pod, oldest first (see {@linkcode RecentEvents}). */
  recentEvents(namespace: string, name: string, uid?: string): readonly RecentEvent[] {
    return this.recent.of(namespace, name, uid);
  }

  /**
   * The pools and the allocations per type, for the metrics (see
   * {@linkcode countAllocations}); nothing while this replica does not
   * lead: a standby's allocator is not restored (its pools would show every
   * port free), and a sum over replicas would count the leader's twice.
   */
  allocationCounts(): AllocationCounts {
    if (!this.#leading()) return { pools: [], byType: new Map() };
    return countAllocations(
      this.#options.registry,
      this.controller.tracked,
      (key) => this.pods.get(key),
    );
  }

  /**
   * The game-server Pods by type, network state and the reason of the last
   * warning (see {@linkcode countGameServers}); nothing while this replica
   * does not lead, for the same reasons as {@linkcode allocationCounts}
   * (and only the leader knows the warnings).
   */
  gameServerCounts(): GameServerCount[] {
    if (!this.#leading()) return [];
    return countGameServers(
      this.pods.store.values(),
      this.#options.registry,
      (p) => this.#lastWarning(p),
    );
  }

  /**
   * Whether this replica holds the leader Lease now (without an election:
   * whether it has taken the lead), for `gamenet_leader`.
   */
  get isLeader(): boolean {
    if (this.#phase !== "restoring" && this.#phase !== "ready") return false;
    return this.#elector?.isLeader ?? true;
  }

  /** Watches restarted so far, by resource (for `gamenet_watch_restarts_total`). */
  watchRestarts(): Record<string, number> {
    const out: Record<string, number> = {
      pods: this.pods.stats.watchRestarts,
      nodes: this.nodes.stats.watchRestarts,
    };
    if (this.#kruise) out["gameservers.game.kruise.io"] = this.#kruise.stats.watchRestarts;
    if (this.#agones) out["gameservers.agones.dev"] = this.#agones.stats.watchRestarts;
    for (const runner of this.#extensions) Object.assign(out, runner.watchRestarts());
    return out;
  }

  /** Stops everything; a leader releases its Lease. */
  async stop(): Promise<void> {
    this.#phase = "stopped";
    this.#stopped = true;
    for (const p of this.#periodics) p.stop();
    this.#served.stop();
    await this.queue.stop();
    await Promise.all(this.#extensions.map((r) => r.stop()));
    // The last Events (a stop is bounded by the caller's timeout).
    await this.events.flush();
    await this.#elector?.stop();
    await Promise.all([
      this.pods.stop(),
      this.nodes.stop(),
      this.#kruise?.stop(),
      this.#agones?.stop(),
    ]);
  }
}
