/**
 * Host ports across named ranges (Agones' `PortRanges`, e.g. `default:
 * 8000-8999, game: 9000-9999`): one {@linkcode HostPortChooser} per
 * range; the ranges may not overlap. A bound port is registered in the
 * range that contains it. Ports outside every range are only recorded, so
 * that every host port a Pod holds can be shown: nothing is ever chosen
 * there, so nothing can collide with them.
 *
 * @example
 * ```ts
 * const hostPorts = new HostPorts({ default: { min: 8000, max: 8999 }, game: { min: 9000, max: 9999 } });
 * hostPorts.choose("admission/1", "game", ["UDP"]);
 * ```
 * @module
 */

import { AllocationError } from "./errors.ts";
import {
  type ChooseOptions,
  HostPortChooser,
  type HostPortChooserOptions,
  type HostPortSnapshot,
} from "./host_port_chooser.ts";
import type { HeldPort, RequestProtocol } from "./types.ts";

/** Host ports an owner holds on a node outside every range. */
export interface OutsideHolding {
  owner: string;
  node: string;
  ports: HeldPort[];
}

/** The ranges: see the module documentation. */
export class HostPorts {
  readonly #choosers = new Map<string, HostPortChooser>();
  readonly #ranges: Record<string, { min: number; max: number }>;
  /** Owner → what it holds outside every range (few: static ports, host-network Pods). */
  readonly #outside = new Map<string, { node: string; ports: HeldPort[] }>();

  constructor(
    ranges: Record<string, { min: number; max: number }>,
    options: HostPortChooserOptions = {},
  ) {
    const named = Object.entries(ranges).sort(([, a], [, b]) => a.min - b.min);
    if (named.length === 0) {
      throw new AllocationError(
        "invalid-range",
        "No host-port range configured; give at least one, e.g. default: 8000-9000",
      );
    }
    // One port number in two ranges could be chosen twice on one node.
    for (let i = 1; i < named.length; i++) {
      const [a, ra] = named[i - 1];
      const [b, rb] = named[i];
      if (rb.min <= ra.max) {
        throw new AllocationError(
          "invalid-range",
          `Host-port ranges "${a}" (${ra.min}-${ra.max}) and "${b}" (${rb.min}-${rb.max}) ` +
            `overlap; make them disjoint`,
        );
      }
    }
    this.#ranges = { ...ranges };
    for (const [name, r] of Object.entries(ranges)) {
      this.#choosers.set(name, new HostPortChooser(r.min, r.max, options));
    }
  }

