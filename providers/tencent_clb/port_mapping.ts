/**
 * The Pod annotations of tke-extend-network-controller's CLB port pools,
 * as its users write them:
 *
 * ```yaml
 * networking.cloud.tencent.com/enable-clb-port-mapping: "true"
 * networking.cloud.tencent.com/clb-port-mapping: |-
 *   8000 UDP pool-test
 *   7000 TCPUDP pool-ctcc,pool-cmcc useSamePortAcrossPools
 * ```
 *
 * One line per Pod port: the port, its protocol, the pools (one address
 * per pool: several pools are several ISP lines), and options
 * (`useSamePortAcrossPools`, `certSecret=<name>`). `"false"` keeps the
 * listeners but takes the Pod out of them (OpenKruiseGame writes it for
 * `network-disabled`). The results go back as TKE writes them
 * ({@linkcode mappingResult}).
 *
 * @example
 * ```ts
 * parsePortMapping("8000 TCPUDP pool-a,pool-b");
 * // [{ port: 8000, protocol: "TCPUDP", pools: ["pool-a", "pool-b"] }]
 * ```
 * @module
 */

import { ConfError } from "../types.ts";

/** `"true"` (mapped) or `"false"` (listeners kept, Pod taken out of them). */
export const ENABLE_PORT_MAPPING_ANNOTATION =
  "networking.cloud.tencent.com/enable-clb-port-mapping";
/** The mapping lines. */
export const PORT_MAPPING_ANNOTATION = "networking.cloud.tencent.com/clb-port-mapping";
/** Written by gamenet: the addresses, as a JSON array ({@linkcode MappingResult}). */
export const PORT_MAPPING_RESULT_ANNOTATION =
  "networking.cloud.tencent.com/clb-port-mapping-result";
/** Written by gamenet: `Ready`, or the binding's state while it is not. */
export const PORT_MAPPING_STATUS_ANNOTATION =
  "networking.cloud.tencent.com/clb-port-mapping-status";

/** A protocol a mapping line may name. */
export type MappingProtocol = "TCP" | "UDP" | "TCPUDP" | "TCP_SSL" | "QUIC";
const PROTOCOLS: readonly MappingProtocol[] = ["TCP", "UDP", "TCPUDP", "TCP_SSL", "QUIC"];

/** One line: a `CLBPodBinding`'s `spec.ports[]` entry, field for field. */
export interface PortEntry {
  port: number;
  protocol: MappingProtocol;
  pools: string[];
  useSamePortAcrossPools?: boolean;
  certSecretName?: string;
}

/**
 * Parses the mapping lines; blank lines are skipped, unknown options
 * ignored (as TKE does).
 * @throws {ConfError} `InvalidPortMapping`, naming the line and what to write.
 */
export function parsePortMapping(text: string): PortEntry[] {
  const out: PortEntry[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line) continue;
    const fields = line.split(/\s+/);
    const fail = (why: string) =>
      new ConfError(
        `${PORT_MAPPING_ANNOTATION} line "${line}": ${why}; write "<port> <protocol> <pool>[,<pool>...]", ` +
          `e.g. "8000 UDP pool-test"`,
        "InvalidPortMapping",
      );
    if (fields.length < 3) throw fail("it needs a port, a protocol and a pool");
    const port = Number(fields[0]);
    if (!/^\d{1,5}$/.test(fields[0]) || port < 1 || port > 65535) {
      throw fail(`"${fields[0]}" is not a port (1-65535)`);
    }
    const protocol = fields[1] as MappingProtocol;
    if (!PROTOCOLS.includes(protocol)) {
      throw fail(`protocol "${fields[1]}" is not one of ${PROTOCOLS.join(", ")}`);
    }
    const pools = fields[2].split(",").map((p) => p.trim()).filter(Boolean);
    if (pools.length === 0) throw fail("no pool named");
    if (new Set(pools).size !== pools.length) throw fail("a pool is named twice");
    const entry: PortEntry = { port, protocol, pools };
    for (const option of (fields[3] ?? "").split(",").filter(Boolean)) {
      const [key, value] = option.split("=", 2);
      if (key === "useSamePortAcrossPools" && value === undefined) {
        entry.useSamePortAcrossPools = true;
      } else if (key === "certSecret" && value) entry.certSecretName = value;
    }
    if (out.some((e) => e.port === port && overlaps(e.protocol, protocol))) {
      throw fail(`port ${port} ${protocol} is mapped twice`);
    }
    out.push(entry);
  }
  if (out.length === 0) {
    throw new ConfError(
      `${PORT_MAPPING_ANNOTATION} is empty: give one line per port, e.g. "8000 UDP pool-test"`,
      "InvalidPortMapping",
    );
  }
  return out;
}

/** The listener protocols a mapping protocol takes (TCPUDP: two listeners, one number). */
export function listenerProtocols(protocol: MappingProtocol): ("TCP" | "UDP")[] {
  return protocol === "TCPUDP"
    ? ["TCP", "UDP"]
    : protocol === "UDP" || protocol === "QUIC"
    ? ["UDP"]
    : ["TCP"];
}

function overlaps(a: MappingProtocol, b: MappingProtocol): boolean {
  return listenerProtocols(a).some((p) => listenerProtocols(b).includes(p));
}

/** A `CLBPodBinding`'s `status.portBindings[]` entry, field for field. */
export interface PortBinding {
  port: number;
  protocol: "TCP" | "UDP";
  pool: string;
  region: string;
  loadbalancerId: string;
  loadbalancerPort: number;
  listenerId: string;
}

/** What the pool says of a CLB: its addresses. */
export interface LbAddress {
  ips?: string[];
  hostname?: string;
}

/** One entry of `clb-port-mapping-result`: a binding and where players reach it. */
export interface MappingResult extends PortBinding {
  hostname?: string;
  ips?: string[];
  /** `ip:port` (or `hostname:port`), what OpenKruiseGame reads. */
  address: string;
}

/**
 * The result entries in TKE's field order (its Go struct's): a program
 * comparing the annotation as text sees what TKE writes.
 *
 * @example
 * ```ts
 * mappingResult(binding, { ips: ["203.0.113.7"] }).address; // "203.0.113.7:30000"
 * ```
 */
export function mappingResult(b: PortBinding, lb: LbAddress): MappingResult {
  const host = lb.hostname || lb.ips?.[0] || "";
  return {
    port: b.port,
    protocol: b.protocol,
    pool: b.pool,
    region: b.region,
    loadbalancerId: b.loadbalancerId,
    loadbalancerPort: b.loadbalancerPort,
    listenerId: b.listenerId,
    ...(lb.hostname ? { hostname: lb.hostname } : {}),
    ...(lb.ips?.length ? { ips: lb.ips } : {}),
    // No brackets around an IPv6 VIP: TKE writes none, and readers split at the last colon.
    address: host ? `${host}:${b.loadbalancerPort}` : "",
  };
}
