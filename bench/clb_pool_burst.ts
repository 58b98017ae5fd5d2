/**
 * A burst of Pods on CLB port pools (tke-extend-network-controller v2's
 * `CLBPortPool` / `CLBPodBinding`) against the fake Tencent Cloud, in
 * process: `pods` Pods annotated `enable-clb-port-mapping: "true"` and
 * `clb-port-mapping: "7000 TCPUDP pool-N"` (one line, so two listeners,
 * TCP and UDP, per Pod), spread evenly over `pools` pools of `lbs` CLBs
 * each (`lbPolicy: Uniform`, `startPort` 30000, `listenerQuota` 1,000 as
 * the pool and the fake CLBs say), every write's task taking 200 ms and
 * every action limited to 20 calls per second, as `clb_burst.ts` sets them.
 *
 * The extension is built as `providers/tencent_clb/mod.ts` builds it (the
 * SDK client, one `ClbWriter` with its default options, one `ClbPools`)
 * and run as `controller/extension_runner.ts` runs it: the real
 * `Controller` (one `WorkQueue`) per extension controller with the
 * runner's 64 workers, `restore` then every pool's key at lead, a key
 * added on every change of an object of the controller's resource and,
 * for a Pod's change, the keys of `keysForPod`. What stands in for the
 * API server and the caches is an in-memory store (the `FakeKubeClient`
 * serves no API group, so the real runner cannot run on it): a write is
 * applied at once and answered after `API_MS`, the caches see it (and
 * the keys are added) `WATCH_MS` after it was made, and `get` hands out a
 * copy, as a cache does. Every `create`, `patch`, `patchPod`, `delete`
 * and Event is counted as an API write.
 *
 * The pools are reconciled first (gamenet running, the pools `Active`),
 * then all Pods appear at once, already with an IP. Measured, each run in
 * a fresh process: the time from then to each binding's first `Bound`
 * status and each Pod's `clb-port-mapping-status: Ready`, the cloud calls
 * as the fake received them (throttled ones included), the accepted batch
 * sizes, the API writes by kind and per Pod, the reconciles per
 * controller, and at the end the fake's listeners against the Pods.
 *
 * ```sh
 * deno run --allow-all bench/clb_pool_burst.ts [pods=1000] [pools=2] [lbs=2] [runs=1]
 * ```
 * @module
 */

import { FakeTencentCloud } from "../tests/fakes/tencentcloud/fake_tencent_cloud.ts";
import { WRITE_ACTIONS } from "../tests/fakes/tencentcloud/clb_state.ts";
import { clbApiFor } from "../tests/fakes/tencentcloud/clb_api_for.ts";
import { type ClbApi, toClbError } from "../providers/tencent_clb/clb_api.ts";
import { ClbWriter } from "../providers/tencent_clb/clb_writer.ts";
import { ClbPools } from "../providers/tencent_clb/clb_pools.ts";
import {
  bindingListenerName,
  CPB_RESOURCE,
  CPP_RESOURCE,
  createClbPortPoolExtension,
} from "../providers/tencent_clb/clb_port_pool.ts";
import {
  ENABLE_PORT_MAPPING_ANNOTATION,
  type MappingResult,
  PORT_MAPPING_ANNOTATION,
  PORT_MAPPING_RESULT_ANNOTATION,
  PORT_MAPPING_STATUS_ANNOTATION,
} from "../providers/tencent_clb/port_mapping.ts";
import {
  type ExtensionContext,
  type ExtensionObject,
  OWNER_INDEX,
  type ProviderExtension,
} from "../providers/extension.ts";
import { Controller } from "../controller/controller.ts";
import type { Pod } from "../providers/types.ts";

