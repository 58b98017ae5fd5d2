/**
 * gamenet's port allocator: bitmap pools with owners, keyed pool sets,
 * host-port choice before scheduling. Pure TypeScript: no I/O, no
 * Kubernetes types. See `allocator/README.md` for the rules.
 *
 * @example
 * ```ts
 * import { PortPool } from "./allocator/mod.ts";
 * const pool = new PortPool(7000, 8000);
 * pool.allocate("default/gs-0", { count: 2, protocol: "UDP" });
 * ```
 * @module
 */

export { AllocationError, type AllocationErrorCode } from "./errors.ts";
export { bitmapWords, PortBitmap } from "./port_bitmap.ts";
export {
  type AllocatedPort,
  type HeldPort,
  type PoolSnapshot,
  type PortAllocator,
  type PortConflict,
  PortPool,
  type PortPoolOptions,
  type PortRequest,
  type PortSpec,
  type Protocol,
  type ProtocolCounts,
  requestedPorts,
  type RequestProtocol,
} from "./port_pool.ts";
export { type PoolChoice, PoolSet, type PoolSetOptions, type PoolSetSnapshot } from "./pool_set.ts";
export {
  type ChooseOptions,
  HostPortChooser,
  type HostPortChooserOptions,
  type HostPortSnapshot,
  type PendingChoice,
} from "./host_port_chooser.ts";
export { HostPorts, type OutsideHolding } from "./host_ports.ts";
export { MinTree } from "./min_tree.ts";
export { DelayQueue } from "./delay_queue.ts";
export { type SlabRegion, WordSlab, type WordSlabOptions } from "./word_slab.ts";