  /** Range names. */
  rangeNames(): string[] {
    return [...this.#choosers.keys()];
  }

  /** `[min, max]` of a range. */
  range(name: string): { min: number; max: number } | undefined {
    return this.#ranges[name];
  }

  /** The chooser of a range. */
  chooser(name: string): HostPortChooser | undefined {
    return this.#choosers.get(name);
  }

  /**
   * Chooses ports in `range` for `owner` (pending until bound), used on
   * the fewest nodes. With `dryRun`, the choice is computed and nothing
   * changes.
   *
   * @example
   * ```ts
   * hostPorts.choose("default/gs-0", "game", ["UDP", "TCP"]); // e.g. [9001, 9002]
   * ```
   * @throws {AllocationError} `unknown-pool` for a range not configured, and those of
   * {@linkcode HostPortChooser.choose}.
   */
  choose(
    owner: string,
    range: string,
    protocols: RequestProtocol[],
    options: ChooseOptions = {},
  ): number[] {
    const chooser = this.#choosers.get(range);
    if (!chooser) {
      throw new AllocationError(
        "unknown-pool",
        `No port range "${range}"; configured: ${this.rangeNames().join(", ")}`,
      );
    }
    return chooser.choose(owner, protocols, options);
  }

  /**
   * Ports of `range` free on `node`, held there at once: for a Pod
   * created with its node set. Undefined when the node is not known.
   *
   * @example
   * ```ts
   * hostPorts.chooseOn("admission/7f3c", "game", "node-7", ["UDP"]); // e.g. [9003]
   * ```
   * @throws {AllocationError} `unknown-pool`, and those of {@linkcode HostPortChooser.chooseOn}.
   */
  chooseOn(
    owner: string,
    range: string,
    node: string,
    protocols: RequestProtocol[],
    options: { dryRun?: boolean } = {},
  ): number[] | undefined {
    const chooser = this.#choosers.get(range);
    if (!chooser) {
      throw new AllocationError(
        "unknown-pool",
        `No port range "${range}"; configured: ${this.rangeNames().join(", ")}`,
      );
    }
    return chooser.chooseOn(owner, node, protocols, options);
  }

  /**
   * Holds `ports` on `node` in the range containing each (a pending choice
   * moves there), and records those outside every range; returns the
   * owners already holding one of them there.
   *
   * @example
   * ```ts
   * hostPorts.bind("default/gs-0", "node-3", [{ port: 9001, protocol: "UDP" }]); // []
   * ```
   */
  bind(owner: string, node: string, ports: HeldPort[]): string[] {
    const clashes = new Set<string>();
    let outside = ports;
    for (const chooser of this.#choosers.values()) {
      const inRange = ports.filter((p) => p.port >= chooser.min && p.port <= chooser.max);
      if (inRange.length > 0) outside = outside.filter((p) => !inRange.includes(p));
      if (inRange.length === 0 && !chooser.isPending(owner)) continue;
      for (const c of chooser.bind(owner, node, inRange)) clashes.add(c);
    }
    if (outside.length > 0) {
      this.#outside.set(owner, { node, ports: outside.map((p) => ({ ...p })) });
    } else this.#outside.delete(owner);
    return [...clashes];
  }

  /**
   * Frees everything `owner` holds or has pending, in every range.
   *
   * @example
   * ```ts
   * hostPorts.release("default/gs-0");
   * ```
   */
  release(owner: string): void {
    for (const chooser of this.#choosers.values()) chooser.release(owner);
    this.#outside.delete(owner);
  }

  /**
   * Registers a pending choice found at start-up (a Pod admitted, not yet
   * scheduled), in `range` or else `default`.
   *
   * @example
   * ```ts
   * hostPorts.restorePending("default/gs-4", "game", [{ port: 9010, protocol: "UDP" }]);
   * ```
   */
  restorePending(owner: string, range: string, ports: HeldPort[]): void {
    const chooser = this.#choosers.get(range) ?? this.#choosers.get("default");
    chooser?.restorePending(owner, ports);
  }

  /**
   * Whether `owner`'s choice waits for a node that has its ports free.
   *
   * @example
   * ```ts
   * hostPorts.waitsForNode("admission/7f3c"); // true
   * ```
   */
  waitsForNode(owner: string): boolean {
    for (const chooser of this.#choosers.values()) if (chooser.waitsForNode(owner)) return true;
    return false;
  }

  /**
   * Adds (`present`) or removes a node in every range.
   *
   * @example
   * ```ts
   * hostPorts.setNode("node-3", true);
   * ```
   */
  setNode(name: string, present: boolean): void {
    for (const chooser of this.#choosers.values()) {
      if (present) chooser.addNode(name);
      else chooser.removeNode(name);
    }
    if (!present) {
      for (const [owner, held] of this.#outside) {
        if (held.node === name) this.#outside.delete(owner);
      }
    }
  }

  /**
   * Every range's snapshot, for `/allocations`.
   *
   * @example
   * ```ts
   * for (const { range, state } of hostPorts.snapshot()) console.log(range, state.leastUsage);
   * ```
   */
  snapshot(): { range: string; state: HostPortSnapshot }[] {
    return [...this.#choosers].map(([range, c]) => ({ range, state: c.snapshot() }));
  }

  /**
   * Host ports held outside every range, by owner: nothing is chosen there,
   * but they are in use and `/allocations` shows them.
   *
   * @example
   * ```ts
   * hostPorts.outside(); // [{ owner: "default/gs-0", node: "n1", ports: [{ port: 80, protocol: "TCP" }] }]
   * ```
   */
  outside(): OutsideHolding[] {
    return [...this.#outside].map(([owner, { node, ports }]) => ({
      owner,
      node,
      ports: ports.map((p) => ({ ...p })),
    }));
  }
}
