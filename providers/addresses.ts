/**
 * Which IPs a Pod and a Node have, per IP family, as NetworkStatus wants
 * them: one address entry per family, IPv4 first.
 *
 * @example
 * ```ts
 * podAddresses(pod);          // ["10.128.0.5", "fd00:10::5"]
 * nodeExternalAddresses(node); // ExternalIP per family, else InternalIP
 * ```
 * @module
 */

import type { Node, Pod } from "./types.ts";

/** `4` or `6`. */
export function ipFamily(ip: string): 4 | 6 {
  return ip.includes(":") ? 6 : 4;
}

function byFamily(ips: string[]): string[] {
  const seen = new Set<number>();
  const out: string[] = [];
  for (const ip of [...ips].sort((a, b) => ipFamily(a) - ipFamily(b))) {
    const f = ipFamily(ip);
    if (!seen.has(f)) {
      seen.add(f);
      out.push(ip);
    }
  }
  return out;
}

/** The Pod's IPs, one per family (empty before the Pod has an IP). */
export function podAddresses(pod: Pod): string[] {
  const ips = pod.status?.podIPs?.map((p) => p.ip) ?? [];
  if (ips.length === 0 && pod.status?.podIP) ips.push(pod.status.podIP);
  return byFamily(ips);
}

/**
 * The Node's public IPs, one per family: its ExternalIP, else its
 * InternalIP (clusters on private networks reach game servers there).
 */
export function nodeExternalAddresses(node: Node): string[] {
  const addrs = node.status?.addresses ?? [];
  const of = (type: string) => addrs.filter((a) => a.type === type).map((a) => a.address);
  const external = byFamily(of("ExternalIP"));
  const internal = byFamily(of("InternalIP"));
  const families = new Set([...external, ...internal].map(ipFamily));
  return [...families].sort().map((f) =>
    external.find((ip) => ipFamily(ip) === f) ?? internal.find((ip) => ipFamily(ip) === f)!
  );
}

/** The OpenKruiseGame port name: `{container}-{containerPort}`. */
export function portName(container: string, containerPort: number): string {
  return `${container}-${containerPort}`;
}