const PODS = Number(Deno.args[0] ?? 1000);
const POOLS = Number(Deno.args[1] ?? 2);
const LBS_PER_POOL = Number(Deno.args[2] ?? 2);
const RUNS = Number(Deno.args[3] ?? 1);
/** One `TCPUDP` line: a TCP and a UDP listener per Pod. */
const LISTENERS_PER_POD = 2;
const POD_PORT = 7000;
const START_PORT = 30000;
const LISTENER_QUOTA = 1000;
const TASK_MS = 200;
const RATE_LIMIT = 20;
/** Workers per controller: `ExtensionRunner`'s default unless the environment says. */
const WORKERS = Number(Deno.env.get("CLB_POOL_BURST_WORKERS") ?? 64);
/** How long the stand-in API server takes to answer a write. */
const API_MS = Number(Deno.env.get("CLB_POOL_BURST_API_MS") ?? 5);
/** When the caches see a write (and the keys are added), after it was made. */
const WATCH_MS = Number(Deno.env.get("CLB_POOL_BURST_WATCH_MS") ?? 10);
/** Gives up after this. */
const DEADLINE_MS = 600_000;
/** After all Pods are Ready, how long the controllers may go on (the pools' last status). */
const SETTLE_MS = 5_000;

const lbId = (pool: number, i: number) => `lb-pool${pool}x${i}`;
const poolName = (pool: number) => `pool-${String.fromCharCode(97 + pool)}`;

type Obj = ExtensionObject;

