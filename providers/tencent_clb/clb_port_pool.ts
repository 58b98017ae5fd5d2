/**
 * tke-extend-network-controller v2's CLB port pools: cluster-wide
 * `CLBPortPool`s, and Pods annotated
 * `networking.cloud.tencent.com/enable-clb-port-mapping` /
 * `clb-port-mapping` (`port_mapping.ts`). For each such Pod gamenet keeps
 * a `CLBPodBinding` of the same name (owned by the Pod, with a finalizer
 * so its listeners go before it does): the spec is the annotation's
 * lines, the status the listeners made (`portBindings`) and TKE's state
 * (`Bound`, `WaitBackend`, `Disabled`, `NoPortAvailable`,
 * `PortPoolNotFound`, `PortPoolNotAllocatable`, `Failed`). The result
 * goes back to the Pod as TKE writes it (`clb-port-mapping-result`,
 * `clb-port-mapping-status: Ready`) and, for a Pod of no gamenet network
 * type, as `game.kruise.io/network-status` in OpenKruiseGame's
 * `TencentCloud-CLB` shape: one address entry per port and line, the
 * port named by its number.
 *
 * A pool's CLBs are its `exsistedLoadBalancerIDs` and those bought for it
 * (`clb_purchase.ts`); ports come from the same {@linkcode ClbPools} as
 * the `TencentCloud-CLB` type and the DedicatedCLB objects, by the pool's
 * `lbPolicy` (`port_pool_registry.ts`). The pool's status counts each
 * CLB's listeners.
 *
 * @example
 * ```ts
 * const extension = createClbPortPoolExtension({ api, writer, pools, region: "ap-guangzhou" });
 * ```
 * @module
 */

import type {
  ExtensionContext,
  ExtensionController,
  ExtensionObject,
  ProviderExtension,
} from "../extension.ts";
import type { Result } from "../result.ts";
import {
  ConfError,
  NETWORK_STATUS_ANNOTATION,
  NETWORK_TYPE_ANNOTATION,
  type NetworkAddress,
  type NetworkState,
  type NetworkStatus,
  type Pod,
} from "../types.ts";
import { podFinished, readPodStatus } from "../pod_status.ts";
import { AllocationError } from "../../allocator/errors.ts";
import type { ClbApi } from "./clb_api.ts";
import type { ClbWriter } from "./clb_writer.ts";
import type { ClbPools } from "./clb_pools.ts";
import { loadListenerQuota } from "./clb_quota.ts";
import { scanLoadBalancer } from "./clb_scan.ts";
import { parseListenerName } from "./listener_name.ts";
import { ClbPurchase, type PurchaseApi } from "./clb_purchase.ts";
import {
  ENABLE_PORT_MAPPING_ANNOTATION,
  listenerProtocols,
  mappingResult,
  parsePortMapping,
  PORT_MAPPING_ANNOTATION,
  PORT_MAPPING_RESULT_ANNOTATION,
  PORT_MAPPING_STATUS_ANNOTATION,
  type PortBinding,
  type PortEntry,
} from "./port_mapping.ts";
import { parsePortPoolSpec, type PortPoolSpec } from "./port_pool_spec.ts";
import { type PoolLb, PoolUnavailable, PortPoolRegistry } from "./port_pool_registry.ts";

/** The CRDs' group and version. */
export const PORT_POOL_API_VERSION = "networking.cloud.tencent.com/v1alpha1";
/** Plural of `CLBPortPool` (cluster-scoped). */
export const CPP_RESOURCE = "clbportpools";
/** Plural of `CLBPodBinding`. */
export const CPB_RESOURCE = "clbpodbindings";
/** Held by a binding until its listeners are deleted. */
export const CPB_FINALIZER = "gamenet.io/clb-port-pool";
/** The bindings' index of the pools their lines name. */
const POOL_INDEX = "pool";
/** The network type OpenKruiseGame's status names. */
const STATUS_NETWORK_TYPE = "TencentCloud-CLB";

/** A binding whose pool has no port looks again this often (another Pod may go). */
const NO_PORT_RETRY_MS = 5_000;
/** A binding waiting for a pool that does not exist or is refused. */
const POOL_WAIT_RETRY_MS = 30_000;
/** A Pod without an IP yet. */
const WAIT_BACKEND_MS = 2_000;
/** Binding states that a change of their pool may end. */
const WAITING_STATES = new Set<string | undefined>([
  "NoPortAvailable",
  "PortPoolNotFound",
  "PortPoolNotAllocatable",
]);
/** Bindings reconciled at once (each mostly waits for a shared, batched cloud call). */
const BINDING_WORKERS = 1_000;
/** A line whose port turned out taken in the cloud tries another this soon. */
const CLASH_RETRY_MS = 200;
/** Holds the ports of listeners gamenet did not make, found on a pool's CLBs. */
const FOREIGN_OWNER = "foreign-listener";
/** A pool's status is written at most this often (every allocation changes its counts). */
const POOL_STATUS_EVERY_MS = 2_000;
/** A pool's CLBs are described again this often (hand-made changes, CLBs deleted). */
const POOL_REFRESH_MS = 60_000;

