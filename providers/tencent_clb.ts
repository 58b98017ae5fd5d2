/**
 * `TencentCloud-CLB` (alias `CLB-Network`): every Pod port gets a listener
 * of its own on one of the Pod's CLBs, with the Pod IP:port as its only
 * target; players connect to the CLB VIP and the listener port.
 *
 * Conf: `ClbIds` (required, `lb-a,lb-b`: the Pod's ports all go to one of
 * them, the first with room), `PortProtocols` (required,
 * `{containerPort}[/{TCP|UDP|TCPUDP}],...`, TCP by default), `MinPort` and
 * `MaxPort` (the listener ports, default {@linkcode DEFAULT_CLB_PORT_RANGE};
 * one range per CLB), `Fixed` (`true`: the ports are kept for a Pod of the
 * same name after a deletion).
 *
 * Listener ports come from a bitmap pool per CLB; the cloud writes go
 * through a {@linkcode ClbWriter} (batched, one at a time per CLB,
 * retried). Listeners are named after the Pod, so gamenet knows its own.
 * `network-disabled=true` deregisters the target and keeps the listener.
 *
 * @example
 * ```ts
 * const clb = createTencentClbProvider({ api, writer: new ClbWriter(api) });
 * ```
 * @module
 */

import { AllocationError } from "../allocator/errors.ts";
import { type AllocatedPort, PoolSet } from "../allocator/mod.ts";
import { portName } from "./addresses.ts";
import { checkConfKeys, confValue, parseNetworkConf, parsePort, podRef } from "./network_conf.ts";
import type { Provider, ProviderView } from "./provider.ts";
import type { ClbApi } from "./tencent_clb/clb_api.ts";
import type { ClbWriter } from "./tencent_clb/clb_writer.ts";
import {
  ConfError,
  NETWORK_DISABLED_LABEL,
  type NetworkPort,
  type NetworkReport,
  type Outcome,
  type Pod,
} from "./types.ts";

/** The canonical name. */
export const TENCENT_CLB = "TencentCloud-CLB";

/** Listener ports when a Pod names no `MinPort`/`MaxPort` (OpenKruiseGame's default). */
export const DEFAULT_CLB_PORT_RANGE = { min: 700, max: 750 } as const;

/** How long a Pod without an IP waits before it is looked at again. */
const WAIT_FOR_POD_IP_MS = 2_000;

/** One Pod port as the conf asks for it. */
export interface ClbPortRequest {
  containerPort: number;
  protocol: "TCP" | "UDP" | "TCPUDP";
}

/** A parsed conf. */
export interface ClbConf {
  clbIds: string[];
  ports: ClbPortRequest[];
  min: number;
  max: number;
  fixed: boolean;
}

/** Options of {@linkcode createTencentClbProvider}. */
export interface TencentClbOptions {
  /** For the CLBs' VIPs (`DescribeLoadBalancers`). */
  api: Pick<ClbApi, "DescribeLoadBalancers">;
  /** Every listener and target write. */
  writer: ClbWriter;
}

interface HeldListener {
  lb: string;
  listenerId: string;
  port: number;
  protocol: "TCP" | "UDP";
  containerPort: number;
  /** The IP registered as its target, if any. */
  target?: string;
}

const CLB_ID = /^lb-[0-9a-z]{4,}$/;

