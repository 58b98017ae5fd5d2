/**
 * Alibaba Cloud's load-balancer types, through its cloud controller
 * manager (CCM): `AlibabaCloud-SLB` (alias `LB-Network`),
 * `AlibabaCloud-NLB` (`NLB-Network`) and `AlibabaCloud-Multi-NLBs`
 * (`Multi-NLBs-Network`, one address per ISP line). Each is an
 * {@linkcode LbFlavor} of `lb_service.ts`: the conf and annotations
 * OpenKruiseGame's plugins read and write (`cloudprovider/alibabacloud`),
 * the health checks validated with the ranges its manual gives.
 *
 * @example
 * ```ts
 * const slb = createLbServiceProvider(slbFlavor, { range: { min: 500, max: 700 }, blockPorts: [593] });
 * ```
 * @module
 */

import { confValue, podRef } from "./network_conf.ts";
import type { LbFlavor, LbGroups } from "./lb_service.ts";
import { singleLineLbs } from "./lb_service.ts";
import { ConfError, type NetworkConfEntry, type Pod, type Protocol } from "./types.ts";
import type { ExtensionObject } from "./extension.ts";

/** The CCM's annotation prefix. */
export const ALIBABA_LB = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer";
/** The LB a Service reuses. */
export const ALIBABA_LB_ID = `${ALIBABA_LB}-id`;
/** Let the CCM take over listeners on a reused LB. */
export const ALIBABA_FORCE_OVERRIDE = `${ALIBABA_LB}-force-override-listeners`;

/** The label Alibaba's CCM puts on a Service with the LB it is on. */
export const ALIBABA_LB_ID_LABEL = "service.k8s.alibaba/loadbalancer-id";
/** The Service class of NLBs. */
export const NLB_CLASS = "alibabacloud.com/nlb";

/** The Alibaba LB a Service is on, when it is of the class asked (NLB) or of none (SLB). */
function alibabaLbOf(svc: ExtensionObject, nlb: boolean): string | undefined {
  if ((svc.spec?.loadBalancerClass === NLB_CLASS) !== nlb) return undefined;
  return svc.metadata.annotations?.[ALIBABA_LB_ID] ?? svc.metadata.labels?.[ALIBABA_LB_ID_LABEL];
}

/** The health-check conf (`LBHealthCheck*`), as strings, validated. */
export interface AlibabaHealthCheck {
  switch: string;
  flag: string;
  type: string;
  connectPort: string;
  connectTimeout: string;
  interval: string;
  healthyThreshold: string;
  unhealthyThreshold: string;
  protocolPort: string;
  uri: string;
  domain: string;
  method: string;
}

/** What the Alibaba flavors read besides the LBs and ports. */
export interface AlibabaExtra {
  health: AlibabaHealthCheck;
  externalTrafficPolicy: "Local" | "Cluster";
  /** Multi-NLBs: `default` (first group with room) or `balanced` (the emptiest). */
  allocatePolicy: "default" | "balanced";
}

const HEALTH_KEYS = [
  "LBHealthCheckSwitch",
  "LBHealthCheckFlag",
  "LBHealthCheckType",
  "LBHealthCheckConnectPort",
  "LBHealthCheckConnectTimeout",
  "LBHealthyThreshold",
  "LBUnhealthyThreshold",
  "LBHealthCheckInterval",
  "LBHealthCheckProtocolPort",
  "LBHealthCheckUri",
  "LBHealthCheckDomain",
  "LBHealthCheckMethod",
];

function oneOf(pod: Pod, name: string, value: string, allowed: string[]): string {
  const v = value.toLowerCase();
  if (!allowed.includes(v)) {
    throw new ConfError(`Pod ${podRef(pod)}: ${name} "${value}": write ${allowed.join(" or ")}`);
  }
  return v;
}

function integerIn(pod: Pod, name: string, value: string, min: number, max: number): string {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) {
    throw new ConfError(
      `Pod ${podRef(pod)}: ${name} "${value}": a whole number from ${min} to ${max}`,
    );
  }
  return value;
}