/** RFC 7386 merge patch. */
// deno-lint-ignore no-explicit-any
function mergePatch(target: any, patch: any): any {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  const out = target !== null && typeof target === "object" && !Array.isArray(target)
    ? { ...target }
    : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** What the stand-in API server was asked to write. */
interface Writes {
  /** By `verb resource[/subresource]`, e.g. `patch clbpodbindings/status`. */
  byKind: Record<string, number>;
  /** Pod annotation patches per Pod. */
  podPatches: Map<string, number>;
  /** Status patches per binding. */
  bindingStatus: Map<string, number>;
  /** Events by type and reason. */
  events: Record<string, number>;
}

/**
 * The API server and the caches, in memory. The server's objects change
 * when a write is made; the caches' copies (what `ctx` reads) `WATCH_MS`
 * later, when `onChange` adds the keys as the runner's watches would.
 */
class Cluster {
  readonly server = new Map<string, Map<string, Obj>>([[CPP_RESOURCE, new Map()], [
    CPB_RESOURCE,
    new Map(),
  ]]);
  readonly cache = new Map<string, Map<string, Obj>>([[CPP_RESOURCE, new Map()], [
    CPB_RESOURCE,
    new Map(),
  ]]);
  readonly serverPods = new Map<string, Pod>();
  readonly cachePods = new Map<string, Pod>();
  readonly writes: Writes = {
    byKind: {},
    podPatches: new Map(),
    bindingStatus: new Map(),
    events: {},
  };
  /** A change reached the caches: the keys to add. */
  onChange: (resource: string, obj: Obj) => void = () => {};
  onPodChange: (pod: Pod) => void = () => {};
  /** A binding's status was written (server side). */
  onBindingStatus: (key: string, state: string) => void = () => {};
  onPodAnnotations: (key: string, annotations: Record<string, string>) => void = () => {};
  counting = true;
  #version = 0;
  #uid = 0;
  readonly #extension: ProviderExtension;

  constructor(extension: ProviderExtension) {
    this.#extension = extension;
  }

  #count(kind: string): void {
    if (this.counting) this.writes.byKind[kind] = (this.writes.byKind[kind] ?? 0) + 1;
  }

  /** The key of `name` in `resource`'s store (cluster-scoped kinds: the bare name). */
  #key(resource: string, ns: string, name: string): string {
    return resource === CPP_RESOURCE ? name : `${ns}/${name}`;
  }

  /** The caches see the server's `key` of `resource` now. */
  #watch(resource: string, key: string): void {
    setTimeout(() => {
      const obj = this.server.get(resource)!.get(key);
      const cache = this.cache.get(resource)!;
      const last = obj ? structuredClone(obj) : cache.get(key);
      if (obj) cache.set(key, last!);
      else cache.delete(key);
      if (last) this.onChange(resource, last);
    }, WATCH_MS);
  }

  #watchPod(key: string): void {
    setTimeout(() => {
      const pod = structuredClone(this.serverPods.get(key)!);
      this.cachePods.set(key, pod);
      this.onPodChange(pod);
    }, WATCH_MS);
  }

  /** An object as `kubectl apply` makes it; seen by the caches at once (before lead). */
  put(resource: string, obj: Obj): void {
    const key = this.#key(resource, obj.metadata.namespace ?? "", obj.metadata.name);
    const stored = structuredClone(obj);
    stored.metadata.uid ??= `uid-${++this.#uid}`;
    stored.metadata.resourceVersion = String(++this.#version);
    this.server.get(resource)!.set(key, stored);
    this.cache.get(resource)!.set(key, structuredClone(stored));
  }

  /** A Pod created (it reaches the caches `WATCH_MS` later). */
  addPod(pod: Pod): void {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    this.serverPods.set(key, structuredClone(pod));
    this.#watchPod(key);
  }

  #answer<T>(value: T): Promise<T> {
    return new Promise((resolve) => setTimeout(() => resolve(value), API_MS));
  }

  #fail(status: number, message: string): Promise<never> {
    return new Promise((_, reject) =>
      setTimeout(() => reject(Object.assign(new Error(message), { status })), API_MS)
    );
  }

  ctx(): ExtensionContext {
    const kinds = this.#extension.kinds;
    const kind = (r: string) => kinds.find((k) => k.resource === r)!;
    const owners = (o: Obj) => (o.metadata.ownerReferences ?? []).map((r) => r.uid);
    const cached = (r: string) => this.cache.get(r)!;
    return {
      get: (r, k) => {
        const o = cached(r).get(k);
        return o && structuredClone(o);
      },
      list: (r, ns) =>
        [...cached(r).values()].filter((o) => ns === undefined || o.metadata.namespace === ns),
      byIndex: (r, index, value) => {
        const fn = index === OWNER_INDEX ? owners : kind(r).indexes?.[index];
        if (!fn) throw new Error(`${r}: no index "${index}"`);
        return [...cached(r).values()].filter((o) => fn(o).includes(value));
      },
      selecting: () => [],
      selectedPods: () => [],
      pod: (k) => this.cachePods.get(k),
      pods: (ns) => [...this.cachePods.values()].filter((p) => p.metadata.namespace === ns),
      create: (r, ns, obj) => {
        this.#count(`create ${r}`);
        const k = this.#key(r, ns, obj.metadata.name);
        if (this.server.get(r)!.has(k)) return this.#fail(409, `${r} ${k} already exists`);
        const made = structuredClone(obj);
        made.metadata.uid = `uid-${++this.#uid}`;
        made.metadata.resourceVersion = String(++this.#version);
        this.server.get(r)!.set(k, made);
        this.#watch(r, k);
        return this.#answer(structuredClone(made));
      },
      patch: (r, ns, name, patch, subresource) => {
        this.#count(`patch ${r}${subresource ? `/${subresource}` : ""}`);
        const k = this.#key(r, ns, name);
        const o = this.server.get(r)!.get(k);
        if (!o) return this.#fail(404, `${r} ${k} not found`);
        const p = patch as Obj;
        const expected = p.metadata?.resourceVersion;
        if (expected !== undefined && expected !== o.metadata.resourceVersion) {
          return this.#fail(409, `${r} ${k}: the object has been modified`);
        }
        // The status subresource takes the status only; the object everything else.
        const { status, ...rest } = p;
        const next = subresource === "status" ? { ...o, status: mergePatch(o.status, status) } : {
          ...mergePatch(o, { ...rest, metadata: { ...rest.metadata, resourceVersion: null } }),
        };
        next.metadata = { ...next.metadata, resourceVersion: String(++this.#version) };
        if (
          next.metadata.deletionTimestamp && (next.metadata.finalizers ?? []).length === 0
        ) this.server.get(r)!.delete(k);
        else this.server.get(r)!.set(k, next);
        if (subresource === "status" && r === CPB_RESOURCE) {
          if (this.counting) {
            this.writes.bindingStatus.set(k, (this.writes.bindingStatus.get(k) ?? 0) + 1);
          }
          this.onBindingStatus(k, next.status?.state);
        }
        this.#watch(r, k);
        return this.#answer(undefined);
      },
      delete: (r, ns, name) => {
        this.#count(`delete ${r}`);
        const k = this.#key(r, ns, name);
        const o = this.server.get(r)!.get(k);
        if (o) {
          if (o.metadata.finalizers?.length) {
            o.metadata.deletionTimestamp ??= new Date().toISOString();
            o.metadata.resourceVersion = String(++this.#version);
          } else this.server.get(r)!.delete(k);
          this.#watch(r, k);
        }
        return this.#answer(undefined);
      },
      patchPod: (ns, name, patch) => {
        this.#count("patch pods");
        const k = `${ns}/${name}`;
        const pod = this.serverPods.get(k);
        if (!pod) return this.#fail(404, `Pod ${k} not found`);
        const next = mergePatch(pod, patch) as Pod;
        this.serverPods.set(k, next);
        if (this.counting) this.writes.podPatches.set(k, (this.writes.podPatches.get(k) ?? 0) + 1);
        this.onPodAnnotations(k, next.metadata.annotations ?? {});
        this.#watchPod(k);
        return this.#answer(undefined);
      },
      event: (_r, _obj, type, reason) => {
        this.#count("create events");
        const k = `${type} ${reason}`;
        if (this.counting) this.writes.events[k] = (this.writes.events[k] ?? 0) + 1;
        return this.#answer(undefined);
      },
      // Set by the runner below.
      enqueue: () => {},
      requeuePod: () => {},
      listLive: (r) => Promise.resolve([...this.server.get(r)!.values()]),
      warnings: () => Promise.resolve([]),
    };
  }
}

function podOf(i: number): Pod {
  return {
    metadata: {
      namespace: "burst",
      name: `gs-${i}`,
      uid: `pod-uid-${i}`,
      annotations: {
        [ENABLE_PORT_MAPPING_ANNOTATION]: "true",
        [PORT_MAPPING_ANNOTATION]: `${POD_PORT} TCPUDP ${poolName(i % POOLS)}`,
      },
    },
    spec: { containers: [{ name: "gs" }] },
    status: { phase: "Running", podIP: `10.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}` },
  };
}

/** What the wrapped SDK client saw. */
interface Tally {
  answers: Record<string, Record<string, number>>;
  createBatches: number[];
  registerBatches: number[];
}

/** The SDK client with every answer and the accepted batch sizes noted (as in `clb_burst.ts`). */
function noting(api: ClbApi, tally: Tally): ClbApi {
  return new Proxy(api, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function" || typeof prop !== "string") return value;
      const note = (code: string) => {
        const of = tally.answers[prop] ??= {};
        of[code] = (of[code] ?? 0) + 1;
      };
      return async (...args: unknown[]) => {
        let res;
        try {
          res = await value.apply(target, args);
        } catch (err) {
          note(toClbError(prop, err).code);
          throw err;
        }
        note("ok");
        const req = args[0] as { Ports?: unknown[]; Targets?: unknown[] };
        if (prop === "CreateListener") tally.createBatches.push(req.Ports?.length ?? 0);
        if (prop === "BatchRegisterTargets") tally.registerBatches.push(req.Targets?.length ?? 0);
        return res;
      };
    },
  });
}

/** What one run's child process prints as its last line. */
interface Measured {
  run?: number;
  pods: number;
  listeners: number;
  lbs: number;
  bound: number;
  ready: number;
  allBoundMs: number;
  p50BoundMs: number;
  p99BoundMs: number;
  firstBoundMs: number;
  allReadyMs: number;
  calls: Record<string, number>;
  writerCalls: Record<string, number>;
  writes: number;
  reads: number;
  throttled: number;
  retries: number;
  answers: Record<string, Record<string, number>>;
  createBatches: number[];
  registerBatches: number[];
  /** API writes during the burst and until it settled. */
  kubeWrites: Record<string, number>;
  /** API writes up to the moment the last Pod was Ready. */
  kubeWritesAtReady: Record<string, number>;
  /** Pods by how many annotation patches they got, e.g. {"1": 990, "2": 10}. */
  podPatchHistogram: Record<string, number>;
  bindingStatusHistogram: Record<string, number>;
  events: Record<string, number>;
  reconciles: Record<string, number>;
  listenersOk: number;
  listenersTotal: number;
  resultsOk: number;
  rssMiB: number;
}

const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

function histogram(counts: Iterable<number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of counts) out[n] = (out[n] ?? 0) + 1;
  return out;
}

