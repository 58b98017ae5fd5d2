/**
 * Host ports across named ranges (Agones' `PortRanges`, e.g. `default:
 * 8000-9000, game: 9000-10000`): one {@linkcode HostPortChooser} per
 * range. A bound port is registered in every range that contains it, and
 * ports outside every range are ignored (nothing is chosen there).
 *
 * @example
 * ```ts
 * const hostPorts = new HostPorts({ default: { min: 8000, max: 9000 }, game: { min: 9001, max: 10000 } });
 * hostPorts.choose("admission/1", "game", ["UDP"], false);
 * ```
 * @module
 */

import { AllocationError } from "./errors.ts";
import {
  HostPortChooser,
  type HostPortChooserOptions,
  type HostPortSnapshot,
} from "./host_port_chooser.ts";
import type { HeldPort, RequestProtocol } from "./port_pool.ts";
import { ChurnMap } from "./churn_map.ts";

/** The ranges: see the module documentation. */
export class HostPorts {
  readonly #choosers = new Map<string, HostPortChooser>();
  readonly #ranges: Record<string, { min: number; max: number }>;
  /** Owner → the range its pending choice was made in. */
  readonly #pendingRange = new ChurnMap<string, string>();

  constructor(
    ranges: Record<string, { min: number; max: number }>,
    options: HostPortChooserOptions = {},
  ) {
    if (Object.keys(ranges).length === 0) {
      throw new AllocationError("invalid-request", "At least one port range");
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
   * Chooses ports in `range` for `owner` (pending until bound). With
   * `dryRun`, the choice is computed and given back at once.
   */
  choose(owner: string, range: string, protocols: RequestProtocol[], dryRun: boolean): number[] {
    const chooser = this.#choosers.get(range);
    if (!chooser) {
      throw new AllocationError(
        "unknown-pool",
        `No port range "${range}"; configured: ${this.rangeNames().join(", ")}`,
      );
    }
    if (dryRun) return chooser.choose(owner, protocols, { dryRun: true });
    const ports = chooser.choose(owner, protocols);
    this.#pendingRange.set(owner, range);
    return ports;
  }

  /** Holds `ports` on `node` in every range containing them; returns clashing owners. */
  bind(owner: string, node: string, ports: HeldPort[]): string[] {
    this.#pendingRange.delete(owner);
    const clashes = new Set<string>();
    for (const chooser of this.#choosers.values()) {
      const inRange = ports.filter((p) => p.port >= chooser.min && p.port <= chooser.max);
      if (inRange.length === 0 && !chooser.isPending(owner)) continue;
      for (const c of chooser.bind(owner, node, inRange)) clashes.add(c);
    }
    return [...clashes];
  }

  /** Frees everything `owner` holds or has pending, in every range. */
  release(owner: string): void {
    this.#pendingRange.delete(owner);
    for (const chooser of this.#choosers.values()) chooser.release(owner);
  }

  /** Registers a pending choice found at start-up. */
  restorePending(owner: string, range: string, ports: HeldPort[]): void {
    const chooser = this.#choosers.get(range) ?? this.#choosers.get("default");
    if (!chooser) return;
    chooser.restorePending(owner, ports.map((p) => p.port));
    this.#pendingRange.set(owner, range);
  }

  /** Releases pending choices older than `olderThanMs` whose owner `isLive` denies. */
  sweepPending(isLive: (owner: string) => boolean, olderThanMs: number): string[] {
    const gone: string[] = [];
    for (const chooser of this.#choosers.values()) {
      gone.push(...chooser.sweepPending(isLive, olderThanMs));
    }
    for (const owner of gone) this.#pendingRange.delete(owner);
    return gone;
  }

  /** Adds (`present`) or removes a node in every range. */
  setNode(name: string, present: boolean): void {
    for (const chooser of this.#choosers.values()) {
      if (present) chooser.addNode(name);
      else chooser.removeNode(name);
    }
  }

  /** Every range's snapshot. */
  snapshot(): { range: string; state: HostPortSnapshot }[] {
    return [...this.#choosers].map(([range, c]) => ({ range, state: c.snapshot() }));
  }
}
