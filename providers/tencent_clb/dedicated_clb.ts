/**
 * `DedicatedCLBService` and `DedicatedCLBListener`
 * (`networking.cloud.tencent.com/v1alpha1`, the objects of
 * tke-extend-network-controller): a service selects Pods and names ports
 * and CLBs; gamenet makes one listener object per selected Pod and port,
 * with a port from the same {@linkcode ClbPools} the `TencentCloud-CLB`
 * type uses; each listener object gets its cloud listener, the Pod IP as
 * target, and `status.state` `Pending` → `Bound` (or `Available` without
 * a backend Pod), `Deleting` while its finalizer deletes the cloud
 * listener, `Failed` with a message when the cloud or the input refuses.
 * The service writes each address to the Pod annotation its port names.
 *
 * Every call for an object goes to the region of its `lbRegion`
 * ({@linkcode ClbRegions}). The service's `listenerExtensiveParameters`
 * (JSON of further `CreateListener` fields, copied to each listener
 * object as `extensiveParameters`) go with the listener's creation;
 * `listenerConfig`, which names a `CLBListenerConfig` object of
 * tke-extend-network-controller's first API, is refused with a message:
 * gamenet has no such kind.
 *
 * A listener reconcile does not wait for its `CreateListener`: it hands
 * the create to the writer and the key comes back when it is done, so the
 * creates of a burst of listener objects queue together and share calls
 * (one `CreateListener` carries up to 49 ports) instead of each holding a
 * worker. A CLB that the cloud no longer knows (deleted by hand) takes no
 * cloud listener with it: its listener objects' finalizers go without a
 * call, and its live listener objects move to another CLB of their
 * service, or are `Failed` when the service names no other.
 *
 * @example
 * ```ts
 * const extension = createDedicatedClbExtension({ api, writer, pools });
 * ```
 * @module
 */

import { AllocationError } from "../../allocator/errors.ts";
import {
  type ExtensionContext,
  type ExtensionController,
  type ExtensionObject,
  OWNER_INDEX,
  type ProviderExtension,
} from "../extension.ts";
import type { Result } from "../result.ts";
import { ConfError, type Pod } from "../types.ts";
import { podFinished } from "../pod_status.ts";
import type { ClbReadApi } from "./clb_api.ts";
import { ClbError } from "./clb_api.ts";
import type { ClbWriter } from "./clb_writer.ts";
import type { ClbPools } from "./clb_pools.ts";
import { type CloudTarget, scanLoadBalancer } from "./clb_scan.ts";
import { loadListenerQuota } from "./clb_quota.ts";
import { ClbVips } from "./clb_vips.ts";
import { type ClbRegion, ClbRegions } from "./clb_regions.ts";
import { ClbTargets } from "./clb_targets.ts";
import { dclListenerName, parseListenerName } from "./listener_name.ts";

/** The CRDs' group and version. */
export const CLB_API_VERSION = "networking.cloud.tencent.com/v1alpha1";
/** Plural of `DedicatedCLBService`. */
export const DCS_RESOURCE = "dedicatedclbservices";
/** Plural of `DedicatedCLBListener`. */
export const DCL_RESOURCE = "dedicatedclblisteners";
/** On a listener object: the service that made it. */
export const DCS_LABEL = "networking.cloud.tencent.com/dedicatedclbservice";
/** On a listener object: its backend Pod. */
export const BACKEND_POD_LABEL = "networking.cloud.tencent.com/backend-pod";
/** Held by a listener object until its cloud listener is deleted. */
export const DCL_FINALIZER = "gamenet.io/clb-listener";
/**
 * The listener objects' index of their backend Pod (`namespace/name`),
 * from `spec.backendPod`: the label is gamenet's, a listener object
 * written by hand may lack it.
 *
 * @example
 * ```ts
 * ctx.byIndex(DCL_RESOURCE, BACKEND_POD_INDEX, "demo/gameserver-0");
 * ```
 */
export const BACKEND_POD_INDEX = "backendPod";

/** A listener object whose cloud write failed in a way that may pass is looked at again. */
const FAILED_RETRY_MS = 60_000;
/** A service that found no free port looks again this often. */
const EXHAUSTED_RETRY_MS = 5_000;
/** What the cloud answers about a CLB id its region does not have. */
const LB_NOT_FOUND = "InvalidParameter.LBIdNotFound";
/** `CreateListener` fields the writer sets; `extensiveParameters` may not. */
const WRITER_FIELDS = ["LoadBalancerId", "Ports", "Protocol", "ListenerNames"];
const SERVICES = "dedicatedclbservices";
const LISTENERS = "dedicatedclblisteners";