async function runOnce(): Promise<Measured> {
  const ids = Array.from(
    { length: POOLS },
    (_, p) => Array.from({ length: LBS_PER_POOL }, (_, i) => lbId(p, i)),
  );
  await using cloud = await FakeTencentCloud.start({
    loadBalancers: ids.flat().map((id, i) => ({
      id,
      vip: `203.0.113.${i + 1}`,
      listenerQuota: LISTENER_QUOTA,
    })),
    listenerQuota: LISTENER_QUOTA,
    rateLimitPerSecond: RATE_LIMIT,
    taskDurationMs: TASK_MS,
  });
  const tally: Tally = { answers: {}, createBatches: [], registerBatches: [] };
  const api = noting(clbApiFor(cloud), tally);
  let writerLogs = 0;
  const writer = new ClbWriter(api, { log: () => writerLogs++ });
  const logs: string[] = [];
  const extension = createClbPortPoolExtension({
    api,
    writer,
    pools: new ClbPools(),
    region: cloud.region,
    log: (m) => logs.push(m),
  });
  const cluster = new Cluster(extension);
  for (let p = 0; p < POOLS; p++) {
    cluster.put(CPP_RESOURCE, {
      apiVersion: "networking.cloud.tencent.com/v1alpha1",
      kind: "CLBPortPool",
      metadata: { name: poolName(p) },
      spec: {
        startPort: START_PORT,
        listenerQuota: LISTENER_QUOTA,
        lbPolicy: "Uniform",
        exsistedLoadBalancerIDs: ids[p],
      },
    });
  }

  // As ExtensionRunner: a Controller per controller, keys added on changes.
  const reconciles: Record<string, number> = {};
  const failures: string[] = [];
  const ctx = cluster.ctx();
  const queues = new Map(
    extension.controllers.map((c) => [
      c.name,
      new Controller({
        name: c.name,
        workers: c.workers ?? WORKERS,
        reconcile: (key) => {
          reconciles[c.name] = (reconciles[c.name] ?? 0) + 1;
          return c.reconcile(key, ctx);
        },
        log: (m) => failures.push(m),
      }),
    ]),
  );
  ctx.enqueue = (controller, key) => queues.get(controller)?.add(key);
  cluster.onChange = (resource, obj) => {
    for (const c of extension.controllers) {
      if (c.resource === resource) {
        const key = resource === CPP_RESOURCE
          ? obj.metadata.name
          : `${obj.metadata.namespace}/${obj.metadata.name}`;
        queues.get(c.name)!.add(key);
      }
      for (const key of c.keysFor?.(resource, obj, ctx) ?? []) queues.get(c.name)!.add(key);
    }
  };
  cluster.onPodChange = (pod) => {
    for (const c of extension.controllers) {
      for (const key of c.keysForPod?.(pod, ctx) ?? []) queues.get(c.name)!.add(key);
    }
  };

  // Lead: restore, then every cached key; the pools become Active.
  await extension.restore?.(ctx);
  for (const c of extension.controllers) {
    queues.get(c.name)!.start();
    for (const key of cluster.cache.get(c.resource)!.keys()) queues.get(c.name)!.add(key);
  }
  const poolsActive = async () => {
    for (let i = 0; i < 200; i++) {
      const pools = [...cluster.server.get(CPP_RESOURCE)!.values()];
      if (pools.every((p) => p.status?.state === "Active")) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`pools not Active: ${failures[0] ?? logs[0] ?? "nothing logged"}`);
  };
  await poolsActive();
  for (const q of queues.values()) await q.idle();
  await new Promise((r) => setTimeout(r, 1_100)); // a fresh rate-limit window
  cloud.resetStats();
  tally.answers = {};
  tally.createBatches.length = 0;
  tally.registerBatches.length = 0;
  const retriesBefore = writer.stats.retries;
  const writerBefore = writer.stats.calls;
  cluster.writes.byKind = {};
  cluster.writes.events = {};
  for (const k of Object.keys(reconciles)) delete reconciles[k];

  const boundAt = new Map<string, number>();
  const readyAt = new Map<string, number>();
  let kubeWritesAtReady: Record<string, number> = {};
  let allReady!: () => void;
  const finished = new Promise<void>((resolve) => allReady = resolve);
  let t0 = 0;
  cluster.onBindingStatus = (k, state) => {
    if (state === "Bound" && !boundAt.has(k)) boundAt.set(k, performance.now() - t0);
  };
  cluster.onPodAnnotations = (k, annotations) => {
    if (annotations[PORT_MAPPING_STATUS_ANNOTATION] === "Ready" && !readyAt.has(k)) {
      readyAt.set(k, performance.now() - t0);
      if (readyAt.size === PODS) {
        kubeWritesAtReady = { ...cluster.writes.byKind };
        allReady();
      }
    }
  };
  const progress = setInterval(() => {
    const s = cloud.stats();
    console.error(
      `  ${boundAt.size} Bound, ${readyAt.size} Ready of ${PODS} at ${
        ((performance.now() - t0) / 1000).toFixed(0)
      } s; bindings queued ${
        queues.get("clbpodbindings")!.depth
      }; ${s.totalCalls} calls, ${s.throttled} throttled`,
    );
  }, 5_000);
  const deadline = setTimeout(allReady, DEADLINE_MS);
  t0 = performance.now();
  for (let i = 0; i < PODS; i++) cluster.addPod(podOf(i));
  await finished;
  clearTimeout(deadline);
  clearInterval(progress);
  const lastBound = Math.max(...boundAt.values());
  if (readyAt.size < PODS) {
    console.error(`  only ${readyAt.size} of ${PODS} Ready; e.g. ${failures[0] ?? logs[0] ?? "-"}`);
  }
  // What the controllers still write (the pools' last counts), then stop.
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  for (const q of queues.values()) await q.stop();
  cluster.counting = false;

  // The truth: every Pod port has its listener with the Pod IP:port behind it,
  // and the Pod's result names it.
  const listeners = cloud.loadBalancers().flatMap((lb) =>
    lb.listeners.map((l) => ({ ...l, lb: lb.id }))
  );
  const byName = new Map(listeners.map((l) => [l.name, l]));
  let listenersOk = 0;
  let resultsOk = 0;
  for (const pod of cluster.serverPods.values()) {
    const { namespace, name } = pod.metadata as { namespace: string; name: string };
    const results = JSON.parse(
      pod.metadata.annotations?.[PORT_MAPPING_RESULT_ANNOTATION] ?? "[]",
    ) as MappingResult[];
    for (const protocol of ["TCP", "UDP"] as const) {
      const l = byName.get(bindingListenerName(namespace, name, POD_PORT, protocol));
      if (
        l?.targets.length === 1 && l.targets[0].eniIp === pod.status!.podIP &&
        l.targets[0].port === POD_PORT
      ) listenersOk++;
      if (
        l && results.some((r) =>
          r.protocol === protocol && r.listenerId === l.listenerId &&
          r.loadbalancerId === l.lb && r.loadbalancerPort === l.port
        )
      ) resultsOk++;
    }
  }
  const stats = cloud.stats();
  const writes = Object.entries(stats.calls).filter(([a]) => WRITE_ACTIONS.has(a))
    .reduce((n, [, c]) => n + c, 0);
  const writerCalls = Object.fromEntries(
    Object.entries(writer.stats.calls).map(([a, n]) => [a, n - (writerBefore[a] ?? 0)]),
  );
  const times = [...boundAt.values()];
  return {
    pods: PODS,
    listeners: PODS * LISTENERS_PER_POD,
    lbs: POOLS * LBS_PER_POOL,
    bound: boundAt.size,
    ready: readyAt.size,
    allBoundMs: lastBound,
    p50BoundMs: quantile(times, 0.5),
    p99BoundMs: quantile(times, 0.99),
    firstBoundMs: Math.min(...times),
    allReadyMs: Math.max(...readyAt.values()),
    calls: stats.calls,
    writerCalls,
    writes,
    reads: stats.totalCalls - writes,
    throttled: stats.throttled,
    retries: writer.stats.retries - retriesBefore,
    answers: tally.answers,
    createBatches: tally.createBatches,
    registerBatches: tally.registerBatches,
    kubeWrites: cluster.writes.byKind,
    kubeWritesAtReady,
    podPatchHistogram: histogram(cluster.writes.podPatches.values()),
    bindingStatusHistogram: histogram(cluster.writes.bindingStatus.values()),
    events: cluster.writes.events,
    reconciles,
    listenersOk,
    listenersTotal: listeners.length,
    resultsOk,
    rssMiB: Deno.memoryUsage().rss / 2 ** 20,
  };
}

