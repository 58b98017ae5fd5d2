/**
 * The listener ports of every CLB gamenet writes to, shared by the
 * `TencentCloud-CLB` network type and the `DedicatedCLBService` objects so
 * that both paths draw from one bitmap per CLB and never hand out a port
 * twice. A CLB serves one port range (the first that asks for it binds it);
 * a Pod or service asking another range on the same CLB is told so.
 *
 * @example
 * ```ts
 * const pools = new ClbPools();
 * pools.allocate(["lb-a", "lb-b"], "games/gs-0", ["UDP", "TCP"], { min: 501, max: 600 });
 * ```
 * @module
 */

import {
  type AllocatedPort,
  PoolSet,
  type PortConflict,
  type RequestProtocol,
} from "../../allocator/mod.ts";

import { AllocationError } from "../../allocator/errors.ts";
import { ConfError } from "../types.ts";
import type { PoolView } from "../view.ts";

/** A listener port range. */
export interface ClbRange {
  min: number;
  max: number;
}

/** The pools: see the module documentation. */
export class ClbPools {
  /** One pool set per range, so that each set's pools share its bounds. */
  readonly #sets = new Map<string, PoolSet>();
  readonly #rangeOf = new Map<string, string>();
  /** Most listeners one CLB may hold (TCP and UDP together), once known. */
  #listenerQuota?: number;
  /** CLBs whose quota is their own (a pool's `listenerQuota`). */
  readonly #quotas = new Map<string, number>();

  /** The cloud's per-CLB listener quota (`DescribeQuota` `TOTAL_LISTENER_QUOTA`). */
  get listenerQuota(): number | undefined {
    return this.#listenerQuota;
  }

  set listenerQuota(limit: number | undefined) {
    this.#listenerQuota = limit;
  }

  /**
   * Makes sure every CLB of `lbs` has a pool of `range`.
   * @throws {ConfError} `ClbRangeMismatch` when one already serves another range.
   */
  serveRange(lbs: readonly string[], range: ClbRange, who: string): PoolSet {
    const wanted = `${range.min}-${range.max}`;
    for (const lb of lbs) {
      const bound = this.#rangeOf.get(lb);
      if (bound && bound !== wanted) {
        throw new ConfError(
          `${who}: CLB ${lb} already serves listener ports ${bound}: give MinPort/MaxPort ` +
            `${bound.replace("-", "/")} (minPort/maxPort) or another CLB`,
          "ClbRangeMismatch",
        );
      }
    }
    let set = this.#sets.get(wanted);
    if (!set) this.#sets.set(wanted, set = new PoolSet(range.min, range.max));
    for (const lb of lbs) {
      set.ensure(lb);
      this.#rangeOf.set(lb, wanted);
    }
    return set;
  }

  /** The range `lb` serves, if any Pod or service asked for it yet. */
  rangeOf(lb: string): ClbRange | undefined {
    const text = this.#rangeOf.get(lb);
    if (!text) return undefined;
    const [min, max] = text.split("-").map(Number);
    return { min, max };
  }

  /**
   * A CLB's own listener quota, overriding the account's (a pool's
   * `listenerQuota`); `undefined` goes back to the account's.
   */
  setQuota(lb: string, limit: number | undefined): void {
    if (limit === undefined) this.#quotas.delete(lb);
    else this.#quotas.set(lb, limit);
  }

  /** Most listeners `lb` may hold, once known. */
  quotaOf(lb: string): number | undefined {
    return this.#quotas.get(lb) ?? this.#listenerQuota;
  }

  /** `owner`'s ports on `lb`, if it holds any there. */
  portsOn(lb: string, owner: string): readonly AllocatedPort[] | undefined {
    return this.#setOf(lb)?.get(lb)?.ports(owner);
  }

  /** Listeners (ports of either protocol) held on `lb`. */
  held(lb: string): number {
    const pool = this.#setOf(lb)?.get(lb);
    return pool ? pool.used("TCP") + pool.used("UDP") : 0;
  }