/** Options of {@linkcode createDedicatedClbExtension}. */
export interface DedicatedClbOptions {
  /** The region gamenet runs with: its reads. */
  api: ClbReadApi;
  /** The region gamenet runs with: its writes. */
  writer: ClbWriter;
  /** The same pools as the `TencentCloud-CLB` type's. */
  pools: ClbPools;
  /** Shared with the `TencentCloud-CLB` type. @default {new ClbVips(api, writer)} */
  vips?: ClbVips;
  /**
   * Every region an `lbRegion` names; its home region must be `api`'s.
   * @default {one region: `api`, `writer` and `vips` answer for every lbRegion}
   */
  regions?: ClbRegions;
  /** How long a CLB's targets read waits for others of the same CLB. @default {20} */
  targetsLingerMs?: number;
  /** How often listeners whose object is gone are looked for. @default {60_000} */
  sweepEveryMs?: number;
  /** @default {() => {}} */
  log?: (message: string) => void;
}

type Protocol = "TCP" | "UDP";

interface ServicePort {
  protocol: Protocol;
  targetPort: number;
  addressPodAnnotation?: string;
}

/** A `CreateListener` handed to the writer; its end brings the object's key back. */
interface Flight {
  /** Settles (never rejects) when the writer answered. */
  done: Promise<void>;
  settled: boolean;
  id?: string;
  error?: unknown;
}

/** The listener object's name for a Pod's port (lower case, as object names must be). */
export function dclName(pod: string, port: { protocol: string; targetPort: number }): string {
  return `${pod}-${port.protocol.toLowerCase()}-${port.targetPort}`;
}

const keyOf = (o: { metadata: { namespace?: string; name?: string } }) =>
  `${o.metadata.namespace ?? ""}/${o.metadata.name ?? ""}`;

/** The value a listener object is found under in {@linkcode BACKEND_POD_INDEX}. */
function backendPodOf(dcl: ExtensionObject): string[] {
  const pod = dcl.spec?.backendPod?.podName;
  return typeof pod === "string" && pod ? [`${dcl.metadata.namespace ?? ""}/${pod}`] : [];
}

const live = (pod: Pod) => !podFinished(pod);

/** The cloud says the CLB is not in the region (deleted, or a wrong id or region). */
function clbGone(err: unknown): boolean {
  return (err instanceof ClbError && err.code === LB_NOT_FOUND) ||
    (err instanceof ConfError && err.reason === "ClbNotFound");
}

const statusOf = (err: unknown) => (err as { status?: number }).status;

/**
 * The further `CreateListener` fields a listener object asks for: its
 * `extensiveParameters`, a JSON object (the service's
 * `listenerExtensiveParameters`). A `listenerConfig` is refused: it names
 * a `CLBListenerConfig` object of tke-extend-network-controller's first
 * API, a kind gamenet does not have, and ignoring it would create a
 * listener other than the one asked for.
 *
 * @example
 * ```ts
 * listenerParameters({ metadata: { name: "gs-0-udp-7777", namespace: "demo" },
 *   spec: { extensiveParameters: '{"Scheduler":"LEAST_CONN"}' } }); // { Scheduler: "LEAST_CONN" }
 * ```
 * @throws {ConfError} `ListenerConfigUnsupported`, `InvalidExtensiveParameters`
 */