/** Options of {@linkcode createClbPortPoolExtension}. */
export interface ClbPortPoolOptions {
  api: Pick<
    ClbApi,
    "DescribeLoadBalancers" | "DescribeQuota" | "DescribeListeners" | "DescribeTargets"
  >;
  writer: ClbWriter;
  /** Shared with the other CLB paths. */
  pools: ClbPools;
  /** gamenet's region (`--tencentcloud-region`): a pool naming another is refused for now. */
  region: string;
  /** Buys CLBs for pools with `autoCreate`. @default {a ClbPurchase on `api`} */
  purchase?: ClbPurchase;
  /** @default {Math.random} */
  random?: () => number;
  /** @default {() => {}} */
  log?: (message: string) => void;
  /** Between two looks at the pools' CLBs for orphan listeners (`--clb-sweep`). @default {60_000} */
  sweepEveryMs?: number;
}

/** The listener name of a binding's port: how a lost answer is adopted and an orphan found. */
export function bindingListenerName(
  namespace: string,
  name: string,
  port: number,
  protocol: "TCP" | "UDP",
): string {
  return `gamenet-cpb/${namespace}/${name}/${port}/${protocol}`;
}

/** The binding key a listener name belongs to, or undefined when it is not a binding's. */
export function bindingOfListener(listenerName: string | undefined): string | undefined {
  const parts = listenerName?.split("/") ?? [];
  return parts[0] === "gamenet-cpb" && parts.length === 5 ? `${parts[1]}/${parts[2]}` : undefined;
}

/** What gamenet holds for one binding (its Pod's key). */
interface Held {
  /** The listeners made, with their ids. */
  bindings: PortBinding[];
  /** Allocation owners → the pools of their line. */
  owners: Map<string, string[]>;
  /** `listenerId ip port` of targets registered. */
  targets: Set<string>;
}

