/**
 * What `/allocations` and the metrics show: the pools providers allocate
 * from, what each owner holds in them, and the rows the controller joins
 * from those and the cached Pods. Ports, addresses and names only: there
 * are no secrets in these shapes, and none may be added.
 *
 * @example
 * ```ts
 * const view: ProviderView = {
 *   pools: [{ kind: "node", key: "node-1", range: "8000-9000", used: 1, free: 1000, delayed: 0 }],
 *   holdings: [{ owner: "games/gs-0", kind: "managed", node: "node-1", ports: [{ port: 8000, protocol: "UDP" }] }],
 * };
 * ```
 * @module
 */

/** One port pool: a node's host-port range or a load balancer's listener ports. */
export interface PoolView {
  kind: "node" | "lb";
  /** The network type allocating from it, e.g. `Kubernetes-HostPort` (set by the view, not the provider). */
  type?: string;
  /** The node name or the load balancer id. */
  key: string;
  /** `min-max`, e.g. `8000-9000`. */
  range: string;
  /** The configured name of a host-port range, e.g. `default`. */
  rangeName?: string;
  /** Absent when the pool counts a port as used in either protocol. */
  protocol?: "TCP" | "UDP";
  used: number;
  free: number;
  /** Freed ports held back by the reuse delay. */
  delayed: number;
}

/** One held port. */
export interface PortView {
  name?: string;
  /** The external port (host port, listener port). */
  port: number;
  /** `TCPUDP`: one number in both protocols (a choice made at admission, as asked). */
  protocol: "TCP" | "UDP" | "TCPUDP";
  containerPort?: number;
}

/**
 * What a holding is: `managed`, ports of a Pod of the provider's type (or
 * of its admission, before the Pod exists); `unmanaged`, ports a Pod
 * gamenet does not manage holds (kept out of its pools); `parked`, ports
 * kept for the next Pod of a name (`Fixed`) while none exists.
 */
export type HoldingKind = "managed" | "unmanaged" | "parked";

/** What one owner holds, as the allocator sees it (not as the Pod says). */
export interface HoldingView {
  /** The allocation key. */
  owner: string;
  kind: HoldingKind;
  /** `namespace/name` of its Pod when the provider knows it (unmanaged and parked holdings). */
  pod?: string;
  node?: string;
  lb?: string;
  /** Kubernetes objects gamenet made for it, as `Kind/name` (its Service, its Ingress). */
  objects?: string[];
  ports: PortView[];
}

/** A provider's allocator state. */
export interface ProviderView {
  pools: PoolView[];
  holdings: HoldingView[];
}

/** One row of `/allocations`: what one Pod (or admission, or leak) holds. */
export interface AllocationView {
  /** The canonical network type, e.g. `Kubernetes-HostPort`; `Unmanaged` for other Pods' ports. */
  type: string;
  namespace: string;
  pod: string;
  /** The allocation key (`gamenet.io/owner`). */
  owner: string;
  /** Set when the row is not a live Pod's network: `admission`, `unmanaged`, `parked`, `unknown`. */
  holding?: "admission" | "unmanaged" | "parked" | "unknown";
  node?: string;
  lb?: string;
  /** Kubernetes objects gamenet made for it, as `Kind/name`. */
  objects?: string[];
  ports: PortView[];
  /** The external IP. */
  address?: string;
  /** The network state, e.g. `Ready`. */
  state?: string;
  /** While not `Ready`: the reason of gamenet's last Warning Event about the Pod, e.g. `PortsExhausted`. */
  reason?: string;
  /** That Event's message. */
  message?: string;
}

/** Everything `/allocations` shows. */
export interface AllocationsView {
  pools: PoolView[];
  allocations: AllocationView[];
}

/**
 * What the metrics read at every scrape: the pools, and how many rows of
 * each type {@linkcode AllocationsView} would have, without building them.
 */
export interface AllocationCounts {
  pools: PoolView[];
  /** Network type (or `Unmanaged`) → Pods or admissions holding something. */
  byType: Map<string, number>;
}

/**
 * Game-server Pods (of a type gamenet serves, not finished) with one
 * network type, state and reason: what `gamenet_game_servers` reads.
 */
export interface GameServerCount {
  /** The canonical network type, e.g. `Kubernetes-HostPort`. */
  type: string;
  /** `currentNetworkState` as gamenet wrote it (`Ready`, `NotReady`, `Waiting`), `Unknown` before. */
  state: string;
  /** While not `Ready`: the reason of gamenet's last Warning Event about the Pod, else "". */
  reason: string;
  count: number;
}