  /**
   * `owner`'s ports, one per protocol entry, all on the first CLB of
   * `lbs` with room (or the one `owner` already uses); `least-used`
   * tries the CLB holding the fewest listeners first.
   * @throws {ConfError} `ClbRangeMismatch`; {AllocationError} `exhausted`, `owner-mismatch`, ...
   */
  allocate(
    lbs: readonly string[],
    owner: string,
    protocols: readonly RequestProtocol[],
    range: ClbRange,
    choice: "first-fit" | "least-used" = "first-fit",
  ): { key: string; ports: readonly AllocatedPort[] } {
    const set = this.serveRange(lbs, range, owner);
    const roomy = this.#roomy(set, lbs, owner, protocols);
    return set.allocateAcross(roomy, owner, {
      ports: protocols.map((protocol) => ({ protocol })),
    }, choice);
  }

  /**
   * `owner`'s ports with the same numbers on every CLB of `lbs` (one
   * address per ISP line, the same port on each).
   * @throws {ConfError} `ClbRangeMismatch` (the CLBs must serve one range); {AllocationError}
   */
  allocateSame(
    lbs: readonly string[],
    owner: string,
    protocols: readonly RequestProtocol[],
    range: ClbRange,
  ): readonly AllocatedPort[] {
    const set = this.serveRange(lbs, range, owner);
    if (this.#roomy(set, lbs, owner, protocols).length < lbs.length) {
      throw new AllocationError(
        "exhausted",
        `A CLB of ${lbs.join(", ")} holds its quota of listeners`,
      );
    }
    return set.allocateSame(lbs, owner, protocols);
  }

  /** A CLB at its listener quota refuses every CreateListener: leave it out. */
  #roomy(
    set: PoolSet,
    lbs: readonly string[],
    owner: string,
    protocols: readonly RequestProtocol[],
  ): readonly string[] {
    const need = protocols.reduce((n, p) => n + (p === "TCPUDP" ? 2 : 1), 0);
    const roomy = lbs.filter((lb) => {
      const quota = this.quotaOf(lb);
      const pool = set.get(lb)!;
      return quota === undefined || pool.ports(owner) !== undefined ||
        pool.used("TCP") + pool.used("UDP") + need <= quota;
    });
    if (roomy.length === 0) {
      const quotas = [...new Set(lbs.map((lb) => this.quotaOf(lb)))].join("/");
      throw new AllocationError(
        "exhausted",
        `Every CLB of ${lbs.join(", ")} holds its quota of ${quotas} listeners`,
      );
    }
    return roomy;
  }

  /** Rebuilds `owner`'s ports on `lb` (bound first); conflicts name both owners. */
  restore(lb: string, owner: string, ports: readonly AllocatedPort[]): PortConflict[] {
    const set = this.#setOf(lb);
    return set ? set.restore(lb, owner, ports) : [];
  }

  /** Holds one port for `owner` unless another holds it; returns that other. */
  claim(lb: string, port: number, protocol: RequestProtocol, owner: string): string | undefined {
    const set = this.#setOf(lb);
    const range = this.rangeOf(lb);
    if (!set || !range || port < range.min || port > range.max) return undefined;
    return set.claim(lb, port, protocol, owner);
  }

  /** Where `owner`'s ports are. */
  locate(owner: string): { key: string; ports: readonly AllocatedPort[] } | undefined {
    for (const set of this.#sets.values()) {
      const found = set.locate(owner);
      if (found) return found;
    }
    return undefined;
  }

  /** Frees everything `owner` holds. */
  release(owner: string): void {
    for (const set of this.#sets.values()) set.release(owner);
  }

  /** Every pool, for `/allocations` and metrics. */
  view(): PoolView[] {
    const out: PoolView[] = [];
    for (const set of this.#sets.values()) {
      for (const p of set.snapshot().pools) {
        for (const protocol of ["TCP", "UDP"] as const) {
          out.push({
            kind: "lb",
            key: p.key,
            range: `${p.min}-${p.max}`,
            protocol,
            used: p.used[protocol],
            free: p.free[protocol],
            delayed: p.delayed[protocol],
          });
        }
      }
    }
    return out;
  }

  /** The pool set serving `lb`, once a Pod or service bound it. */
  #setOf(lb: string): PoolSet | undefined {
    const range = this.#rangeOf.get(lb);
    return range ? this.#sets.get(range) : undefined;
  }
}
