/**
 * Network types whose address is a port on one of the user's existing
 * cloud load balancers, made by the cloud's own Service controller (its
 * CCM): gamenet picks a free port on one of the LBs the Pod names (a
 * bitmap pool per LB), writes one `LoadBalancer` Service per Pod — or per
 * Pod and line, for several ISPs' LBs — carrying the CCM's annotations
 * ("reuse this LB", "this port"), and reads the address back from the
 * Service's `status.loadBalancer`. `AlibabaCloud-SLB`, `AlibabaCloud-NLB`,
 * `AlibabaCloud-Multi-NLBs` and `Volcengine-CLB` are each a
 * {@linkcode LbFlavor} of it: their conf beyond the common part, their
 * annotations, their Service and status names.
 *
 * Common conf: the LB ids (`SlbIds`, `NlbIds`, `ClbIds`; or `NlbIdNames`
 * for lines), `PortProtocols` (`port[/TCP|UDP|TCPUDP],…`; `TCPUDP` is two
 * Service ports on one number), `Fixed`, `AllowNotReadyContainers`.
 *
 * Ports are allocated at reconcile, once the Services gamenet owns are
 * cached and the pools rebuilt from them; a Pod's ports are keyed by
 * `namespace/name`, so a `Fixed` Pod's successor finds them. `Waiting`
 * until the CCM fills `status.loadBalancer`, and after `addressTimeoutMs`
 * an Event naming the Service; LBs without a free port: `NotReady` and an
 * Event, looked at again until another Pod frees one. `network-disabled`
 * makes the Service a `ClusterIP` one (the CCM removes the listener; the
 * port stays the Pod's).
 *
 * @example
 * ```ts
 * const slb = createLbServiceProvider(slbFlavor, { range: { min: 500, max: 700 }, blockPorts: [593] });
 * ```
 * @module
 */

import { AllocationError } from "../allocator/errors.ts";
import { type AllocatedPort, PoolSet } from "../allocator/mod.ts";
import {
  checkConfKeys,
  confValue,
  parseFixed,
  parseNetworkConf,
  parsePortProtocols,
  podRef,
  type ServicePortRequest,
} from "./network_conf.ts";
import { networkDisabled, waitingReport } from "./network_report.ts";
import { podAddresses } from "./addresses.ts";
import type { ExtensionObject } from "./extension.ts";
import type { Provider, ProviderView } from "./provider.ts";
import type { HoldingView } from "./view.ts";
import {
  checkObjectName,
  fixedWarning,
  gameServerLabelPatch,
  gameServerSelector,
  MANAGED_BY_LABEL,
  objectPatch,
  onlyAllowedNotReady,
  ownedByWorkload,
  OwnedObjects,
  ownerReferencesFor,
  podNameOf,
  SERVICES,
  withoutNulls,
} from "./owned_objects.ts";
import {
  ConfError,
  type NetworkAddress,
  type NetworkConfEntry,
  type Outcome,
  type Pod,
  type Protocol,
} from "./types.ts";
import type { PortRange } from "./settings.ts";

/** The annotation on a Service naming the line (ISP) it is a Pod's address on. */
export const LINE_ANNOTATION = "gamenet.io/line";
/** The annotation on a Service naming the LB it is on (the flavor's own key holds it too). */
export const LB_ANNOTATION = "gamenet.io/load-balancer";
/** Owner of the ports never handed out (`block_ports`). */
const BLOCKED = "gamenet/blocked";
/** Owners of ports held by Services gamenet does not own: `foreign/<namespace>/<name>`. */
const FOREIGN = "foreign/";
const NOT_SYNCED_RETRY_MS = 1_000;
/** A Pod without a free port, or with no address yet, is looked at again this often. */
const RETRY_MS = 5_000;

/** One asked port. */
export type LbPortRequest = ServicePortRequest;

/** The LBs a Pod may be placed on: one group per choice, one LB per line in a group. */
export interface LbGroups {
  /** Line names (`["default"]` for single-line types). */
  lines: string[];
  /** Each group: an LB id per line, in `lines` order. */
  groups: string[][];
}

/** The conf every flavor shares, and the flavor's own part. */
export interface LbConf<Extra = unknown> {
  lbs: LbGroups;
  ports: LbPortRequest[];
  fixed: boolean;
  allowNotReady: string[];
  extra: Extra;
}

