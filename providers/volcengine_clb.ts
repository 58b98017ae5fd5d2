/**
 * `Volcengine-CLB` (alias `CLB-Network` in OpenKruiseGame, taken here by
 * Tencent's type): a port on one of the user's Volcengine CLBs through
 * Volcengine's cloud controller manager, an {@linkcode LbFlavor} of
 * `lb_service.ts` with the conf and annotations of OpenKruiseGame's
 * plugin (`cloudprovider/volcengine/clb.go`).
 *
 * Conf: `ClbIds`, `PortProtocols`, `Fixed`, `AllowNotReadyContainers`,
 * `AllocateLoadBalancerNodePorts` (default true), `Annotations`
 * (`key:value,…`, added to the Service's, may override them),
 * `EnableClbScatter` (the CLBs in turn instead of the first with room),
 * `EnableMultiIngress` (an address per IP the CLB has).
 *
 * @example
 * ```ts
 * const clb = createLbServiceProvider(volcengineClbFlavor, { range: { min: 550, max: 599 } });
 * ```
 * @module
 */

import { confValue, parseFixed, podRef } from "./network_conf.ts";
import { type LbFlavor, singleLineLbs } from "./lb_service.ts";
import { ConfError, type NetworkConfEntry, type Pod } from "./types.ts";

/** The CCM's annotation prefix. */
export const VOLCENGINE_LB = "service.beta.kubernetes.io/volcengine-loadbalancer";

/** What the flavor reads besides the CLBs and ports. */
export interface VolcengineExtra {
  allocateNodePorts: boolean;
  annotations: Record<string, string>;
  scatter: boolean;
  multiIngress: boolean;
}

function flag(pod: Pod, conf: NetworkConfEntry[], name: string, def: boolean): boolean {
  const text = confValue(pod, conf, name);
  if (text === undefined || text === "") return def;
  try {
    return parseFixed(pod, text);
  } catch {
    throw new ConfError(`Pod ${podRef(pod)}: ${name} "${text}": write true or false`);
  }
}

/** Parses `Annotations` (`key:value,key:value`). */
function parseAnnotations(pod: Pod, conf: NetworkConfEntry[]): Record<string, string> {
  const text = confValue(pod, conf, "Annotations") ?? "";
  const out: Record<string, string> = {};
  for (const item of text.split(",").filter((s) => s.trim())) {
    const at = item.indexOf(":");
    if (at <= 0) {
      throw new ConfError(
        `Pod ${podRef(pod)}: Annotations "${text}": write key:value,key:value`,
      );
    }
    out[item.slice(0, at).trim()] = item.slice(at + 1).trim();
  }
  return out;
}

/** `Volcengine-CLB`. */
export const volcengineClbFlavor: LbFlavor<VolcengineExtra> = {
  type: "Volcengine-CLB",
  aliases: [],
  // Volcengine's CCM labels the Service with the id too (OpenKruiseGame reads the label).
  lbOf: (svc) =>
    svc.metadata.annotations?.[`${VOLCENGINE_LB}-id`] ??
      svc.metadata.labels?.[`${VOLCENGINE_LB}-id`],
  confKeys: [
    "ClbIds",
    "AllocateLoadBalancerNodePorts",
    "Annotations",
    "EnableClbScatter",
    "EnableMultiIngress",
  ],
  parseLbs: (pod, conf) => singleLineLbs(pod, conf, "ClbIds"),
  parseExtra: (pod, conf) => ({
    allocateNodePorts: flag(pod, conf, "AllocateLoadBalancerNodePorts", true),
    annotations: parseAnnotations(pod, conf),
    scatter: flag(pod, conf, "EnableClbScatter", false),
    multiIngress: flag(pod, conf, "EnableMultiIngress", false),
  }),
  annotations: (extra, lb) => ({
    [`${VOLCENGINE_LB}-scheduler`]: "wrr",
    [`${VOLCENGINE_LB}-address-type`]: "PUBLIC",
    [`${VOLCENGINE_LB}-id`]: lb,
    ...extra.annotations,
  }),
  spec: (extra) => ({ allocateLoadBalancerNodePorts: extra.allocateNodePorts }),
  servicePortName: (port, protocol) => `${port}-${protocol.toLowerCase()}`,
  statusPortName: (port) => String(port),
  external: (ingress, _line, ports, extra) =>
    (extra.multiIngress ? ingress : ingress.slice(0, 1)).flatMap((i) =>
      ports.map((p) => ({ ip: i.ip ?? "", ports: [p] }))
    ),
  policy: (extra) => (extra.scatter ? "round-robin" : "first-fit"),
};