function summary(xs: number[]): string {
  if (xs.length === 0) return "none";
  const sum = xs.reduce((a, b) => a + b, 0);
  return `${xs.length} calls, ${(sum / xs.length).toFixed(1)} avg, ${Math.min(...xs)}-${
    Math.max(...xs)
  }`;
}

function report(results: Measured[]): void {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const header = [
    "run",
    "Pods",
    "listeners",
    "CLBs",
    "all Bound",
    "p50",
    "p99",
    "all Ready",
    "writes/listener",
    "task polls",
    "throttled",
    "retries",
    "API writes/Pod",
    "RSS after",
  ];
  const kubePerPod = (r: Measured) =>
    Object.values(r.kubeWrites).reduce((a, b) => a + b, 0) / r.pods;
  const rows = results.map((r) => [
    String(r.run ?? 1),
    r.bound === r.pods ? String(r.pods) : `${r.bound}/${r.pods}`,
    String(r.listeners),
    String(r.lbs),
    s(r.allBoundMs),
    s(r.p50BoundMs),
    s(r.p99BoundMs),
    r.ready === r.pods ? s(r.allReadyMs) : `${r.ready}/${r.pods}`,
    (r.writes / r.listeners).toFixed(3),
    String(r.calls.DescribeTaskStatus ?? 0),
    String(r.throttled),
    String(r.retries),
    kubePerPod(r).toFixed(2),
    `${r.rssMiB.toFixed(0)} MiB`,
  ]);
  console.log(`| ${header.join(" | ")} |`);
  console.log(`|${header.map(() => " --- ").join("|")}|`);
  for (const row of rows) console.log(`| ${row.join(" | ")} |`);
  if (results.length > 1) {
    const med = (f: (r: Measured) => number) => quantile(results.map(f), 0.5);
    console.log(
      `median of ${results.length}: all Bound ${s(med((r) => r.allBoundMs))}, p50 ${
        s(med((r) => r.p50BoundMs))
      }, all Ready ${s(med((r) => r.allReadyMs))}, ${
        med((r) => r.writes / r.listeners).toFixed(3)
      } writes/listener, ${med((r) => r.calls.DescribeTaskStatus ?? 0)} task polls, ${
        med((r) => r.throttled)
      } throttled, ${med(kubePerPod).toFixed(2)} API writes/Pod`,
    );
  }
  for (const r of results) {
    const calls = Object.entries(r.calls).sort(([a], [b]) => a.localeCompare(b))
      .map(([a, n]) => `${a} ${n}`).join(", ");
    console.log(`\nrun ${r.run ?? 1}:`);
    console.log(`  calls (fake, all answers): ${calls}`);
    console.log(`  ClbWriter.stats.calls: ${JSON.stringify(r.writerCalls)}`);
    console.log(
      `  cloud writes ${r.writes} (${(r.writes / r.listeners).toFixed(3)}/listener, ${
        (r.writes / r.pods).toFixed(3)
      }/Pod), reads ${r.reads}; throttled ${r.throttled}, writer retries ${r.retries}`,
    );
    const answers = Object.entries(r.answers).sort(([a], [b]) => a.localeCompare(b))
      .map(([a, codes]) => `${a} ${Object.entries(codes).map(([c, n]) => `${c} ${n}`).join(" ")}`)
      .join("; ");
    console.log(`  answers per action (client side): ${answers}`);
    console.log(`  accepted CreateListener ports per call: ${summary(r.createBatches)}`);
    console.log(`  accepted BatchRegisterTargets targets per call: ${summary(r.registerBatches)}`);
    console.log(
      `  first Bound ${s(r.firstBoundMs)}, all Bound ${s(r.allBoundMs)}, all Pods Ready ${
        s(r.allReadyMs)
      }`,
    );
    const per = (w: Record<string, number>) =>
      Object.entries(w).sort(([a], [b]) => a.localeCompare(b))
        .map(([k, n]) => `${k} ${n} (${(n / r.pods).toFixed(3)}/Pod)`).join(", ");
    console.log(`  API writes until all Ready: ${per(r.kubeWritesAtReady)}`);
    console.log(`  API writes until settled (+${SETTLE_MS / 1000} s): ${per(r.kubeWrites)}`);
    console.log(`  Events: ${JSON.stringify(r.events)}`);
    console.log(
      `  Pods by annotation patches: ${JSON.stringify(r.podPatchHistogram)}; bindings by ` +
        `status patches: ${JSON.stringify(r.bindingStatusHistogram)}`,
    );
    console.log(`  reconciles: ${JSON.stringify(r.reconciles)}`);
    console.log(
      `  listeners with the right target ${r.listenersOk} of ${r.listeners}, named in the ` +
        `Pod's result ${r.resultsOk} (fake holds ${r.listenersTotal})`,
    );
  }
}

if (Deno.env.get("CLB_POOL_BURST_CHILD")) {
  console.log(JSON.stringify(await runOnce()));
  // Nothing of the run may keep the process.
  Deno.exit(0);
} else {
  const results: Measured[] = [];
  for (let run = 1; run <= RUNS; run++) {
    console.error(
      `run ${run}: ${PODS} Pods × 1 TCPUDP line on ${POOLS} pools × ${LBS_PER_POOL} CLBs ` +
        `(${WORKERS} workers, API ${API_MS} ms, watch ${WATCH_MS} ms)`,
    );
    // A process per run, so that RSS and the event loop are its own.
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", import.meta.filename!, ...Deno.args],
      env: { CLB_POOL_BURST_CHILD: "1" },
      stdout: "piped",
      stderr: "inherit",
    }).output();
    if (!out.success) throw new Error(`run ${run} failed (exit ${out.code})`);
    const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
    results.push({ ...JSON.parse(lines[lines.length - 1]), run });
  }
  report(results);
}
