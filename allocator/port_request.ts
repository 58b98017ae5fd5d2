/**
 * Requests as the pools read them: a {@linkcode PortRequest} normalised to
 * one {@linkcode PortSpec} per port (checked once, at the edge), whether
 * what an owner holds answers a request again (idempotence), and the
 * small conversions between request protocols and held ones.
 *
 * @example
 * ```ts
 * requestedPorts({ count: 2, protocol: "UDP" }); // [{ protocol: "UDP" }, { protocol: "UDP" }]
 * ```
 * @module
 */

import { AllocationError } from "./errors.ts";
import type {
  AllocatedPort,
  HeldPort,
  PortRequest,
  PortSpec,
  Protocol,
  RequestProtocol,
} from "./types.ts";

/** `{count: 1}` requests, shared so the hot path allocates no spec. */
const ONE: Record<string, readonly PortSpec[]> = {
  TCP: Object.freeze([Object.freeze({ protocol: "TCP" as const })]),
  UDP: Object.freeze([Object.freeze({ protocol: "UDP" as const })]),
  TCPUDP: Object.freeze([Object.freeze({ protocol: "TCPUDP" as const })]),
};

/** A port and protocol as one number: `port * 2 + (UDP ? 1 : 0)`. */
export function portKey(port: number, protocol: Protocol): number {
  return port * 2 + (protocol === "UDP" ? 1 : 0);
}

/** The protocols a request protocol stands for (`TCPUDP`: both). */
export function expand(p: RequestProtocol): Protocol[] {
  return p === "TCPUDP" ? ["TCP", "UDP"] : [p];
}

/**
 * Turns a request into its list of specs, or throws `invalid-request`.
 *
 * @example
 * ```ts
 * requestedPorts({ count: 2, protocol: "UDP" }); // [{ protocol: "UDP" }, { protocol: "UDP" }]
 * ```
 */
export function requestedPorts(request: PortRequest): readonly PortSpec[] {
  if (request.ports !== undefined && request.count !== undefined) {
    throw new AllocationError("invalid-request", "Give either ports or count, not both");
  }
  let specs: PortSpec[];
  if (request.count !== undefined) {
    if (!Number.isInteger(request.count) || request.count <= 0) {
      throw new AllocationError(
        "invalid-request",
        `Port count must be a whole number above 0, not ${request.count}`,
      );
    }
    const protocol = request.protocol ?? "TCP";
    if (request.count === 1 && ONE[protocol]) return ONE[protocol];
    const spec = { protocol };
    specs = new Array(request.count);
    for (let i = 0; i < request.count; i++) specs[i] = spec;
  } else {
    specs = request.ports ?? [];
  }
  if (specs.length === 0) {
    throw new AllocationError("invalid-request", "A request needs at least one port");
  }
  for (let i = 0; i < specs.length; i++) {
    const s = specs[i];
    if (s.protocol !== "TCP" && s.protocol !== "UDP" && s.protocol !== "TCPUDP") {
      throw new AllocationError(
        "invalid-request",
        `Protocol must be TCP, UDP or TCPUDP, not "${s.protocol}"`,
      );
    }
    if (s.port !== undefined && !Number.isInteger(s.port)) {
      throw new AllocationError("invalid-request", `Port must be a whole number, not ${s.port}`);
    }
  }
  return specs;
}

/** Whether `held` answers a request for `specs` (the same again, for idempotence). */
export function answers(
  held: readonly AllocatedPort[],
  specs: readonly PortSpec[],
  contiguous: boolean,
): boolean {
  if (held.length !== specs.length) return false;
  for (let i = 0; i < specs.length; i++) {
    const s = specs[i];
    if (held[i].protocol !== s.protocol || (s.port !== undefined && held[i].port !== s.port)) {
      return false;
    }
    if (contiguous && i > 0 && held[i].port !== held[i - 1].port + 1) return false;
  }
  return true;
}

/** Whether two request protocols share a protocol. */
export function overlaps(a: RequestProtocol, b: RequestProtocol): boolean {
  return a === b || a === "TCPUDP" || b === "TCPUDP";
}

/** One entry per protocol; the same array when it has no TCPUDP entry. */
export function heldPorts(ports: readonly AllocatedPort[]): HeldPort[] {
  let both = false;
  for (let i = 0; i < ports.length; i++) if (ports[i].protocol === "TCPUDP") both = true;
  if (!both) return ports as HeldPort[];
  const out: HeldPort[] = [];
  for (const { port, protocol } of ports) {
    for (const p of expand(protocol)) out.push({ port, protocol: p });
  }
  return out;
}

/** Ports as `8000/UDP, 8001/TCP`, for messages. */
export function describe(ports: readonly AllocatedPort[]): string {
  return ports.map((p) => `${p.port}/${p.protocol}`).join(", ") || "nothing";
}