/** A load-balancer type: what differs between clouds and products. */
export interface LbFlavor<Extra = unknown> {
  type: string;
  aliases: string[];
  /**
   * The LB a Service of anyone's is on: the CCM's id annotation (or the
   * label the CCM sets), so ports other Services hold on an LB are kept
   * out of its pool.
   */
  lbOf(svc: ExtensionObject): string | undefined;
  /** Conf keys besides PortProtocols, Fixed and AllowNotReadyContainers. */
  confKeys: string[];
  /** The LBs the conf names, as groups of lines. @throws {ConfError} */
  parseLbs(pod: Pod, conf: NetworkConfEntry[]): LbGroups;
  /** The flavor's own conf. @throws {ConfError} */
  parseExtra(pod: Pod, conf: NetworkConfEntry[]): Extra;
  /** The CCM's annotations for a Service on `lb`. */
  annotations(extra: Extra, lb: string): Record<string, string>;
  /** Spec fields of an enabled (LoadBalancer) Service: externalTrafficPolicy, class, … */
  spec(extra: Extra): Record<string, unknown>;
  /** A Service port's name. */
  servicePortName(targetPort: number, protocol: Protocol, both: boolean): string;
  /** A status port's name. */
  statusPortName(targetPort: number, protocol: Protocol, both: boolean): string;
  /** The status's external addresses for one line's Service. */
  external(
    ingress: { ip?: string; hostname?: string }[],
    line: string,
    ports: { name: string; port: number; protocol: Protocol }[],
    extra: Extra,
  ): NetworkAddress[];
  /**
   * How the group (the LB, for single-line types) is chosen: the first
   * with room, the next in turn, or the one with the most free ports.
   * @default {() => "first-fit"}
   */
  policy?(extra: Extra): "first-fit" | "round-robin" | "balanced";
}

/** Settings of one flavor's pools. */
export interface LbSettings {
  range: PortRange;
  /** Ports never handed out. @default {[]} */
  blockPorts?: number[];
  /** Freed ports wait this long before another Pod gets them. @default {0} */
  reuseDelayMs?: number;
  /** No address from the CCM after this: an Event naming the Service. @default {120_000} */
  addressTimeoutMs?: number;
  /** @default {Date.now} */
  now?: () => number;
  /** Pools shared with another flavor on the same LBs (NLB and Multi-NLBs). */
  pools?: PoolSet;
}

/** Parses a comma list of LB ids: one group per id, a single line. */
export function singleLineLbs(pod: Pod, conf: NetworkConfEntry[], key: string): LbGroups {
  const ids = [...new Set((confValue(pod, conf, key) ?? "").split(",").map((s) => s.trim()))]
    .filter(Boolean);
  if (ids.length === 0) {
    throw new ConfError(`Pod ${podRef(pod)}: needs ${key}, the load balancers' ids ("lb-a,lb-b")`);
  }
  return { lines: ["default"], groups: ids.map((id) => [id]) };
}

/** One Service port per protocol: `TCPUDP` is two. */
interface ServicePort {
  name: string;
  port: number;
  targetPort: number;
  protocol: Protocol;
}

