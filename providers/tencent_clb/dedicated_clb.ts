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

/** Options of {@linkcode createDedicatedClbExtension}. */
export interface DedicatedClbOptions {
  api: ClbReadApi;
  writer: ClbWriter;
  /** The same pools as the `TencentCloud-CLB` type's. */
  pools: ClbPools;
  /** Shared with the `TencentCloud-CLB` type. @default {new ClbVips(api, writer)} */
  vips?: ClbVips;
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

/** Creates the extension. */
export function createDedicatedClbExtension(options: DedicatedClbOptions): ProviderExtension {
  const { api, writer, pools } = options;
  const log = options.log ?? (() => {});
  const vips = options.vips ?? new ClbVips(api, writer);
  /** Listener objects being reconciled. */
  const busy = new Set<string>();
  /** Targets registered behind each listener object's cloud listener, as far as known. */
  const targetsOf = new Map<string, CloudTarget[]>();

  const vipOf = (lb: string) => vips.get(lb);

  /**
   * Deletes the listeners named after a listener object that is gone. The
   * cloud is read before the cache is asked: an object always exists
   * before its listener and goes after it, so a listener seen without its
   * object is an orphan.
   */
  async function deleteOrphans(ctx: ExtensionContext, lbs: Set<string>): Promise<void> {
    for (const lb of lbs) {
      try {
        for (const l of await scanLoadBalancer(api, writer, lb)) {
          const parsed = parseListenerName(l.name);
          if (parsed?.kind !== "dcl") continue;
          const key = `${parsed.namespace}/${parsed.name}`;
          if (ctx.get(DCL_RESOURCE, key) || busy.has(key)) continue;
          log(`CLB ${lb}: deleting listener ${l.listenerId} (${l.name}): its object is gone`);
          await writer.deleteListener(lb, l.listenerId);
        }
      } catch (err) {
        log(`CLB ${lb}: not read: ${(err as Error).message}`);
      }
    }
  }

  const services: ExtensionController = {
    name: "dedicatedclbservices",
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
      const range = { min: Number(spec.minPort), max: Number(spec.maxPort) };
      const pods = ctx.selectedPods(DCS_RESOURCE, dcs).filter(live);
      try {
        await loadListenerQuota(api, writer, pools);
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
      for (const pod of pods) {
        for (const port of ports) {
          const name = dclName(pod.metadata.name ?? "", port);
          wanted.add(name);
          if (byName.has(name)) continue;
          let lbPort: number;
          let lbId: string;
          try {
            const got = pools.allocate(lbs, `dcl:${ns}/${name}`, [port.protocol], range);
            lbId = got.key;
            lbPort = got.ports[0].port;
          } catch (err) {
            if (err instanceof AllocationError && err.code.startsWith("exhausted")) {
              message = `No ${port.protocol} listener port free on ${lbs.join(", ")} in ` +
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
                backendPod: { podName: pod.metadata.name, port: port.targetPort },
              },
            }).then(() => {}, (err) => {
              // Already made (the cache is behind): the same owner holds the same port.
              if ((err as { status?: number }).status !== 409) throw err;
            }),
          );
        }
      }
      // Together, so that their listeners share the cloud calls.
      await Promise.all(creates);
      await Promise.all(
        children.filter((c) => !wanted.has(c.metadata.name) && !c.metadata.deletionTimestamp)
          .map((c) => ctx.delete(DCL_RESOURCE, ns, c.metadata.name)),
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
  async function findListener(lb: string, port: number, protocol: string, name: string) {
    const res = await writer.read(
      "DescribeListeners",
      () => api.DescribeListeners({ LoadBalancerId: lb, Port: port, Protocol: protocol }),
    );
    return res.Listeners?.find((l) => l.ListenerName === name)?.ListenerId;
  }

  const listeners: ExtensionController = {
    name: "dedicatedclblisteners",
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

  async function reconcileListener(key: string, ctx: ExtensionContext): Promise<Result> {
    {
      const dcl = ctx.get(DCL_RESOURCE, key);
      if (!dcl) return {};
      const ns = dcl.metadata.namespace ?? "";
      const owner = `dcl:${key}`;
      const { lbId, lbPort, protocol, backendPod } = dcl.spec ?? {};
      const name = dclListenerName(ns, dcl.metadata.name);
      const finalizers = dcl.metadata.finalizers ?? [];
      try {
        if (dcl.metadata.deletionTimestamp) {
          if (!finalizers.includes(DCL_FINALIZER)) return {};
          await setStatus(ctx, dcl, { state: "Deleting" });
          const id = dcl.status?.listenerId ?? await findListener(lbId, lbPort, protocol, name);
          if (id) await writer.deleteListener(lbId, id);
          targetsOf.delete(key);
          pools.release(owner);
          await ctx.patch(DCL_RESOURCE, ns, dcl.metadata.name, {
            metadata: {
              finalizers: finalizers.filter((f) => f !== DCL_FINALIZER),
              resourceVersion: dcl.metadata.resourceVersion,
            },
          });
          return {};
        }
        if (!finalizers.includes(DCL_FINALIZER)) {
          await ctx.patch(DCL_RESOURCE, ns, dcl.metadata.name, {
            metadata: {
              finalizers: [...finalizers, DCL_FINALIZER],
              resourceVersion: dcl.metadata.resourceVersion,
            },
          });
          return {}; // the update brings it back
        }
        const holder = pools.claim(lbId, lbPort, protocol, owner);
        if (holder !== undefined) {
          const message = `${protocol} port ${lbPort} of ${lbId} is held by ${holder}`;
          await ctx.event(DCL_RESOURCE, dcl, "Warning", "ClbPortTaken", message);
          await setStatus(ctx, dcl, { state: "Failed", message });
          return { requeueAfterMs: FAILED_RETRY_MS };
        }
        const vip = await vipOf(lbId);
        if (!dcl.status?.listenerId) await setStatus(ctx, dcl, { state: "Pending" });
        const listenerId = await writer.createListener(lbId, { port: lbPort, protocol, name });
        const pod = backendPod ? ctx.pod(`${ns}/${backendPod.podName}`) : undefined;
        const ip = pod && live(pod) ? pod.status?.podIP : undefined;
        const want = ip ? [{ ip, port: Number(backendPod.port) }] : [];
        let have = targetsOf.get(key);
        if (!have) {
          const res = await writer.read(
            "DescribeTargets",
            () => api.DescribeTargets({ LoadBalancerId: lbId, ListenerIds: [listenerId] }),
          );
          have = (res.Listeners?.[0]?.Targets ?? []).flatMap((t) =>
            (t.PrivateIpAddresses ?? []).map((a) => ({ ip: a, port: Number(t.Port) }))
          );
        }
        for (const t of have) {
          if (!want.some((w) => w.ip === t.ip && w.port === t.port)) {
            await writer.deregisterTarget(lbId, { listenerId, ...t });
          }
        }
        for (const w of want) {
          if (!have.some((t) => w.ip === t.ip && w.port === t.port)) {
            await writer.registerTarget(lbId, { listenerId, ...w });
          }
        }
        targetsOf.set(key, want);
        await setStatus(ctx, dcl, {
          listenerId,
          state: ip ? "Bound" : "Available",
          address: `${vip}:${lbPort}`,
        });
        return {};
      } catch (err) {
        const refused = err instanceof ConfError ||
          (err instanceof ClbError && !err.retryable);
        if (!refused) {
          log(`DedicatedCLBListener ${key}: ${(err as Error).message}`);
          return { retry: true };
        }
        const message = (err as Error).message;
        await ctx.event(DCL_RESOURCE, dcl, "Warning", "ClbRequestFailed", message);
        await setStatus(ctx, dcl, { state: "Failed", message });
        return { requeueAfterMs: FAILED_RETRY_MS };
      }
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
      const lbs = new Set<string>();
      for (const dcs of ctx.list(DCS_RESOURCE)) {
        for (const lb of dcs.spec?.existedLbIds ?? []) lbs.add(lb);
      }
      for (const dcl of ctx.list(DCL_RESOURCE)) if (dcl.spec?.lbId) lbs.add(dcl.spec.lbId);
      await deleteOrphans(ctx, lbs);
    },

    async restore(ctx) {
      const lbs = new Set<string>();
      for (const dcs of ctx.list(DCS_RESOURCE)) {
        const ids: string[] = dcs.spec?.existedLbIds ?? [];
        for (const lb of ids) lbs.add(lb);
        try {
          pools.serveRange(ids, { min: dcs.spec.minPort, max: dcs.spec.maxPort }, keyOf(dcs));
        } catch (err) {
          log(`DedicatedCLBService ${keyOf(dcs)}: ${(err as Error).message}`);
        }
      }
      const objects = new Set<string>();
      for (const dcl of ctx.list(DCL_RESOURCE)) {
        const { lbId, lbPort, protocol } = dcl.spec ?? {};
        lbs.add(lbId);
        objects.add(keyOf(dcl));
        const holder = pools.claim(lbId, lbPort, protocol, `dcl:${keyOf(dcl)}`);
        if (holder !== undefined) {
          log(`DedicatedCLBListener ${keyOf(dcl)}: ${protocol} ${lbPort} also held by ${holder}`);
        }
      }
      // Cloud listeners of listener objects deleted while gamenet was away.
      await deleteOrphans(ctx, lbs);
    },
  };
}