/** The URI rule of the manual: starts with "/", 1-80 characters of a safe set. */
const URI = /^\/[0-9a-zA-Z.!$%&'*+/=?^_`{|}~-]*$/;
/** The domain rule: 1-80 of [a-z0-9-.], no leading or trailing "-" or ".", no "--" or "..". */
const DOMAIN = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/;

/**
 * Parses the `LBHealthCheck*` family with OpenKruiseGame's defaults and
 * the manual's ranges. `flagDefault` differs: SLB's plugin defaults the
 * flag to off, NLB's to on.
 * @throws {ConfError} naming the value and the range.
 */
export function parseHealthCheck(
  pod: Pod,
  conf: NetworkConfEntry[],
  flagDefault: "on" | "off",
): AlibabaHealthCheck {
  const get = (name: string, def: string) => confValue(pod, conf, name) ?? def;
  const uri = get("LBHealthCheckUri", "");
  if (uri && (uri.length > 80 || !URI.test(uri))) {
    throw new ConfError(
      `Pod ${podRef(pod)}: LBHealthCheckUri "${uri}": 1 to 80 characters starting with "/"`,
    );
  }
  const domain = get("LBHealthCheckDomain", "");
  if (domain && (domain.length > 80 || !DOMAIN.test(domain) || /--|\.\./.test(domain))) {
    throw new ConfError(
      `Pod ${podRef(pod)}: LBHealthCheckDomain "${domain}": 1 to 80 of a-z, 0-9, "-" and ".", ` +
        `not starting or ending with either, no "--" or ".."`,
    );
  }
  const protocolPort = get("LBHealthCheckProtocolPort", "");
  for (const item of protocolPort.split(",").filter(Boolean)) {
    const [proto, port, ...rest] = item.split(":");
    if (rest.length > 0 || !["http", "https"].includes(proto) || !/^\d+$/.test(port ?? "")) {
      throw new ConfError(
        `Pod ${podRef(pod)}: LBHealthCheckProtocolPort "${protocolPort}": write ` +
          `http:80,https:443`,
      );
    }
  }
  const method = get("LBHealthCheckMethod", "");
  return {
    switch: oneOf(pod, "LBHealthCheckSwitch", get("LBHealthCheckSwitch", "on"), ["on", "off"]),
    flag: oneOf(pod, "LBHealthCheckFlag", get("LBHealthCheckFlag", flagDefault), ["on", "off"]),
    type: oneOf(pod, "LBHealthCheckType", get("LBHealthCheckType", "tcp"), ["tcp", "http"]),
    connectPort: integerIn(
      pod,
      "LBHealthCheckConnectPort",
      get("LBHealthCheckConnectPort", "0"),
      0,
      65535,
    ),
    connectTimeout: integerIn(
      pod,
      "LBHealthCheckConnectTimeout",
      get("LBHealthCheckConnectTimeout", "5"),
      1,
      300,
    ),
    interval: integerIn(pod, "LBHealthCheckInterval", get("LBHealthCheckInterval", "10"), 1, 50),
    healthyThreshold: integerIn(pod, "LBHealthyThreshold", get("LBHealthyThreshold", "2"), 2, 10),
    unhealthyThreshold: integerIn(
      pod,
      "LBUnhealthyThreshold",
      get("LBUnhealthyThreshold", "2"),
      2,
      10,
    ),
    protocolPort,
    uri,
    domain,
    method: method ? oneOf(pod, "LBHealthCheckMethod", method, ["get", "head"]) : "",
  };
}

/**
 * The CCM's health-check annotations, as OpenKruiseGame's plugins write
 * them: SLB gates the checks on the switch and adds the listener's
 * protocol-port for http; NLB gates them on the flag and adds a connect
 * port.
 */
function healthAnnotations(h: AlibabaHealthCheck, nlb: boolean): Record<string, string> {
  const out: Record<string, string> = { [`${ALIBABA_LB}-health-check-flag`]: h.flag };
  if (!nlb) out[`${ALIBABA_LB}-health-check-switch`] = h.switch;
  if ((nlb ? h.flag : h.switch) !== "on") return out;
  Object.assign(out, {
    [`${ALIBABA_LB}-health-check-type`]: h.type,
    ...(nlb ? { [`${ALIBABA_LB}-health-check-connect-port`]: h.connectPort } : {}),
    [`${ALIBABA_LB}-health-check-connect-timeout`]: h.connectTimeout,
    [`${ALIBABA_LB}-health-check-interval`]: h.interval,
    [`${ALIBABA_LB}-healthy-threshold`]: h.healthyThreshold,
    [`${ALIBABA_LB}-unhealthy-threshold`]: h.unhealthyThreshold,
  });
  if (h.type === "http") {
    Object.assign(out, {
      ...(nlb ? {} : { [`${ALIBABA_LB}-protocol-port`]: h.protocolPort }),
      [`${ALIBABA_LB}-health-check-domain`]: h.domain,
      [`${ALIBABA_LB}-health-check-uri`]: h.uri,
      [`${ALIBABA_LB}-health-check-method`]: h.method,
    });
  }
  return out;
}

/** SLB's health-check annotations. */
export function slbHealthAnnotations(h: AlibabaHealthCheck): Record<string, string> {
  return healthAnnotations(h, false);
}

/** NLB's (and Multi-NLBs') health-check annotations. */
export function nlbHealthAnnotations(h: AlibabaHealthCheck): Record<string, string> {
  return healthAnnotations(h, true);
}

function trafficPolicy(
  pod: Pod,
  conf: NetworkConfEntry[],
  def: "Local" | "Cluster",
): "Local" | "Cluster" {
  const text = confValue(pod, conf, "ExternalTrafficPolicyType");
  if (text === undefined || text === "") return def;
  return text.toLowerCase() === "local" ? "Local" : "Cluster";
}

const lower = (p: Protocol) => p.toLowerCase();

/** `AlibabaCloud-SLB`. */
export const slbFlavor: LbFlavor<AlibabaExtra> = {
  type: "AlibabaCloud-SLB",
  aliases: ["LB-Network"],
  lbOf: (svc) => alibabaLbOf(svc, false),
  confKeys: ["SlbIds", "ExternalTrafficPolicyType", ...HEALTH_KEYS],
  parseLbs: (pod, conf) => singleLineLbs(pod, conf, "SlbIds"),
  parseExtra: (pod, conf) => ({
    health: parseHealthCheck(pod, conf, "off"),
    externalTrafficPolicy: trafficPolicy(pod, conf, "Cluster"),
    allocatePolicy: "default",
  }),
  annotations: (extra, lb) => ({
    [ALIBABA_FORCE_OVERRIDE]: "true",
    [ALIBABA_LB_ID]: lb,
    ...slbHealthAnnotations(extra.health),
  }),
  spec: (extra) => ({ externalTrafficPolicy: extra.externalTrafficPolicy }),
  servicePortName: (port, protocol) => `${port}-${lower(protocol)}`,
  statusPortName: (port) => String(port),
  external: (ingress, _line, ports) => ports.map((p) => ({ ip: ingress[0]?.ip ?? "", ports: [p] })),
};

/** `AlibabaCloud-NLB`: the NLB's DNS name is the address's `endPoint`. */
export const nlbFlavor: LbFlavor<AlibabaExtra> = {
  type: "AlibabaCloud-NLB",
  aliases: ["NLB-Network"],
  lbOf: (svc) => alibabaLbOf(svc, true),
  confKeys: ["NlbIds", "ExternalTrafficPolicyType", ...HEALTH_KEYS],
  parseLbs: (pod, conf) => singleLineLbs(pod, conf, "NlbIds"),
  parseExtra: (pod, conf) => ({
    health: parseHealthCheck(pod, conf, "on"),
    externalTrafficPolicy: trafficPolicy(pod, conf, "Local"),
    allocatePolicy: "default",
  }),
  annotations: (extra, lb) => ({
    [ALIBABA_FORCE_OVERRIDE]: "true",
    [ALIBABA_LB_ID]: lb,
    ...nlbHealthAnnotations(extra.health),
  }),
  spec: (extra) => ({
    externalTrafficPolicy: extra.externalTrafficPolicy,
    loadBalancerClass: NLB_CLASS,
  }),
  servicePortName: (port, protocol, both) => (both ? `${port}-${lower(protocol)}` : String(port)),
  statusPortName: (port) => String(port),
  external: (ingress, _line, ports) =>
    ports.map((p) => ({
      ip: ingress[0]?.ip ?? "",
      ...(ingress[0]?.hostname ? { endPoint: ingress[0].hostname } : {}),
      ports: [p],
    })),
};

/**
 * Parses `NlbIdNames` (`{nlb-id}/{line},…`): the k-th id given for a line
 * is in group k, and every line needs as many ids.
 */
export function parseNlbIdNames(pod: Pod, conf: NetworkConfEntry[]): LbGroups {
  const text = confValue(pod, conf, "NlbIdNames") ?? "";
  const lines: string[] = [];
  const byLine = new Map<string, string[]>();
  for (const item of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    const parts = item.split("/");
    if (parts.length !== 2 || !parts[0] || !parts[1]) {
      throw new ConfError(
        `Pod ${podRef(pod)}: NlbIdNames "${text}": write {nlb-id}/{line},…, e.g. ` +
          `nlb-a/DianXin,nlb-b/LianTong`,
      );
    }
    const [id, line] = parts;
    if (!byLine.has(line)) {
      lines.push(line);
      byLine.set(line, []);
    }
    byLine.get(line)!.push(id);
  }
  if (lines.length === 0) {
    throw new ConfError(`Pod ${podRef(pod)}: needs NlbIdNames, e.g. nlb-a/DianXin,nlb-b/LianTong`);
  }
  const sizes = new Set(lines.map((l) => byLine.get(l)!.length));
  if (sizes.size !== 1) {
    throw new ConfError(
      `Pod ${podRef(pod)}: NlbIdNames "${text}": every line needs as many NLBs (${
        lines.map((l) => `${l}: ${byLine.get(l)!.length}`).join(", ")
      })`,
    );
  }
  const groups = Array.from(
    { length: [...sizes][0] },
    (_, k) => lines.map((l) => byLine.get(l)![k]),
  );
  return { lines, groups };
}

/**
 * `AlibabaCloud-Multi-NLBs`: one Service per line, the same port number
 * on one NLB of every line.
 */
export const multiNlbsFlavor: LbFlavor<AlibabaExtra> = {
  type: "AlibabaCloud-Multi-NLBs",
  aliases: ["Multi-NLBs-Network"],
  lbOf: (svc) => alibabaLbOf(svc, true),
  confKeys: ["NlbIdNames", "ExternalTrafficPolicyType", "AllocatePolicy", ...HEALTH_KEYS],
  parseLbs: parseNlbIdNames,
  parseExtra: (pod, conf) => {
    const policy = (confValue(pod, conf, "AllocatePolicy") || "default").toLowerCase();
    if (policy !== "default" && policy !== "balanced") {
      throw new ConfError(
        `Pod ${podRef(pod)}: AllocatePolicy "${policy}": write default or balanced`,
      );
    }
    return {
      health: parseHealthCheck(pod, conf, "on"),
      externalTrafficPolicy: trafficPolicy(pod, conf, "Local"),
      allocatePolicy: policy,
    };
  },
  annotations: (extra, lb) => ({
    [ALIBABA_FORCE_OVERRIDE]: "true",
    [ALIBABA_LB_ID]: lb,
    ...nlbHealthAnnotations(extra.health),
  }),
  spec: (extra) => ({
    externalTrafficPolicy: extra.externalTrafficPolicy,
    loadBalancerClass: NLB_CLASS,
    allocateLoadBalancerNodePorts: false,
  }),
  servicePortName: (port, protocol) => `${port}-${lower(protocol)}`,
  statusPortName: (port, protocol) => `${port}-${lower(protocol)}`,
  external: (ingress, line, ports) =>
    ports.map((p) => ({
      ip: ingress[0]?.ip ?? "",
      endPoint: `${ingress[0]?.hostname ?? ingress[0]?.ip ?? ""}/${line}`,
      ports: [p],
    })),
  policy: (extra) => (extra.allocatePolicy === "balanced" ? "balanced" : "first-fit"),
};