/** Builds the extension. */
export function createClbPortPoolExtension(options: ClbPortPoolOptions): ProviderExtension {
  const { api, writer, pools, region } = options;
  const log = options.log ?? (() => {});
  const registry = new PortPoolRegistry(pools, { random: options.random });
  const purchase = options.purchase ??
    ("CreateLoadBalancer" in api
      ? new ClbPurchase(api as unknown as PurchaseApi, writer, { log })
      : undefined);
  const held = new Map<string, Held>();
  /** When each pool's CLBs were last described, and what was seen. */
  const described = new Map<string, { at: number; ids: string; lbs: PoolLb[] }>();
  const statusWritten = new Map<string, number>();
  /**
   * The last annotations gamenet wrote to each Pod and binding status, with
   * the version they were written over: a reconcile that runs before the
   * cache has the write compares with it, and writes nothing twice.
   */
  const podWrites = new Map<
    string,
    { resourceVersion?: string; annotations: Record<string, string> }
  >();
  const statusWrites = new Map<string, { resourceVersion?: string; status: string }>();
  /** Bindings reconciling now: the sweep leaves their listeners alone. */
  const busy = new Set<string>();

  const heldOf = (key: string): Held => {
    let h = held.get(key);
    if (!h) held.set(key, h = { bindings: [], owners: new Map(), targets: new Set() });
    return h;
  };

  // ---------------------------------------------------------------- pools

  async function describe(ids: string[]): Promise<Map<string, PoolLb>> {
    const out = new Map<string, PoolLb>();
    for (let i = 0; i < ids.length; i += 20) {
      const chunk = ids.slice(i, i + 20);
      const res = await writer.read(
        "DescribeLoadBalancers",
        () => api.DescribeLoadBalancers({ LoadBalancerIds: chunk }),
      );
      for (const lb of res.LoadBalancerSet ?? []) {
        if (!lb.LoadBalancerId) continue;
        const hostname = lb.LoadBalancerDomain || lb.Domain || undefined;
        out.set(lb.LoadBalancerId, {
          id: lb.LoadBalancerId,
          state: lb.Status === 0 ? "Creating" : "Running",
          name: lb.LoadBalancerName,
          ips: lb.LoadBalancerVips?.length ? [...lb.LoadBalancerVips] : undefined,
          hostname: hostname && !lb.LoadBalancerVips?.length ? hostname : undefined,
          addressIPVersion: lb.AddressIPVersion,
        });
      }
    }
    return out;
  }

  /** The CLBs bought for the pool, by its status and (once) by the cloud's tags. */
  function boughtOf(obj: ExtensionObject): Set<string> {
    const ids = new Set<string>();
    for (const s of obj.status?.loadbalancerStatuses ?? []) {
      if (s.autoCreated) ids.add(s.loadbalancerID);
    }
    for (const l of registry.get(obj.metadata.name)?.lbs ?? []) if (l.autoCreated) ids.add(l.id);
    return ids;
  }

  async function reconcilePool(name: string, ctx: ExtensionContext): Promise<Result> {
    const obj = ctx.get(CPP_RESOURCE, name);
    if (!obj || obj.metadata.deletionTimestamp) {
      // What Pods hold stays held (and their listeners stay) until they go;
      // nothing new comes from this pool.
      registry.delete(name);
      described.delete(name);
      wakeWaiting(ctx, name);
      return {};
    }
    const spec = parsePortPoolSpec(obj);
    if (spec.region && spec.region !== region) {
      spec.refused = [
        spec.refused,
        `region ${spec.region}: gamenet serves pools of its own region ${region} only for now`,
      ].filter(Boolean).join("; ");
    }
    const bought = boughtOf(obj);
    if (spec.autoCreate && purchase) {
      for (const id of await purchase.boughtFor(name)) bought.add(id);
    }
    const ids = [...spec.existing, ...[...bought].filter((id) => !spec.existing.includes(id))];
    const idsText = ids.join(",");
    let seen = described.get(name);
    const stale = !seen || seen.ids !== idsText || Date.now() - seen.at > POOL_REFRESH_MS ||
      seen.lbs.some((l) => l.state === "Creating");
    if (stale) {
      let found: Map<string, PoolLb>;
      try {
        found = await describe(ids);
      } catch (err) {
        log(`CLBPortPool ${name}: CLBs not read: ${(err as Error).message}`);
        return { retry: true };
      }
      seen = {
        at: Date.now(),
        ids: idsText,
        lbs: ids.map((id) => ({
          ...(found.get(id) ?? { id, state: "NotFound" as const }),
          autoCreated: bought.has(id) || undefined,
        })),
      };
      described.set(name, seen);
    }
    const lbs = seen!.lbs;
    let quota = spec.listenerQuota;
    if (quota === undefined) {
      try {
        await loadListenerQuota(api, writer, pools);
      } catch (err) {
        log(`CLBPortPool ${name}: quota not read: ${(err as Error).message}`);
      }
      quota = pools.listenerQuota;
    }
    // A CLB serves one pool (one quota, one range): the oldest pool naming it keeps it.
    const older = (other: ExtensionObject) =>
      `${other.metadata.creationTimestamp ?? ""} ${other.metadata.name}` <
        `${obj.metadata.creationTimestamp ?? ""} ${name}`;
    for (const other of ctx.list(CPP_RESOURCE)) {
      if (other.metadata.name === name || other.metadata.deletionTimestamp || !older(other)) {
        continue;
      }
      const theirs = parsePortPoolSpec(other).existing.concat(
        (registry.get(other.metadata.name)?.lbs ?? []).map((l) => l.id),
      );
      const shared = lbs.filter((l) => theirs.includes(l.id)).map((l) => l.id);
      if (shared.length > 0) {
        spec.refused = [
          spec.refused,
          `${shared.join(", ")} already serve${shared.length === 1 ? "s" : ""} CLBPortPool ` +
          `${other.metadata.name}: a CLB belongs to one pool`,
        ].filter(Boolean).join("; ");
      }
    }
    for (const lb of spec.refused ? [] : lbs) {
      try {
        pools.serveRange(
          [lb.id],
          { min: spec.startPort, max: spec.endPort },
          `CLBPortPool ${name}`,
        );
        pools.setQuota(lb.id, spec.listenerQuota);
      } catch (err) {
        if (!(err instanceof ConfError)) throw err;
        spec.refused = [spec.refused, err.message].filter(Boolean).join("; ");
      }
    }
    registry.set(spec, lbs);
    let message = spec.refused;
    let scaling = lbs.some((l) => l.state === "Creating");
    if (!spec.refused && spec.autoCreate && purchase && !scaling && short(spec, lbs, quota)) {
      const outcome = await purchase.buyFor(obj, spec, bought.size);
      if (outcome.bought) {
        await ctx.event(
          CPP_RESOURCE,
          obj,
          "Normal",
          "CreateLoadBalancer",
          `bought CLB ${outcome.bought} for the pool (${bought.size + 1} bought in all)`,
        );
        described.delete(name);
        bought.add(outcome.bought);
        lbs.push({ id: outcome.bought, state: "Creating", autoCreated: true });
        registry.set(spec, lbs);
        scaling = true;
      }
      if (outcome.message) message = outcome.message;
    }
    if (spec.refused) {
      await ctx.event(CPP_RESOURCE, obj, "Warning", "PortPoolNotAllocatable", spec.refused);
    }
    const status = {
      state: spec.refused ? "Pending" : scaling ? "Scaling" : "Active",
      ...(message ? { message } : {}),
      quota: quota ?? 0,
      loadbalancerStatuses: lbs.map((l) => ({
        ...(l.autoCreated ? { autoCreated: true } : {}),
        state: l.state,
        loadbalancerID: l.id,
        loadbalancerName: l.name ?? "",
        ...(l.ips ? { ips: l.ips } : {}),
        ...(l.hostname ? { hostname: l.hostname } : {}),
        allocated: pools.held(l.id),
        ...(l.addressIPVersion ? { addressIPVersion: l.addressIPVersion } : {}),
      })),
    };
    const result: Result = scaling ? { requeueAfterMs: 1_000 } : {};
    if (
      JSON.stringify(obj.status ?? {}) !== JSON.stringify({ ...status, message: status.message })
    ) {
      const since = Date.now() - (statusWritten.get(name) ?? 0);
      // A state change is written at once; counts at most every POOL_STATUS_EVERY_MS.
      if (obj.status?.state === status.state && since < POOL_STATUS_EVERY_MS) {
        return { requeueAfterMs: POOL_STATUS_EVERY_MS - since };
      }
      await ctx.patch(
        CPP_RESOURCE,
        "",
        name,
        { status: { ...status, message: message ?? null } },
        "status",
      );
      statusWritten.set(name, Date.now());
    }
    wakeWaiting(ctx, name);
    return result;
  }

  /** TKE's rule: short when no CLB that may get ports has room for 2 more listeners (a TCPUDP port). */
  function short(spec: PortPoolSpec, lbs: PoolLb[], quota: number | undefined): boolean {
    const open = lbs.filter((l) => l.state === "Running" && !spec.blacklist.has(l.id));
    const limit = quota ?? 50;
    return open.every((l) => limit - pools.held(l.id) < 2);
  }

  /** Bindings that wait for this pool try again. */
  function wakeWaiting(ctx: ExtensionContext, pool: string): void {
    for (const b of ctx.byIndex(CPB_RESOURCE, POOL_INDEX, pool)) {
      if (WAITING_STATES.has(b.status?.state)) ctx.enqueue("clbpodbindings", keyOf(b));
    }
  }

  // ------------------------------------------------------------- bindings

  async function unbind(
    ctx: ExtensionContext,
    key: string,
    bd: ExtensionObject | undefined,
    pod: Pod | undefined,
  ): Promise<Result> {
    const [ns, name] = splitKey(key);
    if (bd && !bd.metadata.deletionTimestamp) await ctx.delete(CPB_RESOURCE, ns, name);
    const h = held.get(key);
    const listeners = new Map<string, PortBinding>();
    for (const b of [...(bd?.status?.portBindings ?? []), ...(h?.bindings ?? [])]) {
      if (b.listenerId) listeners.set(`${b.loadbalancerId}/${b.listenerId}`, b);
    }
    const failures = (await Promise.allSettled(
      [...listeners.values()].map((b) => deleteListener(b)),
    )).filter((r) => r.status === "rejected") as PromiseRejectedResult[];
    if (failures.length > 0) {
      log(`CLBPodBinding ${key}: listeners not deleted: ${failures[0].reason?.message}`);
      return { retry: true };
    }
    for (const [owner, linePools] of h?.owners ?? []) registry.release(owner, linePools);
    for (const entry of (bd?.spec?.ports ?? []) as PortEntry[]) {
      registry.release(lineOwner(key, entry), entry.pools);
    }
    held.delete(key);
    podWrites.delete(key);
    statusWrites.delete(key);
    if (bd?.metadata.finalizers?.includes(CPB_FINALIZER)) {
      try {
        await ctx.patch(CPB_RESOURCE, ns, name, {
          metadata: {
            finalizers: bd.metadata.finalizers.filter((f) => f !== CPB_FINALIZER),
            resourceVersion: bd.metadata.resourceVersion,
          },
        });
      } catch (err) {
        if ((err as { status?: number }).status !== 404) throw err;
      }
    }
    if (pod && pod.metadata.annotations?.[PORT_MAPPING_RESULT_ANNOTATION] !== undefined) {
      await ctx.patchPod(ns, name, {
        metadata: {
          annotations: {
            [PORT_MAPPING_RESULT_ANNOTATION]: null,
            [PORT_MAPPING_STATUS_ANNOTATION]: null,
          },
        },
      }).catch(() => {});
    }
    return {};
  }

  async function deleteListener(b: PortBinding): Promise<void> {
    try {
      await writer.deleteListener(b.loadbalancerId, b.listenerId);
    } catch (err) {
      // The CLB is gone, and its listeners with it.
      if ((err as { code?: string }).code !== "InvalidParameter.LBIdNotFound") throw err;
    }
  }

  async function reconcileBinding(key: string, ctx: ExtensionContext): Promise<Result> {
    const pod = ctx.pod(key);
    const bd = ctx.get(CPB_RESOURCE, key);
    const enable = pod?.metadata.annotations?.[ENABLE_PORT_MAPPING_ANNOTATION];
    const wanted = !!pod && !podFinished(pod) && (enable === "true" || enable === "false");
    const ownerUid = bd?.metadata.ownerReferences?.find((r) => r.kind === "Pod")?.uid;
    if (bd && (bd.metadata.deletionTimestamp || !wanted || ownerUid !== pod?.metadata.uid)) {
      const result = await unbind(ctx, key, bd, wanted ? undefined : pod);
      // A Pod of the same name made anew gets its own binding once the old one is gone.
      return wanted && !result.retry ? { requeueAfterMs: 500 } : result;
    }
    if (!wanted) {
      return held.has(key) ? await unbind(ctx, key, undefined, pod) : {};
    }
    const [ns, name] = splitKey(key);
    let entries: PortEntry[];
    try {
      entries = parsePortMapping(pod.metadata.annotations?.[PORT_MAPPING_ANNOTATION] ?? "");
    } catch (err) {
      if (!(err instanceof ConfError)) throw err;
      await reportPod(ctx, pod, "Failed", err.message, []);
      return {};
    }
    const disabled = enable === "false";
    const spec = { ...(disabled ? { disabled: true } : {}), ports: entries.map(specEntry) };
    let binding = bd;
    if (!binding) {
      try {
        binding = await ctx.create(CPB_RESOURCE, ns, {
          metadata: {
            name,
            namespace: ns,
            labels: { "app.kubernetes.io/managed-by": "gamenet" },
            finalizers: [CPB_FINALIZER],
            ownerReferences: [{
              apiVersion: "v1",
              kind: "Pod",
              name,
              uid: pod.metadata.uid!,
              // No blockOwnerDeletion: the finalizer already holds the binding
              // until its listeners are gone, and it would need pods/finalizers.
            }],
          },
          spec,
        });
      } catch (err) {
        // Made a moment ago (the cache is behind), or an old one still going.
        if ((err as { status?: number }).status === 409) return { requeueAfterMs: 500 };
        throw err;
      }
    } else if (JSON.stringify(binding.spec ?? {}) !== JSON.stringify(spec)) {
      await ctx.patch(CPB_RESOURCE, ns, name, {
        spec: { disabled: disabled || null, ports: spec.ports },
      });
    }
    busy.add(key);
    try {
      return await bind(ctx, key, pod, binding!, entries, disabled);
    } finally {
      busy.delete(key);
    }
  }

  async function bind(
    ctx: ExtensionContext,
    key: string,
    pod: Pod,
    bd: ExtensionObject,
    entries: PortEntry[],
    disabled: boolean,
  ): Promise<Result> {
    const [ns, name] = splitKey(key);
    try {
      // Without the account's listener quota a CLB would look unbounded.
      await loadListenerQuota(api, writer, pools);
    } catch (err) {
      log(`CLBPodBinding ${key}: quota not read: ${(err as Error).message}`);
      return { retry: true };
    }
    const h = heldOf(key);
    const wantedBindings: PortBinding[] = [];
    const owners = new Map<string, string[]>();
    let problem: { state: string; message: string } | undefined;
    const lineOf = new Map<PortBinding, string>();
    let result: Result = {};
    for (const entry of entries) {
      if (entry.protocol === "TCP_SSL" || entry.protocol === "QUIC") {
        problem ??= {
          state: "Failed",
          message: `port ${entry.port} ${entry.protocol}: TLS listeners (certSecret) are not ` +
            "supported by gamenet yet; map it as TCP or UDP",
        };
        continue;
      }
      const owner = lineOwner(key, entry);
      owners.set(owner, entry.pools);
      try {
        const allocate = () =>
          registry.allocate(
            owner,
            entry.pools,
            entry.protocol as "TCP" | "UDP" | "TCPUDP",
            entry.useSamePortAcrossPools === true,
          );
        let allocations;
        try {
          allocations = allocate();
        } catch (err) {
          if (!(err instanceof AllocationError && err.code === "owner-mismatch")) throw err;
          // The line's pools changed under the same port and protocol: start it again.
          registry.release(owner, entry.pools);
          allocations = allocate();
        }
        for (const a of allocations) {
          for (const p of a.ports) {
            for (const protocol of listenerProtocols(entry.protocol)) {
              const w = {
                port: entry.port,
                protocol,
                pool: a.pool,
                region,
                loadbalancerId: a.lb,
                loadbalancerPort: p.port,
                listenerId: "",
              };
              wantedBindings.push(w);
              lineOf.set(w, owner);
            }
          }
        }
      } catch (err) {
        if (!(err instanceof PoolUnavailable)) throw err;
        problem ??= { state: err.state, message: err.message };
        result = {
          requeueAfterMs: err.state === "NoPortAvailable" ? NO_PORT_RETRY_MS : POOL_WAIT_RETRY_MS,
        };
        // A pool out of ports may buy a CLB.
        if (err.state === "NoPortAvailable") ctx.enqueue("clbportpools", err.pool);
      }
    }
    // Lines gone from the annotation give their ports and listeners back.
    for (const [owner, linePools] of h.owners) {
      if (!owners.has(owner)) registry.release(owner, linePools);
    }
    h.owners = owners;
    const sameListener = (a: PortBinding, b: PortBinding) =>
      a.loadbalancerId === b.loadbalancerId && a.loadbalancerPort === b.loadbalancerPort &&
      a.protocol === b.protocol && a.port === b.port && a.pool === b.pool;
    const known = [...h.bindings];
    for (const b of (bd.status?.portBindings ?? []) as PortBinding[]) {
      if (b.listenerId && !known.some((k) => sameListener(k, b))) known.push(b);
    }
    const stale = known.filter((k) =>
      !wantedBindings.some((w) => sameListener(w, k)) &&
      // A line waiting for its pool keeps what it has.
      !(problem && entries.some((e) => e.port === k.port && e.pools.includes(k.pool)) &&
        !wantedBindings.some((w) => w.port === k.port && w.pool === k.pool))
    );
    const kept = known.filter((k) => !stale.includes(k));
    await Promise.all(stale.map(deleteListener));
    for (const w of wantedBindings) {
      w.listenerId = kept.find((k) => sameListener(k, w))?.listenerId ?? "";
    }
    const bound = kept.filter((k) => !wantedBindings.some((w) => sameListener(w, k)));
    // Only a change of what is held moves the pools' counts.
    const moved = stale.length > 0 || wantedBindings.some((w) => !w.listenerId);
    const failures: string[] = [];
    let clashed = false;
    await Promise.all(
      wantedBindings.filter((w) => !w.listenerId).map(async (w) => {
        try {
          w.listenerId = await writer.createListener(w.loadbalancerId, {
            port: w.loadbalancerPort,
            protocol: w.protocol,
            name: bindingListenerName(ns, name, w.port, w.protocol),
          });
        } catch (err) {
          if ((err as { code?: string }).code === "InvalidParameter.PortCheckFailed") {
            // Someone else's listener (made by hand, or by another controller)
            // holds the port: it is theirs from now on, and the line gets another.
            registry.release(lineOf.get(w)!, [w.pool]);
            pools.claim(w.loadbalancerId, w.loadbalancerPort, w.protocol, FOREIGN_OWNER);
            clashed = true;
            return;
          }
          failures.push(
            `${w.loadbalancerId} ${w.protocol} ${w.loadbalancerPort}: ${(err as Error).message}`,
          );
          if ((err as { code?: string }).code === "InvalidParameter.LBIdNotFound") {
            described.delete(w.pool);
            ctx.enqueue("clbportpools", w.pool);
          }
        }
      }),
    );
    h.bindings = [...bound, ...wantedBindings.filter((w) => w.listenerId)];
    // Targets: the Pod IP behind every listener, or none while disabled.
    const ip = pod.status?.podIP;
    const target = (b: PortBinding) => `${b.listenerId} ${ip} ${b.port}`;
    if (!disabled && ip) {
      await Promise.all(
        h.bindings.filter((b) => !h.targets.has(target(b))).map(async (b) => {
          try {
            await writer.registerTarget(b.loadbalancerId, {
              listenerId: b.listenerId,
              ip,
              port: b.port,
            });
            h.targets.add(target(b));
          } catch (err) {
            failures.push(`target ${ip}:${b.port} on ${b.listenerId}: ${(err as Error).message}`);
          }
        }),
      );
    }
    for (const t of [...h.targets]) {
      const [listenerId, tip, port] = t.split(" ");
      const b = h.bindings.find((x) => x.listenerId === listenerId);
      if (!disabled && tip === ip && b) continue;
      try {
        if (b) {
          await writer.deregisterTarget(b.loadbalancerId, {
            listenerId,
            ip: tip,
            port: Number(port),
          });
        }
        h.targets.delete(t);
      } catch (err) {
        failures.push(`target ${tip}:${port} on ${listenerId}: ${(err as Error).message}`);
      }
    }
    let state: string;
    let message = "";
    if (problem) [state, message] = [problem.state, problem.message];
    else if (failures.length > 0) [state, message] = ["Failed", failures.join("; ")];
    else if (disabled) state = "Disabled";
    else if (!ip) state = "WaitBackend";
    else state = "Bound";
    if (failures.length > 0 && !problem) result = { retry: true };
    if (clashed && !problem && failures.length === 0) {
      state = "Pending";
      result = { requeueAfterMs: CLASH_RETRY_MS };
    }
    if (state === "WaitBackend") result = { requeueAfterMs: WAIT_BACKEND_MS };
    const status = { state, ...(message ? { message } : {}), portBindings: h.bindings };
    const written = statusWrites.get(key);
    const seen = written && written.resourceVersion === bd.metadata.resourceVersion
      ? written.status
      : JSON.stringify(bd.status ?? {});
    if (seen !== JSON.stringify(status)) {
      await ctx.patch(CPB_RESOURCE, ns, name, {
        status: { ...status, message: message || null },
      }, "status");
      statusWrites.set(key, {
        resourceVersion: bd.metadata.resourceVersion,
        status: JSON.stringify(status),
      });
    }
    if (moved) {
      for (const pool of new Set([...h.bindings, ...stale].map((b) => b.pool))) {
        ctx.enqueue("clbportpools", pool);
      }
    }
    await reportPod(
      ctx,
      pod,
      state,
      message,
      state === "Bound" || state === "Disabled" ? h.bindings : [],
    );
    return result;
  }

  /** The Pod's annotations: TKE's result and status, and OpenKruiseGame's network status. */
  async function reportPod(
    ctx: ExtensionContext,
    pod: Pod,
    state: string,
    message: string,
    bindings: PortBinding[],
  ): Promise<void> {
    const [ns, name] = splitKey(keyOf(pod));
    // Until the cache has seen gamenet's last write, that write is what the Pod holds.
    const mine = podWrites.get(keyOf(pod));
    const annotations = mine && mine.resourceVersion === pod.metadata.resourceVersion
      ? { ...pod.metadata.annotations, ...mine.annotations }
      : pod.metadata.annotations ?? {};
    const patch: Record<string, string | null> = {};
    const ready = state === "Bound" || state === "Disabled";
    const results = bindings.map((b) =>
      mappingResult(b, registry.lb(b.pool, b.loadbalancerId) ?? {})
    );
    if (ready) {
      const text = JSON.stringify(results);
      if (annotations[PORT_MAPPING_RESULT_ANNOTATION] !== text) {
        patch[PORT_MAPPING_RESULT_ANNOTATION] = text;
      }
    }
    const mappingStatus = ready ? "Ready" : state;
    if (annotations[PORT_MAPPING_STATUS_ANNOTATION] !== mappingStatus) {
      patch[PORT_MAPPING_STATUS_ANNOTATION] = mappingStatus;
    }
    // A Pod of a gamenet network type gets its network status from that type.
    if (!annotations[NETWORK_TYPE_ANNOTATION]) {
      const status = networkStatus(pod, annotations, state, results);
      if (status) patch[NETWORK_STATUS_ANNOTATION] = status;
    }
    if (Object.keys(patch).length > 0) {
      await ctx.patchPod(ns, name, { metadata: { annotations: patch } });
      podWrites.set(keyOf(pod), {
        resourceVersion: pod.metadata.resourceVersion,
        annotations: { ...(mine?.annotations ?? {}), ...patch } as Record<string, string>,
      });
    }
    if (!ready && state !== "WaitBackend" && message) {
      await ctx.event("pods", pod, "Warning", state, message);
    }
  }

  /** OpenKruiseGame's status for `TencentCloud-CLB`: one entry per mapping; undefined when unchanged. */
  function networkStatus(
    pod: Pod,
    seenAnnotations: Record<string, string>,
    state: string,
    results: ReturnType<typeof mappingResult>[],
  ): string | undefined {
    const current = readPodStatus({
      ...pod,
      metadata: { ...pod.metadata, annotations: seenAnnotations },
    });
    const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    const cur: NetworkState = state === "Bound"
      ? "Ready"
      : state === "WaitBackend" && !current
      ? "Waiting"
      : "NotReady";
    const desired: NetworkState = state === "Disabled" ? "NotReady" : "Ready";
    const internal: NetworkAddress[] = [];
    const external: NetworkAddress[] = [];
    if (state === "Bound" || state === "Disabled") {
      for (const r of results) {
        const portName = String(r.port);
        internal.push({
          ip: pod.status?.podIP ?? "",
          ports: [{ name: portName, port: r.port, protocol: r.protocol }],
        });
        external.push({
          ip: r.ips?.[0] ?? "",
          ports: [{ name: portName, port: r.loadbalancerPort, protocol: r.protocol }],
          ...(r.hostname ? { endPoint: r.hostname } : {}),
        });
      }
    }
    const same = current?.currentNetworkState === cur && current?.desiredNetworkState === desired;
    const next: NetworkStatus = {
      networkType: STATUS_NETWORK_TYPE,
      currentNetworkState: cur,
      desiredNetworkState: desired,
      createTime: current?.createTime ?? now,
      lastTransitionTime: same && current?.lastTransitionTime ? current.lastTransitionTime : now,
      internalAddresses: internal,
      externalAddresses: external,
    };
    if (
      current && same && JSON.stringify(current.internalAddresses) === JSON.stringify(internal) &&
      JSON.stringify(current.externalAddresses) === JSON.stringify(external) &&
      current.networkType === STATUS_NETWORK_TYPE
    ) return undefined;
    return JSON.stringify(next);
  }

  /**
   * Reads the pools' CLBs back at start: the targets behind the listeners
   * bindings hold (so they are not registered again), and listeners made
   * just before a crash whose binding status was never written, taken
   * back by their name so that their port is not handed out again nor the
   * listener made twice. What no binding can claim is left to the sweep.
   */
  async function adoptListeners(ctx: ExtensionContext): Promise<void> {
    const poolOf = new Map<string, string>();
    for (const pool of registry.names()) {
      for (const l of registry.get(pool)!.lbs) poolOf.set(l.id, pool);
    }
    await Promise.all([...poolOf].map(async ([lb, pool]) => {
      let listeners;
      try {
        listeners = await scanLoadBalancer(api, writer, lb);
      } catch (err) {
        log(`CLB ${lb}: not read at start: ${(err as Error).message}`);
        return;
      }
      for (const l of listeners) {
        const key = bindingOfListener(l.name);
        if (!key && !parseListenerName(l.name) && (l.protocol === "TCP" || l.protocol === "UDP")) {
          // Made by hand: its port is not ours to give.
          pools.claim(lb, l.port, l.protocol, FOREIGN_OWNER);
          continue;
        }
        const bd = key && ctx.get(CPB_RESOURCE, key);
        if (!key || !bd) continue;
        const h = heldOf(key);
        if (!h.bindings.some((b) => b.listenerId === l.listenerId)) {
          const port = Number(l.name.split("/")[3]);
          const protocol = l.protocol as "TCP" | "UDP";
          const entry = ((bd.spec?.ports ?? []) as PortEntry[]).find((e) =>
            e.port === port && listenerProtocols(e.protocol).includes(protocol) &&
            e.pools.includes(pool)
          );
          if (!entry) continue;
          const owner = lineOwner(key, entry);
          const other = registry.restore(
            owner,
            pool,
            lb,
            l.port,
            entry.protocol === "TCPUDP" ? "TCPUDP" : protocol,
            entry.useSamePortAcrossPools === true && entry.pools.length > 1,
          );
          if (other !== undefined) continue;
          h.owners.set(owner, entry.pools);
          h.bindings.push({
            port,
            protocol,
            pool,
            region,
            loadbalancerId: lb,
            loadbalancerPort: l.port,
            listenerId: l.listenerId,
          });
        }
        for (const t of l.targets) h.targets.add(`${l.listenerId} ${t.ip} ${t.port}`);
      }
    }));
  }

  const poolController: ExtensionController = {
    name: "clbportpools",
    resource: CPP_RESOURCE,
    reconcile: (key, ctx) => reconcilePool(key, ctx),
  };

  const bindingController: ExtensionController = {
    name: "clbpodbindings",
    resource: CPB_RESOURCE,
    // A reconcile waits for the cloud calls its listeners share with the
    // others': with 64 in flight a CreateListener carried ~6 ports (0.27
    // writes per Pod port in the 1,000-Pod burst), with every Pod in flight ~42 (0.028).
    workers: BINDING_WORKERS,
    keysForPod(pod, ctx) {
      const key = keyOf(pod);
      return pod.metadata.annotations?.[ENABLE_PORT_MAPPING_ANNOTATION] !== undefined ||
          held.has(key) || ctx.get(CPB_RESOURCE, key)
        ? [key]
        : [];
    },
    reconcile: (key, ctx) => reconcileBinding(key, ctx),
  };

  return {
    kinds: [
      {
        apiVersion: PORT_POOL_API_VERSION,
        resource: CPP_RESOURCE,
        kind: "CLBPortPool",
        clusterScoped: true,
      },
      {
        apiVersion: PORT_POOL_API_VERSION,
        resource: CPB_RESOURCE,
        kind: "CLBPodBinding",
        indexes: {
          [POOL_INDEX]: (obj) => [
            ...new Set(((obj.spec?.ports ?? []) as PortEntry[]).flatMap((p) => p.pools ?? [])),
          ],
        },
      },
    ],
    controllers: [poolController, bindingController],
    sweepEveryMs: options.sweepEveryMs ?? 60_000,

    /** The pools as their objects say (CLBs assumed running until described), then what bindings hold. */
    async restore(ctx) {
      // Before any binding allocates: a CLB of unknown quota takes every Pod.
      await loadListenerQuota(api, writer, pools).catch((err) =>
        log(`CLB listener quota not read at start: ${(err as Error).message}`)
      );
      for (const obj of ctx.list(CPP_RESOURCE)) {
        const spec = parsePortPoolSpec(obj);
        const lbs: PoolLb[] = [
          ...spec.existing.map((id) => ({ id, state: "Running" as const })),
          ...[...boughtOf(obj)].filter((id) => !spec.existing.includes(id)).map((id) => ({
            id,
            state: "Running" as const,
            autoCreated: true,
          })),
        ];
        const known = new Map(
          ((obj.status?.loadbalancerStatuses ?? []) as {
            loadbalancerID: string;
            ips?: string[];
            hostname?: string;
            loadbalancerName?: string;
          }[]).map((s) => [s.loadbalancerID, s]),
        );
        for (const lb of lbs) {
          const s = known.get(lb.id);
          if (s) Object.assign(lb, { ips: s.ips, hostname: s.hostname, name: s.loadbalancerName });
        }
        registry.set(spec, lbs);
      }
      for (const bd of ctx.list(CPB_RESOURCE)) {
        const key = keyOf(bd);
        const entries = (bd.spec?.ports ?? []) as PortEntry[];
        const h = heldOf(key);
        for (const b of (bd.status?.portBindings ?? []) as PortBinding[]) {
          const entry = entries.find((e) =>
            e.port === b.port && listenerProtocols(e.protocol).includes(b.protocol) &&
            e.pools.includes(b.pool)
          );
          if (!b.listenerId) continue;
          h.bindings.push(b);
          if (!entry) continue;
          const owner = lineOwner(key, entry);
          h.owners.set(owner, entry.pools);
          const same = entry.useSamePortAcrossPools === true && entry.pools.length > 1;
          // A TCPUDP line holds its number in both spaces as one port, as it was allocated.
          const protocol = entry.protocol === "TCPUDP" ? "TCPUDP" : b.protocol;
          const other = registry.restore(
            owner,
            b.pool,
            b.loadbalancerId,
            b.loadbalancerPort,
            protocol,
            same,
          );
          if (other !== undefined) {
            log(
              `CLBPodBinding ${key}: ${b.loadbalancerId} ${b.protocol} ${b.loadbalancerPort} is also held by ${other}`,
            );
          }
        }
      }
      await adoptListeners(ctx);
    },

    /** Listeners named after a binding that holds them no more are deleted (a crash between create and status). */
    async sweep(ctx) {
      const lbs = new Set<string>();
      for (const pool of registry.names()) {
        for (const l of registry.get(pool)!.lbs) if (l.state === "Running") lbs.add(l.id);
        ctx.enqueue("clbportpools", pool);
      }
      for (const lb of lbs) {
        try {
          for (const l of await scanLoadBalancer(api, writer, lb)) {
            const key = bindingOfListener(l.name);
            if (!key || busy.has(key)) continue;
            if (held.get(key)?.bindings.some((b) => b.listenerId === l.listenerId)) continue;
            if (
              ctx.get(CPB_RESOURCE, key)?.status?.portBindings?.some((b: PortBinding) =>
                b.listenerId === l.listenerId
              )
            ) continue;
            log(`CLB ${lb}: deleting listener ${l.listenerId} (${l.name}): no binding holds it`);
            await writer.deleteListener(lb, l.listenerId);
          }
        } catch (err) {
          log(`CLB ${lb}: not read: ${(err as Error).message}`);
        }
      }
      if (purchase) await purchase.collect(ctx, (id) => pools.held(id) > 0, registry.names());
    },
  };
}

function specEntry(e: PortEntry): Record<string, unknown> {
  return {
    port: e.port,
    protocol: e.protocol,
    pools: e.pools,
    ...(e.useSamePortAcrossPools ? { useSamePortAcrossPools: true } : {}),
    ...(e.certSecretName ? { certSecretName: e.certSecretName } : {}),
  };
}

/** One line's allocation owner: the binding, the port and its protocol. */
function lineOwner(key: string, entry: PortEntry): string {
  return `cpb:${key}#${entry.port}/${entry.protocol}`;
}

function keyOf(obj: { metadata: { namespace?: string; name?: string } }): string {
  return `${obj.metadata.namespace ?? ""}/${obj.metadata.name ?? ""}`;
}

function splitKey(key: string): [string, string] {
  const i = key.indexOf("/");
  return [key.slice(0, i), key.slice(i + 1)];
}
