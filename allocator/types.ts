/**
 * The allocator's vocabulary: protocols, requests, answers, snapshots,
 * and {@linkcode PortAllocator}, the small interface a pool offers (after
 * Kubernetes' service allocator: allocate, release, has, free, forEach,
 * snapshot/restore), behind which the strategy can change.
 *
 * @example
 * ```ts
 * import type { PortAllocator, PortRequest } from "./allocator/types.ts";
 * function give(pool: PortAllocator, owner: string, request: PortRequest) {
 *   return pool.allocate(owner, request);
 * }
 * ```
 * @module
 */

/** A transport protocol. */
export type Protocol = "TCP" | "UDP";
/** What a request may ask for: `TCPUDP` is one port number free in both. */
export type RequestProtocol = Protocol | "TCPUDP";

/** One requested port: any free one, or exactly `port`. */
export interface PortSpec {
  protocol: RequestProtocol;
  port?: number;
}

/**
 * A request: `ports` in order, or `count` ports of one `protocol`.
 *
 * @example
 * ```ts
 * const twoUdp: PortRequest = { count: 2, protocol: "UDP" };
 * const named: PortRequest = { ports: [{ protocol: "TCP", port: 7777 }, { protocol: "TCPUDP" }] };
 * const block: PortRequest = { count: 4, protocol: "UDP", contiguous: true };
 * ```
 */
export interface PortRequest {
  ports?: PortSpec[];
  /** Shorthand for `count` times `{protocol}`. */
  count?: number;
  /** With `count`. @default {"TCP"} */
  protocol?: RequestProtocol;
  /** All ports consecutive (p, p+1, …). @default {false} */
  contiguous?: boolean;
}

/** One allocated port, in request order (`TCPUDP`: the number in both protocols). */
export interface AllocatedPort {
  readonly port: number;
  readonly protocol: RequestProtocol;
}

/** One held port in one protocol. */
export interface HeldPort {
  readonly port: number;
  readonly protocol: Protocol;
}

/** Two owners claiming one port, found by `restore`. */
export interface PortConflict {
  port: number;
  protocol: Protocol;
  /** The owner holding it, then the one that also claimed it. */
  owners: [string, string];
}

/** Counts per protocol. */
export interface ProtocolCounts {
  TCP: number;
  UDP: number;
}

/** A read-only view of a pool: `used + free + delayed` is the range size, per protocol. */
export interface PoolSnapshot {
  min: number;
  max: number;
  used: ProtocolCounts;
  free: ProtocolCounts;
  delayed: ProtocolCounts;
  /** Owners (sorted) and their ports (sorted by port, then protocol). */
  owners: { owner: string; ports: HeldPort[] }[];
}

/**
 * What a pool of ports offers; {@linkcode PortPool} is the bitmap one.
 * Owners are opaque strings (e.g. `namespace/pod`).
 *
 * @example
 * ```ts
 * const pool: PortAllocator = new PortPool(7000, 8000); // from "./port_pool.ts"
 * const ports = pool.allocate("default/gs-0", { count: 1, protocol: "UDP" });
 * pool.release("default/gs-0");
 * ```
 */
export interface PortAllocator {
  readonly min: number;
  readonly max: number;
  /** All requested ports or none; the same answer again for the same owner. */
  allocate(owner: string, request: PortRequest): readonly AllocatedPort[];
  /** Frees exactly what `owner` held; returns it, one entry per protocol. */
  release(owner: string): readonly HeldPort[];
  /** Records a port chosen elsewhere; throws `conflict` naming both owners. */
  reserve(port: number, protocol: RequestProtocol, owner: string): void;
  /** `reserve` without the exception: returns the other holder, if any. */
  claim(port: number, protocol: RequestProtocol, owner: string): string | undefined;
  /** Rebuilds `owner`'s holding at start-up; returns clashes with both owners. */
  restore(owner: string, ports: readonly AllocatedPort[]): PortConflict[];
  /** Whether `port` is held or delayed (in `protocol`, or in either). */
  has(port: number, protocol?: Protocol): boolean;
  /** What `owner` holds, as allocated. */
  ports(owner: string): readonly AllocatedPort[] | undefined;
  /** Free ports of `protocol`. */
  free(protocol: Protocol): number;
  /** Calls `fn` for every owner. */
  forEach(fn: (owner: string, ports: readonly AllocatedPort[]) => void): void;
  /** A read-only copy of the state. */
  snapshot(): PoolSnapshot;
}