/** Creates the provider. */
export function createTencentClbProvider(options: TencentClbOptions): Provider<ClbConf> {
  const { api, writer } = options;
  /** One pool set per range; a CLB belongs to the range its first Pod asked for. */
  const pools = new Map<string, PoolSet>();
  const rangeOfLb = new Map<string, string>();
  const held = new Map<string, HeldListener[]>();
  const vips = new Map<string, string>();

  const setFor = (conf: ClbConf) => {
    const key = `${conf.min}-${conf.max}`;
    let set = pools.get(key);
    if (!set) pools.set(key, set = new PoolSet(conf.min, conf.max));
    return set;
  };

  async function vipOf(lb: string): Promise<string> {
    const known = vips.get(lb);
    if (known) return known;
    const res = await writer.read(
      "DescribeLoadBalancers",
      () => api.DescribeLoadBalancers({ LoadBalancerIds: [lb] }),
    );
    const vip = res.LoadBalancerSet?.[0]?.LoadBalancerVips?.[0];
    if (!vip) {
      throw new ConfError(`CLB ${lb} has no VIP (or does not exist in this region)`, "ClbNotFound");
    }
    vips.set(lb, vip);
    return vip;
  }

  function allocate(pod: Pod, conf: ClbConf, owner: string) {
    for (const lb of conf.clbIds) {
      const range = rangeOfLb.get(lb);
      if (range && range !== `${conf.min}-${conf.max}`) {
        throw new ConfError(
          `Pod ${podRef(pod)}: CLB ${lb} already serves listener ports ${range}: ` +
            `give MinPort/MaxPort ${range.replace("-", "/")} or another CLB`,
          "ClbRangeMismatch",
        );
      }
    }
    const set = setFor(conf);
    for (const lb of conf.clbIds) {
      set.ensure(lb);
      rangeOfLb.set(lb, `${conf.min}-${conf.max}`);
    }
    try {
      return set.allocateAcross(conf.clbIds, owner, {
        ports: conf.ports.map((p) => ({ protocol: p.protocol })),
      }, "first-fit");
    } catch (err) {
      if (err instanceof AllocationError && err.code.startsWith("exhausted")) {
        throw new ConfError(
          `Pod ${podRef(pod)}: no listener port free on ${conf.clbIds.join(", ")} in ` +
            `${conf.min}-${conf.max} for ${conf.ports.length} port(s); it waits for one to be released`,
          "ClbPortsExhausted",
        );
      }
      throw err;
    }
  }

  return {
    name: TENCENT_CLB,
    aliases: ["CLB-Network"],

    parse(pod: Pod): ClbConf {
      const conf = parseNetworkConf(pod);
      checkConfKeys(pod, TENCENT_CLB, conf, [
        "ClbIds",
        "PortProtocols",
        "MinPort",
        "MaxPort",
        "Fixed",
      ]);
      const idsText = confValue(pod, conf, "ClbIds") ?? "";
      const clbIds = idsText.split(",").map((s) => s.trim()).filter(Boolean);
      if (clbIds.length === 0) {
        throw new ConfError(`Pod ${podRef(pod)}: ${TENCENT_CLB} needs ClbIds, e.g. "lb-abc123"`);
      }
      for (const id of clbIds) {
        if (!CLB_ID.test(id)) {
          throw new ConfError(
            `Pod ${podRef(pod)}: ClbIds "${idsText}": "${id}" is not a CLB id (like lb-abc123)`,
          );
        }
      }
      const portsText = confValue(pod, conf, "PortProtocols") ?? "";
      const ports: ClbPortRequest[] = [];
      for (const part of portsText.split(",").map((s) => s.trim()).filter(Boolean)) {
        const [portText, protoText = "TCP", extra] = part.split("/");
        const protocol = protoText.trim().toUpperCase();
        if (extra !== undefined || !["TCP", "UDP", "TCPUDP"].includes(protocol)) {
          throw new ConfError(
            `Pod ${podRef(pod)}: PortProtocols "${part}": write {port}/{protocol} with protocol ` +
              `TCP, UDP or TCPUDP, e.g. "7777/UDP"`,
          );
        }
        const containerPort = parsePort(pod, `PortProtocols "${part}"`, portText);
        if (ports.some((p) => p.containerPort === containerPort)) {
          throw new ConfError(
            `Pod ${
              podRef(pod)
            }: PortProtocols "${portsText}": port ${containerPort} is asked twice`,
          );
        }
        ports.push({ containerPort, protocol: protocol as ClbPortRequest["protocol"] });
      }
      if (ports.length === 0) {
        throw new ConfError(
          `Pod ${podRef(pod)}: ${TENCENT_CLB} needs PortProtocols, e.g. "7777/UDP,7778/TCP"`,
        );
      }
      const minText = confValue(pod, conf, "MinPort");
      const maxText = confValue(pod, conf, "MaxPort");
      const min = minText ? parsePort(pod, "MinPort", minText) : DEFAULT_CLB_PORT_RANGE.min;
      const max = maxText ? parsePort(pod, "MaxPort", maxText) : DEFAULT_CLB_PORT_RANGE.max;
      if (min > max) {
        throw new ConfError(`Pod ${podRef(pod)}: MinPort ${min} is above MaxPort ${max}`);
      }
      const fixedText = (confValue(pod, conf, "Fixed") ?? "false").toLowerCase();
      if (fixedText !== "true" && fixedText !== "false") {
        throw new ConfError(`Pod ${podRef(pod)}: Fixed "${fixedText}": write true or false`);
      }
      return { clbIds, ports, min, max, fixed: fixedText === "true" };
    },

    // Listener ports are chosen once the Pod has an IP to put behind them.
    admit() {
      return Promise.resolve({ patch: [] });
    },

    async reconcile(pod: Pod, conf: ClbConf, ctx): Promise<Outcome> {
      const ip = pod.status?.podIP;
      const disabled = pod.metadata.labels?.[NETWORK_DISABLED_LABEL] === "true";
      const waiting: NetworkReport = {
        currentNetworkState: "Waiting",
        desiredNetworkState: disabled ? "NotReady" : "Ready",
        internalAddresses: [],
        externalAddresses: [],
      };
      if (!ip) return { kind: "requeueAfter", ms: WAIT_FOR_POD_IP_MS, report: waiting };
      let chosen: { key: string; ports: readonly AllocatedPort[] };
      try {
        chosen = allocate(pod, conf, ctx.owner);
      } catch (err) {
        if (err instanceof ConfError) {
          return {
            kind: "failed",
            error: err,
            report: { ...waiting, currentNetworkState: "NotReady" },
          };
        }
        throw err;
      }
      const lb = chosen.key;
      const container = pod.spec?.containers[0]?.name ?? "";
      const wanted = conf.ports.flatMap((p, i) =>
        (p.protocol === "TCPUDP" ? ["TCP", "UDP"] as const : [p.protocol]).map((protocol) => ({
          port: chosen.ports[i].port,
          protocol,
          containerPort: p.containerPort,
        }))
      );
      const ns = pod.metadata.namespace ?? "";
      const name = pod.metadata.name ?? "";
      try {
        const vip = await vipOf(lb);
        const mine = held.get(ctx.owner) ?? [];
        const listeners = await Promise.all(wanted.map(async (w) => {
          let h = mine.find((m) => m.lb === lb && m.port === w.port && m.protocol === w.protocol);
          if (!h) {
            const listenerId = await writer.createListener(lb, {
              port: w.port,
              protocol: w.protocol,
              name: listenerName(ns, name, w.containerPort, w.protocol),
            });
            h = { lb, listenerId, ...w };
          }
          return h;
        }));
        held.set(ctx.owner, listeners);
        await Promise.all(listeners.map(async (h) => {
          const target = disabled ? undefined : ip;
          if (h.target === target) return;
          if (h.target) {
            await writer.deregisterTarget(lb, {
              listenerId: h.listenerId,
              ip: h.target,
              port: h.containerPort,
            });
            h.target = undefined;
          }
          if (target) {
            await writer.registerTarget(lb, {
              listenerId: h.listenerId,
              ip: target,
              port: h.containerPort,
            });
            h.target = target;
          }
        }));
        const port = (h: HeldListener, external: boolean): NetworkPort => ({
          name: portName(container, h.containerPort),
          port: external ? h.port : h.containerPort,
          protocol: h.protocol,
        });
        return {
          kind: "done",
          report: {
            currentNetworkState: disabled ? "NotReady" : "Ready",
            desiredNetworkState: disabled ? "NotReady" : "Ready",
            internalAddresses: [{ ip, ports: listeners.map((h) => port(h, false)) }],
            externalAddresses: [{ ip: vip, ports: listeners.map((h) => port(h, true)) }],
          },
        };
      } catch (err) {
        if (err instanceof ConfError) {
          return {
            kind: "failed",
            error: err,
            report: { ...waiting, currentNetworkState: "NotReady" },
          };
        }
        const e = err as Error & { code?: string; retryable?: boolean };
        if (e.retryable === false) {
          return {
            kind: "failed",
            error: new ConfError(`Pod ${podRef(pod)}: ${e.message}`, "ClbRequestFailed"),
            report: { ...waiting, currentNetworkState: "NotReady" },
          };
        }
        return { kind: "retry", error: e, report: waiting };
      }
    },

    async release(owner: string): Promise<void> {
      const listeners = held.get(owner) ?? [];
      await Promise.all(listeners.map((h) => writer.deleteListener(h.lb, h.listenerId)));
      held.delete(owner);
      for (const set of pools.values()) set.release(owner);
    },

    view(): ProviderView {
      const view: ProviderView = { pools: [], holdings: [] };
      for (const set of pools.values()) {
        for (const p of set.snapshot().pools) {
          for (const protocol of ["TCP", "UDP"] as const) {
            view.pools.push({
              kind: "lb",
              key: p.key,
              range: `${p.min}-${p.max}`,
              protocol,
              used: p.used[protocol],
              free: p.free[protocol],
              delayed: p.delayed[protocol],
            });
          }
        }
      }
      for (const [owner, listeners] of held) {
        view.holdings.push({
          owner,
          lb: listeners[0]?.lb,
          ports: listeners.map((h) => ({ port: h.port, protocol: h.protocol })),
        });
      }
      return view;
    },
  };
}

/** The listener name: gamenet's mark, and the Pod it serves. */
export function listenerName(
  namespace: string,
  pod: string,
  containerPort: number,
  protocol: string,
): string {
  return `gamenet/${namespace}/${pod}/${containerPort}/${protocol}`;
}