export function listenerParameters(dcl: ExtensionObject): Record<string, unknown> {
  const what = `DedicatedCLBListener ${keyOf(dcl)}`;
  const config = dcl.spec?.listenerConfig;
  if (config) {
    throw new ConfError(
      `${what}: listenerConfig "${config}" names a CLBListenerConfig object, a kind of ` +
        "tke-extend-network-controller's first API that gamenet does not have; remove " +
        "listenerConfig and give the listener's CreateListener fields as JSON in the " +
        `DedicatedCLBService's listenerExtensiveParameters (e.g. '{"Scheduler":"WRR"}')`,
      "ListenerConfigUnsupported",
    );
  }
  const text = dcl.spec?.extensiveParameters;
  if (text === undefined || text === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ConfError(
      `${what}: extensiveParameters ${JSON.stringify(text)} is not JSON ` +
        `(${(err as Error).message}); write an object of CreateListener fields, e.g. ` +
        `{"HealthCheck":{"HealthSwitch":1}}`,
      "InvalidExtensiveParameters",
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ConfError(
      `${what}: extensiveParameters ${JSON.stringify(text)} must be a JSON object of ` +
        "CreateListener fields",
      "InvalidExtensiveParameters",
    );
  }
  const taken = WRITER_FIELDS.filter((f) => Object.hasOwn(value, f));
  if (taken.length > 0) {
    throw new ConfError(
      `${what}: extensiveParameters sets ${taken.join(", ")}, which gamenet sets from the ` +
        "listener object; remove them",
      "InvalidExtensiveParameters",
    );
  }
  return value as Record<string, unknown>;
}

/** Creates the extension. */
export function createDedicatedClbExtension(options: DedicatedClbOptions): ProviderExtension {
  const { pools } = options;
  const log = options.log ?? (() => {});
  const regions = options.regions ?? new ClbRegions({
    region: "",
    home: {
      api: options.api,
      writer: options.writer,
      vips: options.vips ?? new ClbVips(options.api, options.writer),
    },
  });
  /** Listener objects being reconciled. */
  const busy = new Set<string>();
  /** Targets registered behind each listener object's cloud listener, as far as known. */
  const targetsOf = new Map<string, CloudTarget[]>();
  /** Creates under way or answered but not yet taken in, by listener object. */
  const flights = new Map<string, Flight>();
  /** Listener ids from this process's creates: the cache may not show them in status yet. */
  const created = new Map<string, string>();
  /** Listener objects whose listener the sweep no longer found (deleted by hand). */
  const missing = new Set<string>();
  /**
   * Listeners deleted, and when: a second delete of the same listener
   * answers `ListenerIdNotFound`, which also makes the writer re-read the
   * other deletes of its batch (a stale finalizer pass, a sweep that read
   * the CLB before the finalizer ran).
   */
  const deletedAt = new Map<string, number>();
  /** The object (uid) whose finalizer this process removed, by key: a stale copy is done. */
  const finalized = new Map<string, string>();
  /** CLBs the cloud does not know, per region. */
  const gone = new Map<ClbRegion, Set<string>>();
  const targetReaders = new Map<ClbRegion, ClbTargets>();

  const isGone = (region: ClbRegion, lb: string) => gone.get(region)?.has(lb) ?? false;
  const targetsIn = (region: ClbRegion) => {
    let reader = targetReaders.get(region);
    if (!reader) {
      reader = new ClbTargets(region.api, region.writer, { lingerMs: options.targetsLingerMs });
      targetReaders.set(region, reader);
    }
    return reader;
  };

  /** Forgets what was known of a listener object's cloud listener. */
  function forget(key: string): void {
    targetsOf.delete(key);
    created.delete(key);
    missing.delete(key);
    flights.delete(key);
  }

  /**
   * The cloud does not know `lb`: every listener object on it and every
   * service naming it is looked at again (finalizers go without a call,
   * live objects move or fail).
   */
  function markGone(ctx: ExtensionContext, region: ClbRegion, lb: string): void {
    let set = gone.get(region);
    if (!set) gone.set(region, set = new Set());
    if (set.has(lb)) return;
    set.add(lb);
    log(
      `CLB ${lb}: the cloud does not know it (${LB_NOT_FOUND}); its listener objects move or fail`,
    );
    for (const dcl of ctx.list(DCL_RESOURCE)) {
      if (dcl.spec?.lbId === lb && regions.of(dcl.spec?.lbRegion) === region) {
        ctx.enqueue(LISTENERS, keyOf(dcl));
      }
    }
    for (const dcs of ctx.list(DCS_RESOURCE)) {
      if ((dcs.spec?.existedLbIds ?? []).includes(lb)) ctx.enqueue(SERVICES, keyOf(dcs));
    }
  }

  /** The CLBs to read back, by region: those the services name and those the objects use. */
  function clbsByRegion(ctx: ExtensionContext): Map<ClbRegion, Set<string>> {
    const out = new Map<ClbRegion, Set<string>>();
    const add = (regionName: string | undefined, lb: string | undefined) => {
      if (!lb) return;
      const region = regions.of(regionName);
      let set = out.get(region);
      if (!set) out.set(region, set = new Set());
      set.add(lb);
    };
    for (const dcs of ctx.list(DCS_RESOURCE)) {
      for (const lb of dcs.spec?.existedLbIds ?? []) add(dcs.spec?.lbRegion, lb);
    }
    for (const dcl of ctx.list(DCL_RESOURCE)) add(dcl.spec?.lbRegion, dcl.spec?.lbId);
    return out;
  }

  /**
   * Reads every CLB back: deletes the listeners named after a listener
   * object that is gone, brings back the objects whose listener was
   * deleted by hand, and notes the CLBs the cloud no longer knows. The
   * objects are looked at before the cloud is read: an object always
   * exists before its listener and goes after it, so a listener seen
   * without its object is an orphan, and a listener id an object had
   * before the read and the read lacks is gone.
   */
  async function readBack(ctx: ExtensionContext): Promise<void> {
    const started = Date.now();
    const before = new Map<string, { key: string; id: string }[]>();
    for (const dcl of ctx.list(DCL_RESOURCE)) {
      const id = created.get(keyOf(dcl)) ?? dcl.status?.listenerId;
      if (!id || dcl.metadata.deletionTimestamp) continue;
      const at = `${dcl.spec?.lbRegion ?? ""}/${dcl.spec?.lbId}`;
      before.set(at, [...before.get(at) ?? [], { key: keyOf(dcl), id }]);
    }
    for (const [region, lbs] of clbsByRegion(ctx)) {
      for (const lb of lbs) {
        if (isGone(region, lb)) continue;
        let listeners;
        try {
          listeners = await scanLoadBalancer(region.api, region.writer, lb);
        } catch (err) {
          if (clbGone(err)) markGone(ctx, region, lb);
          else log(`CLB ${lb}: not read: ${(err as Error).message}`);
          continue;
        }
        for (const l of listeners) {
          const parsed = parseListenerName(l.name);
          if (parsed?.kind !== "dcl") continue;
          const key = `${parsed.namespace}/${parsed.name}`;
          if (ctx.get(DCL_RESOURCE, key) || busy.has(key) || flights.has(key)) continue;
          if (deletedAt.has(l.listenerId)) continue;
          log(`CLB ${lb}: deleting listener ${l.listenerId} (${l.name}): its object is gone`);
          try {
            await region.writer.deleteListener(lb, l.listenerId);
            deletedAt.set(l.listenerId, Date.now());
          } catch (err) {
            log(`CLB ${lb}: listener ${l.listenerId} not deleted: ${(err as Error).message}`);
          }
        }
        const ids = new Set(listeners.map((l) => l.listenerId));
        for (const [at, objects] of before) {
          if (!at.endsWith(`/${lb}`)) continue;
          for (const { key, id } of objects) {
            const dcl = ctx.get(DCL_RESOURCE, key);
            if (ids.has(id) || !dcl || regions.of(dcl.spec?.lbRegion) !== region) continue;
            log(
              `DedicatedCLBListener ${key}: listener ${id} is no longer on ${lb}; making it again`,
            );
            created.delete(key);
            targetsOf.delete(key);
            missing.add(key);
            ctx.enqueue(LISTENERS, key);
          }
        }
      }
    }
    // Reads from now on began after these deletes: they cannot show them.
    for (const [id, at] of deletedAt) if (at < started) deletedAt.delete(id);
  }

  const services: ExtensionController = {
    name: SERVICES,
    resource: DCS_RESOURCE,

    // Both from indexes: a Pod event must not read every service and
    // every listener object of the cluster.
    keysForPod(pod, ctx) {
      const ns = pod.metadata.namespace ?? "";
      const keys = new Set(ctx.selecting(DCS_RESOURCE, pod).map(keyOf));
      // The services of its listener objects too: one that stopped
      // selecting the Pod (a label changed) must delete them.
      for (const l of ctx.byIndex(DCL_RESOURCE, BACKEND_POD_INDEX, keyOf(pod))) {
        const dcs = l.metadata.labels?.[DCS_LABEL];
        if (dcs) keys.add(`${ns}/${dcs}`);
      }
      return [...keys];
    },

    keysFor(resource, obj) {
      const dcs = obj.metadata.labels?.[DCS_LABEL];
      return resource === DCL_RESOURCE && dcs ? [`${obj.metadata.namespace}/${dcs}`] : [];
    },

    async reconcile(key, ctx): Promise<Result> {
      const dcs = ctx.get(DCS_RESOURCE, key);
      // Its listener objects go with it: the garbage collector deletes them
      // (ownerReferences), their finalizers delete the cloud listeners.
      if (!dcs || dcs.metadata.deletionTimestamp) return {};
      const ns = dcs.metadata.namespace ?? "";
      const spec = dcs.spec ?? {};
      const ports: ServicePort[] = spec.ports ?? [];
      const lbs: string[] = spec.existedLbIds ?? [];
      const region = regions.of(spec.lbRegion);
      const usable = lbs.filter((lb) => !isGone(region, lb));
      const range = { min: Number(spec.minPort), max: Number(spec.maxPort) };
      const pods = ctx.selectedPods(DCS_RESOURCE, dcs).filter(live);
      try {
        await loadListenerQuota(region.api, region.writer, pools);
      } catch (err) {
        log(`DedicatedCLBService ${key}: quota not read: ${(err as Error).message}`);
        return { retry: true };
      }
      const children = dcs.metadata.uid
        ? ctx.byIndex(DCL_RESOURCE, OWNER_INDEX, dcs.metadata.uid)
        : [];
      const byName = new Map(children.map((c) => [c.metadata.name, c]));
      let message = "";
      let requeueAfterMs: number | undefined;
      const wanted = new Set<string>();
      const creates: Promise<void>[] = [];
      if (usable.length === 0 && lbs.length > 0) {
        message = `None of the CLBs ${lbs.join(", ")} exists in region ` +
          `${spec.lbRegion || "of gamenet"} any more: name a CLB that exists in existedLbIds`;
      }
      for (const pod of pods) {
        for (const port of ports) {
          const name = dclName(pod.metadata.name ?? "", port);
          wanted.add(name);
          if (byName.has(name) || usable.length === 0) continue;
          let lbPort: number;
          let lbId: string;
          try {
            const got = pools.allocate(usable, `dcl:${ns}/${name}`, [port.protocol], range);
            lbId = got.key;
            lbPort = got.ports[0].port;
          } catch (err) {
            if (err instanceof AllocationError && err.code.startsWith("exhausted")) {
              message = `No ${port.protocol} listener port free on ${usable.join(", ")} in ` +
                `${range.min}-${range.max}; Pods wait for one to be released`;
              requeueAfterMs = EXHAUSTED_RETRY_MS;
              continue;
            }
            message = (err as Error).message;
            requeueAfterMs = FAILED_RETRY_MS;
            continue;
          }
          creates.push(
            ctx.create(DCL_RESOURCE, ns, {
              metadata: {
                name,
                namespace: ns,
                labels: { [DCS_LABEL]: dcs.metadata.name, [BACKEND_POD_LABEL]: pod.metadata.name! },
                finalizers: [DCL_FINALIZER],
                ownerReferences: [{
                  apiVersion: CLB_API_VERSION,
                  kind: "DedicatedCLBService",
                  name: dcs.metadata.name,
                  uid: dcs.metadata.uid!,
                  controller: true,
                  blockOwnerDeletion: true,
                }],
              },
              spec: {
                lbId,
                ...(spec.lbRegion ? { lbRegion: spec.lbRegion } : {}),
                lbPort,
                protocol: port.protocol,
                ...(spec.listenerConfig ? { listenerConfig: spec.listenerConfig } : {}),
                ...(spec.listenerExtensiveParameters
                  ? { extensiveParameters: spec.listenerExtensiveParameters }
                  : {}),
                backendPod: { podName: pod.metadata.name, port: port.targetPort },
              },
            }).then(() => {}, (err) => {
              // Already made (the cache is behind): the same owner holds the same port.
              if (statusOf(err) !== 409) throw err;
            }),
          );
        }
      }
      // Together, so that their listeners share the cloud calls.
      await Promise.all(creates);
      // Listener objects on a CLB the cloud no longer knows move: deleted
      // here (their finalizers make no call), made again above on another
      // CLB once they are gone.
      const stranded = children.filter((c) =>
        wanted.has(c.metadata.name) && !c.metadata.deletionTimestamp &&
        isGone(regions.of(c.spec?.lbRegion), c.spec?.lbId)
      );
      if (stranded.length > 0 && usable.length > 0) {
        const from = [...new Set(stranded.map((c) => c.spec.lbId))].join(", ");
        await ctx.event(
          DCS_RESOURCE,
          dcs,
          "Warning",
          "ClbGone",
          `CLB ${from} no longer exists: ${stranded.length} listener object(s) move to ` +
            usable.join(", "),
        );
      }
      await Promise.all(
        children.filter((c) =>
          !c.metadata.deletionTimestamp &&
          (!wanted.has(c.metadata.name) || (usable.length > 0 && stranded.includes(c)))
        ).map((c) => ctx.delete(DCL_RESOURCE, ns, c.metadata.name)),
      );
      await writeAddresses(ctx, pods, ports, byName);
      if (message) await ctx.event(DCS_RESOURCE, dcs, "Warning", "ClbPortsExhausted", message);
      const status = {
        allocated: children.length,
        bound: children.filter((c) => c.status?.state === "Bound").length,
        message,
        observedGeneration: dcs.metadata.generation,
      };
      const old = dcs.status ?? {};
      if (Object.entries(status).some(([k, v]) => old[k] !== v)) {
        await ctx.patch(DCS_RESOURCE, ns, dcs.metadata.name, { status }, "status");
      }
      return requeueAfterMs === undefined ? {} : { requeueAfterMs };
    },
  };

  async function writeAddresses(
    ctx: ExtensionContext,
    pods: Pod[],
    ports: ServicePort[],
    byName: Map<string, ExtensionObject>,
  ): Promise<void> {
    for (const pod of pods) {
      const annotations: Record<string, string> = {};
      for (const port of ports) {
        if (!port.addressPodAnnotation) continue;
        const address = byName.get(dclName(pod.metadata.name ?? "", port))?.status?.address;
        if (address && pod.metadata.annotations?.[port.addressPodAnnotation] !== address) {
          annotations[port.addressPodAnnotation] = address;
        }
      }
      if (Object.keys(annotations).length > 0) {
        await ctx.patchPod(pod.metadata.namespace ?? "", pod.metadata.name ?? "", {
          metadata: { annotations },
        });
      }
    }
  }

  async function setStatus(
    ctx: ExtensionContext,
    dcl: ExtensionObject,
    status: { listenerId?: string; state: string; address?: string; message?: string },
  ): Promise<void> {
    const old = dcl.status ?? {};
    const next = { ...old, message: "", ...status };
    if (Object.entries(next).every(([k, v]) => old[k] === v)) return;
    await ctx.patch(
      DCL_RESOURCE,
      dcl.metadata.namespace ?? "",
      dcl.metadata.name,
      { status: next },
      "status",
    );
  }

  /** The cloud listener of a listener object, found by its name on its port. */
  async function findListener(region: ClbRegion, dcl: ExtensionObject) {
    const { lbId, lbPort, protocol } = dcl.spec ?? {};
    const name = dclListenerName(dcl.metadata.namespace ?? "", dcl.metadata.name);
    const res = await region.writer.read(
      "DescribeListeners",
      () =>
        region.api.DescribeListeners({ LoadBalancerId: lbId, Port: lbPort, Protocol: protocol }),
    );
    return res.Listeners?.find((l) => l.ListenerName === name)?.ListenerId;
  }

  const listeners: ExtensionController = {
    name: LISTENERS,
    resource: DCL_RESOURCE,

    keysForPod(pod, ctx) {
      return ctx.byIndex(DCL_RESOURCE, BACKEND_POD_INDEX, keyOf(pod)).map(keyOf);
    },

    async reconcile(key, ctx): Promise<Result> {
      busy.add(key);
      try {
        return await reconcileListener(key, ctx);
      } finally {
        busy.delete(key);
      }
    },
  };

  /**
   * The finalizer: deletes the cloud listener (after a create still under
   * way, whose listener would otherwise come after the object went), then
   * lets the object go. Nothing to delete on a CLB the cloud does not know.
   */
  async function finalize(
    ctx: ExtensionContext,
    dcl: ExtensionObject,
    region: ClbRegion,
  ): Promise<Result> {
    const key = keyOf(dcl);
    const finalizers = dcl.metadata.finalizers ?? [];
    if (!finalizers.includes(DCL_FINALIZER) || finalized.get(key) === dcl.metadata.uid) return {};
    const { lbId } = dcl.spec ?? {};
    await setStatus(ctx, dcl, { state: "Deleting" });
    const flight = flights.get(key);
    if (flight) await flight.done;
    if (!isGone(region, lbId)) {
      try {
        const id = flight?.id ?? created.get(key) ?? dcl.status?.listenerId ??
          await findListener(region, dcl);
        if (id && !deletedAt.has(id)) {
          await region.writer.deleteListener(lbId, id);
          deletedAt.set(id, Date.now());
        }
      } catch (err) {
        if (!clbGone(err)) throw err;
        markGone(ctx, region, lbId);
      }
    }
    try {
      await ctx.patch(DCL_RESOURCE, dcl.metadata.namespace ?? "", dcl.metadata.name, {
        metadata: {
          finalizers: finalizers.filter((f) => f !== DCL_FINALIZER),
          resourceVersion: dcl.metadata.resourceVersion,
        },
      });
    } catch (err) {
      // 409: our own "Deleting" came in between; the next pass finds the
      // listener deleted already and lets the object go.
      if (statusOf(err) === 409) return { retry: true };
      if (statusOf(err) !== 404) throw err;
    }
    forget(key);
    pools.release(`dcl:${key}`);
    if (dcl.metadata.uid) finalized.set(key, dcl.metadata.uid);
    return {};
  }

  /**
   * A live listener object on a CLB the cloud does not know: its service
   * moves it to another of its CLBs; without one, it is Failed.
   */
  async function stranded(ctx: ExtensionContext, dcl: ExtensionObject): Promise<Result> {
    const ns = dcl.metadata.namespace ?? "";
    const lb = dcl.spec?.lbId;
    const service = dcl.metadata.labels?.[DCS_LABEL];
    const dcs = service ? ctx.get(DCS_RESOURCE, `${ns}/${service}`) : undefined;
    const others = ((dcs?.spec?.existedLbIds ?? []) as string[])
      .filter((id) => !isGone(regions.of(dcs?.spec?.lbRegion), id));
    let message = `CLB ${lb} does not exist in region ${dcl.spec?.lbRegion || "of gamenet"} ` +
      `(${LB_NOT_FOUND}): it was deleted, or lbId or lbRegion is wrong`;
    if (dcs && others.length > 0) {
      ctx.enqueue(SERVICES, keyOf(dcs));
      message += `; DedicatedCLBService ${service} moves the listener to ${others.join(", ")}`;
    } else if (dcs) {
      message += `; DedicatedCLBService ${service} names no other CLB that exists`;
    }
    if (dcl.status?.state !== "Failed" || dcl.status?.message !== message) {
      await ctx.event(DCL_RESOURCE, dcl, "Warning", "ClbGone", message);
    }
    await setStatus(ctx, dcl, { state: "Failed", message });
    return {};
  }

  /**
   * The listener object's cloud listener id, or `undefined` while its
   * create is under way (started here when none is known): the writer's
   * answer brings the key back.
   */
  async function listenerOf(
    ctx: ExtensionContext,
    dcl: ExtensionObject,
    region: ClbRegion,
    parameters: Record<string, unknown>,
  ): Promise<string | undefined> {
    const key = keyOf(dcl);
    if (!missing.has(key)) {
      const known = created.get(key) ?? dcl.status?.listenerId;
      if (known) return known;
    }
    const flight = flights.get(key);
    if (flight && !flight.settled) return undefined;
    if (flight) {
      flights.delete(key);
      if (flight.error !== undefined) throw flight.error;
      created.set(key, flight.id!);
      missing.delete(key);
      return flight.id;
    }
    await setStatus(ctx, dcl, { state: "Pending" });
    const { lbId, lbPort, protocol } = dcl.spec;
    const started: Flight = { done: Promise.resolve(), settled: false };
    started.done = region.writer.createListener(lbId, {
      port: lbPort,
      protocol,
      name: dclListenerName(dcl.metadata.namespace ?? "", dcl.metadata.name),
      parameters,
    }).then((id) => {
      started.id = id;
    }, (err) => {
      started.error = err;
    }).finally(() => {
      started.settled = true;
      ctx.enqueue(LISTENERS, key);
    });
    flights.set(key, started);
    return undefined;
  }

  async function reconcileListener(key: string, ctx: ExtensionContext): Promise<Result> {
    const dcl = ctx.get(DCL_RESOURCE, key);
    if (!dcl) {
      finalized.delete(key);
      if (!flights.get(key) || flights.get(key)!.settled) forget(key);
      return {};
    }
    const ns = dcl.metadata.namespace ?? "";
    const { lbId, lbPort, protocol, backendPod } = dcl.spec ?? {};
    const region = regions.of(dcl.spec?.lbRegion);
    const finalizers = dcl.metadata.finalizers ?? [];
    try {
      if (dcl.metadata.deletionTimestamp) return await finalize(ctx, dcl, region);
      if (!finalizers.includes(DCL_FINALIZER)) {
        await ctx.patch(DCL_RESOURCE, ns, dcl.metadata.name, {
          metadata: {
            finalizers: [...finalizers, DCL_FINALIZER],
            resourceVersion: dcl.metadata.resourceVersion,
          },
        });
        return {}; // the update brings it back
      }
      if (isGone(region, lbId)) return await stranded(ctx, dcl);
      const parameters = listenerParameters(dcl);
      const holder = pools.claim(lbId, lbPort, protocol, `dcl:${key}`);
      if (holder !== undefined) {
        const message = `${protocol} port ${lbPort} of ${lbId} is held by ${holder}`;
        await ctx.event(DCL_RESOURCE, dcl, "Warning", "ClbPortTaken", message);
        await setStatus(ctx, dcl, { state: "Failed", message });
        return { requeueAfterMs: FAILED_RETRY_MS };
      }
      const vip = await region.vips.get(lbId);
      const listenerId = await listenerOf(ctx, dcl, region, parameters);
      if (!listenerId) return {};
      const pod = backendPod ? ctx.pod(`${ns}/${backendPod.podName}`) : undefined;
      const ip = pod && live(pod) ? pod.status?.podIP : undefined;
      const want = ip ? [{ ip, port: Number(backendPod.port) }] : [];
      const have = targetsOf.get(key) ?? await targetsIn(region).of(lbId, listenerId);
      const same = (a: CloudTarget, b: CloudTarget) => a.ip === b.ip && a.port === b.port;
      await Promise.all([
        ...have.filter((t) => !want.some((w) => same(w, t)))
          .map((t) => region.writer.deregisterTarget(lbId, { listenerId, ...t })),
        ...want.filter((w) => !have.some((t) => same(w, t)))
          .map((w) => region.writer.registerTarget(lbId, { listenerId, ...w })),
      ]);
      targetsOf.set(key, want);
      await setStatus(ctx, dcl, {
        listenerId,
        state: ip ? "Bound" : "Available",
        address: `${vip}:${lbPort}`,
      });
      return {};
    } catch (err) {
      if (clbGone(err) && !dcl.metadata.deletionTimestamp) {
        markGone(ctx, region, lbId);
        return await stranded(ctx, dcl);
      }
      const refused = err instanceof ConfError || (err instanceof ClbError && !err.retryable);
      if (!refused) {
        log(`DedicatedCLBListener ${key}: ${(err as Error).message}`);
        return { retry: true };
      }
      const message = (err as Error).message;
      const reason = err instanceof ConfError && err.reason !== "InvalidNetworkConf"
        ? err.reason
        : "ClbRequestFailed";
      if (dcl.status?.state !== "Failed" || dcl.status?.message !== message) {
        await ctx.event(DCL_RESOURCE, dcl, "Warning", reason, message);
      }
      await setStatus(ctx, dcl, { state: "Failed", message });
      // The input is wrong until its object changes, which brings it back.
      return err instanceof ConfError ? {} : { requeueAfterMs: FAILED_RETRY_MS };
    }
  }

  return {
    kinds: [
      {
        apiVersion: CLB_API_VERSION,
        resource: DCS_RESOURCE,
        kind: "DedicatedCLBService",
        podSelector: (dcs) => dcs.spec?.selector,
      },
      {
        apiVersion: CLB_API_VERSION,
        resource: DCL_RESOURCE,
        kind: "DedicatedCLBListener",
        indexes: { [BACKEND_POD_INDEX]: backendPodOf },
      },
    ],
    controllers: [services, listeners],

    sweepEveryMs: options.sweepEveryMs ?? 60_000,

    async sweep(ctx) {
      await readBack(ctx);
    },

    async restore(ctx) {
      for (const dcs of ctx.list(DCS_RESOURCE)) {
        const ids: string[] = dcs.spec?.existedLbIds ?? [];
        try {
          pools.serveRange(ids, { min: dcs.spec.minPort, max: dcs.spec.maxPort }, keyOf(dcs));
        } catch (err) {
          log(`DedicatedCLBService ${keyOf(dcs)}: ${(err as Error).message}`);
        }
      }
      for (const dcl of ctx.list(DCL_RESOURCE)) {
        const { lbId, lbPort, protocol } = dcl.spec ?? {};
        const holder = pools.claim(lbId, lbPort, protocol, `dcl:${keyOf(dcl)}`);
        if (holder !== undefined) {
          log(`DedicatedCLBListener ${keyOf(dcl)}: ${protocol} ${lbPort} also held by ${holder}`);
        }
      }
      // Cloud listeners of listener objects deleted while gamenet was away.
      await readBack(ctx);
    },
  };
}