/** Creates a provider of `flavor`; see the module documentation. */
export function createLbServiceProvider<Extra>(
  flavor: LbFlavor<Extra>,
  settings: LbSettings,
): Provider<LbConf<Extra>> {
  const now = settings.now ?? Date.now;
  const timeoutMs = settings.addressTimeoutMs ?? 120_000;
  const pools = settings.pools ??
    new PoolSet(settings.range.min, settings.range.max, { reuseDelayMs: settings.reuseDelayMs });
  const blocked = (settings.blockPorts ?? []).filter((p) =>
    p >= settings.range.min && p <= settings.range.max
  );
  const owned = new OwnedObjects(flavor.type, [SERVICES], { aliases: flavor.aliases });
  let roundRobin = 0;
  /** Owners of ports held by Services gamenet does not own, from the last look. */
  let foreign = new Set<string>();
  /** The pools hold the ports of every Service (gamenet's and others'): allocation may start. */
  let restored = false;
  /** Allocation key → the Pod's ports' key and whether they outlive it (Fixed). */
  const podsOfOwners = new Map<string, { key: string; fixed: boolean }>();

  function ensurePool(lb: string): void {
    if (pools.get(lb)) return;
    pools.ensure(lb);
    for (const port of blocked) pools.claim(lb, port, "TCPUDP", BLOCKED);
  }

  /**
   * Keeps the ports of LoadBalancer Services gamenet does not own (made by
   * hand, or by another controller) on these LBs out of the pools; gives
   * back those of Services gone since the last look.
   */
  async function lookAtOthers(): Promise<void> {
    const seen = new Set<string>();
    for (const svc of await owned.others(SERVICES)) {
      if (svc.spec?.type !== "LoadBalancer" || svc.metadata.labels?.[MANAGED_BY_LABEL]) continue;
      const lb = flavor.lbOf(svc);
      if (!lb) continue;
      ensurePool(lb);
      const owner = `${FOREIGN}${svc.metadata.namespace}/${svc.metadata.name}`;
      seen.add(owner);
      for (const p of (svc.spec?.ports ?? []) as ServicePort[]) {
        if (p.port < settings.range.min || p.port > settings.range.max) continue;
        pools.claim(lb, p.port, p.protocol, owner);
      }
    }
    for (const owner of foreign) if (!seen.has(owner)) pools.release(owner);
    foreign = seen;
  }

  function serviceName(pod: Pod, line: string, lines: string[]): string {
    return lines.length === 1 ? pod.metadata.name! : `${pod.metadata.name}-${line.toLowerCase()}`;
  }

  function servicePorts(conf: LbConf<Extra>, ports: readonly AllocatedPort[]): ServicePort[] {
    return conf.ports.flatMap((r, i) => {
      const both = r.protocol === "TCPUDP";
      return (both ? ["TCP", "UDP"] as const : [r.protocol as Protocol]).map((protocol) => ({
        name: flavor.servicePortName(r.port, protocol, both),
        port: ports[i].port,
        targetPort: r.port,
        protocol,
      }));
    });
  }

  /** The Pod's ports on its group, allocated now if it has none. */
  function allocate(
    pod: Pod,
    conf: LbConf<Extra>,
  ): { group: string[]; ports: readonly AllocatedPort[] } {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    const protocols = conf.ports.map((p) => p.protocol);
    for (const group of conf.lbs.groups) group.forEach(ensurePool);
    const where = pools.locate(key);
    const current = where && conf.lbs.groups.find((g) => g.includes(where.key));
    if (current) return { group: current, ports: pools.allocateSame(current, key, protocols) };
    if (where) pools.release(key); // its LBs are no longer in the conf
    const policy = flavor.policy?.(conf.extra) ?? "first-fit";
    const free = (group: string[]) =>
      Math.min(...group.map((lb) => pools.get(lb)!.free("TCP") + pools.get(lb)!.free("UDP")));
    const order = policy === "round-robin"
      ? conf.lbs.groups.map((_, i, gs) => gs[(roundRobin + i) % gs.length])
      : policy === "balanced"
      ? [...conf.lbs.groups].sort((a, b) => free(b) - free(a))
      : conf.lbs.groups;
    let last: AllocationError | undefined;
    for (const group of order) {
      try {
        const ports = pools.allocateSame(group, key, protocols);
        roundRobin++;
        return { group, ports };
      } catch (err) {
        if (!(err instanceof AllocationError)) throw err;
        last = err;
      }
    }
    throw last ?? new AllocationError("exhausted", "no load balancer");
  }

  function desiredService(
    pod: Pod,
    conf: LbConf<Extra>,
    owner: string,
    lb: string,
    line: string,
    ports: ServicePort[],
  ) {
    const disabled = networkDisabled(pod);
    const metadata = owned.metadata(pod, owner, conf.fixed, {
      annotations: {
        ...flavor.annotations(conf.extra, lb),
        [LB_ANNOTATION]: lb,
        [LINE_ANNOTATION]: line,
      },
    });
    metadata.name = serviceName(pod, line, conf.lbs.lines);
    // A disabled game server's Service is a ClusterIP one: the CCM takes
    // the listener away, and the type-dependent fields must go with it.
    const typeFields = disabled
      ? Object.fromEntries(Object.keys(flavor.spec(conf.extra)).map((k) => [k, null]))
      : flavor.spec(conf.extra);
    return {
      metadata,
      spec: {
        type: disabled ? "ClusterIP" : "LoadBalancer",
        selector: gameServerSelector(pod, false),
        ports,
        publishNotReadyAddresses: onlyAllowedNotReady(pod, conf.allowNotReady),
        ...typeFields,
      },
    };
  }

  return {
    name: flavor.type,
    aliases: flavor.aliases,

    parse(pod: Pod): LbConf<Extra> {
      const conf = parseNetworkConf(pod);
      checkConfKeys(pod, flavor.type, conf, [
        "PortProtocols",
        "Fixed",
        "AllowNotReadyContainers",
        ...flavor.confKeys,
      ]);
      checkObjectName(pod, flavor.type);
      const allowNotReady = (confValue(pod, conf, "AllowNotReadyContainers") ?? "").split(",")
        .map((s) => s.trim()).filter(Boolean);
      return {
        lbs: flavor.parseLbs(pod, conf),
        ports: parsePortProtocols(pod, conf, flavor.type),
        fixed: parseFixed(pod, confValue(pod, conf, "Fixed")),
        allowNotReady,
        extra: flavor.parseExtra(pod, conf),
      };
    },

    admit(pod: Pod, conf: LbConf<Extra>, ctx) {
      const warnings = fixedWarning(pod, conf.fixed);
      return Promise.resolve({
        patch: gameServerLabelPatch(pod, ctx.owner),
        warnings: warnings.length > 0 ? warnings : undefined,
      });
    },

    async reconcile(pod: Pod, conf: LbConf<Extra>, ctx): Promise<Outcome> {
      // Not before the pools hold every port in use, ours and others'.
      if (!restored) return { kind: "requeueAfter", ms: NOT_SYNCED_RETRY_MS };
      const disabled = networkDisabled(pod);
      const waiting = waitingReport(pod);
      const notReady = { ...waiting, currentNetworkState: "NotReady" as const };
      if (await owned.labelIfMissing(pod)) {
        return { kind: "requeueAfter", ms: NOT_SYNCED_RETRY_MS, report: waiting };
      }
      let allocated;
      try {
        podsOfOwners.set(ctx.owner, {
          key: `${pod.metadata.namespace}/${pod.metadata.name}`,
          fixed: ownerReferencesFor(pod, conf.fixed)[0].kind !== "Pod",
        });
        allocated = allocate(pod, conf);
      } catch (err) {
        if (!(err instanceof AllocationError)) throw err;
        return {
          kind: "failed",
          error: new ConfError(
            `Pod ${podRef(pod)}: no free port on ${
              conf.lbs.groups.map((g) => g.join("+")).join(", ")
            } (${settings.range.min}-${settings.range.max}): ${err.message}; it gets one when ` +
              `another game server on them ends, or add a load balancer to the conf`,
            "LoadBalancerPortsExhausted",
          ),
          report: notReady,
          requeueAfterMs: RETRY_MS,
        };
      }
      const ports = servicePorts(conf, allocated.ports);
      const namespace = pod.metadata.namespace!;
      let changed = false;
      const services: { line: string; svc?: ExtensionObject }[] = [];
      for (const [i, line] of conf.lbs.lines.entries()) {
        const lb = allocated.group[i];
        const desired = desiredService(pod, conf, ctx.owner, lb, line, ports);
        const current = owned.get(SERVICES, namespace, desired.metadata.name);
        const patch = current ? objectPatch(current, desired) : undefined;
        if (!current || patch) {
          await owned.apply(
            SERVICES,
            current ? desired : { ...desired, spec: withoutNulls(desired.spec) },
            patch,
          );
          changed = true;
        }
        services.push({ line, svc: current });
      }
      if (changed) return { kind: "requeueAfter", ms: NOT_SYNCED_RETRY_MS, report: waiting };
      const podIPs = podAddresses(pod);
      if (disabled) {
        return {
          kind: "done",
          report: { ...notReady, internalAddresses: [], externalAddresses: [] },
        };
      }
      const missing = services.filter(({ svc }) =>
        (svc?.status?.loadBalancer?.ingress ?? []).length === 0
      );
      if (missing.length > 0 || podIPs.length === 0) {
        const since = Date.parse(
          missing[0]?.svc?.metadata.creationTimestamp ?? pod.metadata.creationTimestamp ?? "",
        ) || now();
        if (missing.length > 0 && now() - since > timeoutMs) {
          const names = missing.map(({ svc }) => `${namespace}/${svc!.metadata.name}`);
          // What the CCM said about the Service is what the user needs to read.
          const said = await owned.warnings(SERVICES, namespace, missing[0].svc!.metadata.name)
            .catch(() => []);
          return {
            kind: "failed",
            error: new ConfError(
              `Pod ${podRef(pod)}: the cloud's controller has given Service ${
                names.join(", ")
              } no address after ${Math.round(timeoutMs / 1000)} s` +
                (said.length > 0
                  ? `; it says: ${said[0]}`
                  : `: see its Events (kubectl describe service -n ${namespace} ${
                    missing[0].svc!.metadata.name
                  })`),
              "LoadBalancerAddressMissing",
            ),
            report: notReady,
            requeueAfterMs: RETRY_MS,
          };
        }
        return { kind: "requeueAfter", ms: RETRY_MS, report: waiting };
      }
      const both = new Set(conf.ports.filter((r) => r.protocol === "TCPUDP").map((r) => r.port));
      const statusPorts = ports.map((p) => ({
        name: flavor.statusPortName(p.targetPort, p.protocol, both.has(p.targetPort)),
        port: p.port,
        protocol: p.protocol,
      }));
      const internal: NetworkAddress[] = podIPs.flatMap((ip) =>
        ports.map((p, i) => ({
          ip,
          ports: [{ name: statusPorts[i].name, port: p.targetPort, protocol: p.protocol }],
        }))
      );
      const external = services.flatMap(({ line, svc }) =>
        flavor.external(svc!.status.loadBalancer.ingress, line, statusPorts, conf.extra)
      );
      return {
        kind: "done",
        report: {
          currentNetworkState: "Ready",
          desiredNetworkState: "Ready",
          internalAddresses: internal,
          externalAddresses: external,
        },
      };
    },

    async release(owner: string) {
      // Ports allocated before the Service was made are given back too.
      const pod = podsOfOwners.get(owner);
      podsOfOwners.delete(owner);
      if (pod && !pod.fixed) pools.release(pod.key);
      for (const svc of owned.ofOwner(SERVICES, owner)) {
        if (ownedByWorkload(svc)) continue;
        await owned.delete(SERVICES, svc.metadata.namespace!, svc.metadata.name);
        pools.release(podKeyOf(svc));
      }
    },

    async sweep(ctx) {
      for (const svc of await owned.collect(ctx)) pools.release(podKeyOf(svc));
      await lookAtOthers();
    },

    view(): ProviderView {
      const poolViews = pools.snapshot().pools.flatMap((p) =>
        (["TCP", "UDP"] as const).map((protocol) => ({
          kind: "lb" as const,
          key: p.key,
          range: `${p.min}-${p.max}`,
          protocol,
          used: p.used[protocol],
          free: p.free[protocol],
          delayed: p.delayed[protocol],
        }))
      );
      const others: HoldingView[] = [...foreign].map((owner) => {
        const where = pools.locate(owner);
        const name = owner.slice(FOREIGN.length);
        return {
          owner,
          kind: "unmanaged" as const,
          pod: name,
          lb: where?.key,
          objects: [`Service/${name.slice(name.indexOf("/") + 1)}`],
          ports: (where?.ports ?? []).map((p) => ({ port: p.port, protocol: p.protocol })),
        };
      });
      return {
        pools: poolViews,
        holdings: [
          ...others,
          ...owned.list(SERVICES).map((svc): HoldingView => ({
            ...owned.holding(svc),
            lb: svc.metadata.annotations?.[LB_ANNOTATION],
            objects: [`Service/${svc.metadata.name}`],
            ports: ((svc.spec?.ports ?? []) as ServicePort[]).map((p) => ({
              name: p.name,
              port: p.port,
              protocol: p.protocol,
              containerPort: Number(p.targetPort),
            })),
          })),
        ],
      };
    },

    extension: {
      kinds: owned.kinds(),
      controllers: owned.controllers(),
      restore(ctx) {
        owned.attach(ctx);
        // The pools from the Services gamenet owns, before any allocation.
        for (const svc of owned.list(SERVICES)) {
          const lb = svc.metadata.annotations?.[LB_ANNOTATION];
          if (!lb) continue;
          ensurePool(lb);
          const byPort = new Map<number, Set<Protocol>>();
          for (const p of (svc.spec?.ports ?? []) as ServicePort[]) {
            byPort.set(p.port, (byPort.get(p.port) ?? new Set()).add(p.protocol));
          }
          const held: AllocatedPort[] = [...byPort].map(([port, protocols]) => ({
            port,
            protocol: protocols.size === 2 ? "TCPUDP" : [...protocols][0],
          }));
          pools.restore(lb, podKeyOf(svc), held);
        }
        return lookAtOthers().catch(() => {}).then(() => {
          restored = true;
        });
      },
    },
  };
}

/** The `namespace/name` of the Pod a Service is for: its ports' allocation key. */
function podKeyOf(svc: ExtensionObject): string {
  return `${svc.metadata.namespace}/${podNameOf(svc)}`;
}
