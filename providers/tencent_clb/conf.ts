/**
 * The `TencentCloud-CLB` network type's name and conf: `ClbIds`
 * (required, `lb-a,lb-b`), `PortProtocols` (required,
 * `{containerPort}[/{TCP|UDP|TCPUDP}],...`, TCP by default), `MinPort` and
 * `MaxPort` (the listener ports, default {@linkcode DEFAULT_CLB_PORT_RANGE};
 * one range per CLB), `Fixed` (`true`: the listeners and ports are kept
 * for the Pod of the same name its workload creates next), `ListenerQuota`
 * (the listeners each of those CLBs may hold, when raised per instance).
 *
 * @example
 * ```ts
 * parseClbConf(pod); // { clbIds: ["lb-a"], ports: [{ containerPort: 7777, protocol: "UDP" }], min: 700, max: 750, fixed: false }
 * ```
 * @module
 */

import { checkConfKeys, confValue, parseNetworkConf, parsePort, podRef } from "../network_conf.ts";
import { ConfError, type Pod } from "../types.ts";

/** The canonical name. */
export const TENCENT_CLB = "TencentCloud-CLB";
/** The names it answers to besides. */
export const CLB_ALIASES = ["CLB-Network"] as const;

/** Listener ports when a Pod names no `MinPort`/`MaxPort` (OpenKruiseGame's default). */
export const DEFAULT_CLB_PORT_RANGE = { min: 700, max: 750 } as const;

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
  /**
   * `ListenerQuota`: the listeners each of these CLBs may hold, when their
   * quota was raised one by one (OpenKruiseGame hands it to
   * tke-extend-network-controller's pool as `listenerQuota`); else the
   * account's `TOTAL_LISTENER_QUOTA`.
   */
  listenerQuota?: number;
}

const CLB_ID = /^lb-[0-9a-z]{4,}$/;

/**
 * Parses and checks a Pod's conf.
 * @throws {ConfError} naming the Pod, the key and what to write.
 */
export function parseClbConf(pod: Pod): ClbConf {
  const conf = parseNetworkConf(pod);
  checkConfKeys(pod, TENCENT_CLB, conf, [
    "ClbIds",
    "PortProtocols",
    "MinPort",
    "MaxPort",
    "Fixed",
    "ListenerQuota",
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
    const containerPort = parsePort(pod, "PortProtocols", portText);
    if (ports.some((p) => p.containerPort === containerPort)) {
      throw new ConfError(
        `Pod ${podRef(pod)}: PortProtocols "${portsText}": port ${containerPort} is asked twice`,
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
  const quotaText = confValue(pod, conf, "ListenerQuota");
  let listenerQuota: number | undefined;
  if (quotaText !== undefined && quotaText !== "") {
    listenerQuota = Number(quotaText);
    if (!/^\d+$/.test(quotaText.trim()) || listenerQuota < 1 || listenerQuota > 65535) {
      throw new ConfError(
        `Pod ${
          podRef(pod)
        }: ListenerQuota "${quotaText}": write the listeners one CLB may hold, e.g. "500"`,
      );
    }
  }
  return {
    clbIds,
    ports,
    min,
    max,
    fixed: fixedText === "true",
    ...(listenerQuota !== undefined ? { listenerQuota } : {}),
  };
}
