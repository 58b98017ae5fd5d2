/**
 * The `CLBPortPool`s as gamenet serves them: each pool's spec, its CLBs
 * (the given ones and those bought for it) with their addresses and
 * state, and allocation across them by the pool's `lbPolicy`, on the
 * shared {@linkcode ClbPools} (one bitmap per CLB, whichever path asks).
 *
 * - `InOrder` fills the CLBs in the order the pool lists them;
 * - `Uniform` gives each port to the CLB holding the fewest listeners
 *   (spread against DDoS);
 * - `Random` (TKE's default) picks any CLB with room.
 *
 * A blacklisted CLB gets no new port and keeps the ones it has. One line
 * with several pools gets one port in each (one address per ISP line);
 * with `useSamePortAcrossPools`, the same number in each.
 *
 * @example
 * ```ts
 * const registry = new PortPoolRegistry(new ClbPools());
 * registry.set(spec, [{ id: "lb-a", state: "Running", ips: ["203.0.113.7"] }]);
 * registry.allocate("games/gs-0#8000", ["pool-a"], "UDP", false);
 * // [{ pool: "pool-a", lb: "lb-a", ports: [{ port: 30000, protocol: "UDP" }] }]
 * ```
 * @module
 */

import type { AllocatedPort, RequestProtocol } from "../../allocator/mod.ts";
import { AllocationError } from "../../allocator/errors.ts";
import type { ClbPools } from "./clb_pools.ts";
import type { PortPoolSpec } from "./port_pool_spec.ts";

/** A CLB of a pool, as `DescribeLoadBalancers` last showed it. */
export interface PoolLb {
  id: string;
  /** `Creating` while a bought CLB is not ready. */
  state: "Running" | "NotFound" | "Creating";
  name?: string;
  ips?: string[];
  hostname?: string;
  addressIPVersion?: string;
  /** Bought by gamenet for this pool. */
  autoCreated?: boolean;
}

/** A pool as served. */
export interface ServedPool {
  spec: PortPoolSpec;
  lbs: PoolLb[];
}

/** Where one pool's port of a line went. */
export interface PoolAllocation {
  pool: string;
  lb: string;
  ports: readonly AllocatedPort[];
}

/** Why a line cannot be served from a pool (TKE's binding states). */
export class PoolUnavailable extends Error {
  constructor(
    readonly state: "PortPoolNotFound" | "PortPoolNotAllocatable" | "NoPortAvailable",
    readonly pool: string,
    message: string,
  ) {
    super(message);
    this.name = "PoolUnavailable";
  }
}

/** Combinations tried for a same-port line before it waits. */
const MAX_SAME_PORT_TRIES = 64;

/** The registry: see the module documentation. */
export class PortPoolRegistry {
  readonly #pools: ClbPools;
  readonly #served = new Map<string, ServedPool>();
  readonly #random: () => number;

  constructor(pools: ClbPools, options: { random?: () => number } = {}) {
    this.#pools = pools;
    this.#random = options.random ?? Math.random;
  }

  /** Serves `spec` with `lbs` (replacing what the pool had). */
  set(spec: PortPoolSpec, lbs: PoolLb[]): void {
    this.#served.set(spec.name, { spec, lbs });
  }

  /** The pool is gone: nothing more is allocated from it; what is held stays held. */
  delete(name: string): void {
    this.#served.delete(name);
  }

  /** A served pool. */
  get(name: string): ServedPool | undefined {
    return this.#served.get(name);
  }

  /** Every served pool's name. */
  names(): string[] {
    return [...this.#served.keys()];
  }

  /** The addresses of a pool's CLB. */
  lb(pool: string, id: string): PoolLb | undefined {
    return this.#served.get(pool)?.lbs.find((l) => l.id === id);
  }

  /** The listener port range of a pool. */
  range(pool: string): { min: number; max: number } | undefined {
    const spec = this.#served.get(pool)?.spec;
    return spec && { min: spec.startPort, max: spec.endPort };
  }

  /**
   * `owner`'s port on each of `pools` for one line (`protocol` may be
   * TCPUDP: two listeners, one number); idempotent per owner and pool.
   * @throws {PoolUnavailable} naming the pool and why (TKE's binding state).
   */
  allocate(
    owner: string,
    pools: readonly string[],
    protocol: RequestProtocol,
    samePort: boolean,
  ): PoolAllocation[] {
    const served = pools.map((name) => this.#allocatable(name));
    if (samePort && pools.length > 1) return this.#allocateSame(owner, served, protocol);
    return served.map(({ spec, lbs }) => {
      const poolOwner = `${owner}/${spec.name}`;
      const range = { min: spec.startPort, max: spec.endPort };
      let held = this.#pools.locate(poolOwner);
      // A CLB that vanished took its listeners along: the line moves.
      if (held && lbs.find((l) => l.id === held!.key)?.state === "NotFound") {
        this.#pools.release(poolOwner);
        held = undefined;
      }
      // A blacklisted CLB (or one the pool no longer lists) keeps what it holds.
      const choices = held ? [held.key] : this.#ordered(spec, lbs);
      try {
        const got = this.#pools.allocate(
          choices,
          poolOwner,
          [protocol],
          range,
          spec.policy === "Uniform" ? "least-used" : "first-fit",
        );
        return { pool: spec.name, lb: got.key, ports: got.ports };
      } catch (err) {
        throw this.#exhausted(err, spec.name);
      }
    });
  }

  /** Frees `owner`'s ports in `pools` (all of them when not given). */
  release(owner: string, pools: readonly string[]): void {
    for (const pool of pools) this.#pools.release(`${owner}/${pool}`);
    this.#pools.release(`${owner}/same`);
  }

  /** Rebuilds a port held by `owner` in `pool` on `lb` (a binding's status, at start). */
  restore(
    owner: string,
    pool: string,
    lb: string,
    port: number,
    protocol: RequestProtocol,
    same: boolean,
  ): string | undefined {
    // A pool deleted since keeps what its CLBs already serve; a CLB nothing
    // serves any more cannot give the port to anyone either.
    const range = this.#pools.rangeOf(lb) ?? this.range(pool);
    if (!range) return undefined;
    this.#pools.serveRange([lb], range, `CLBPortPool ${pool}`);
    return this.#pools.claim(lb, port, protocol, same ? `${owner}/same` : `${owner}/${pool}`);
  }

  #allocatable(name: string): ServedPool {
    const served = this.#served.get(name);
    if (!served) {
      throw new PoolUnavailable(
        "PortPoolNotFound",
        name,
        `CLBPortPool ${name} does not exist (kubectl get clbportpool ${name})`,
      );
    }
    if (served.spec.refused) {
      throw new PoolUnavailable(
        "PortPoolNotAllocatable",
        name,
        `CLBPortPool ${name} is not served: ${served.spec.refused}`,
      );
    }
    return served;
  }

  /** The pool's CLBs that may get new ports, in the order its policy tries them. */
  #ordered(spec: PortPoolSpec, lbs: PoolLb[]): string[] {
    const ids = lbs.filter((l) => l.state === "Running" && !spec.blacklist.has(l.id)).map((l) =>
      l.id
    );
    if (ids.length === 0) {
      throw new PoolUnavailable(
        "NoPortAvailable",
        spec.name,
        `CLBPortPool ${spec.name} has no CLB to allocate from` +
          (lbs.length
            ? ` (${
              lbs.map((l) => `${l.id} ${spec.blacklist.has(l.id) ? "blacklisted" : l.state}`).join(
                ", ",
              )
            })`
            : ""),
      );
    }
    if (spec.policy === "Random") {
      for (let i = ids.length - 1; i > 0; i--) {
        const j = Math.floor(this.#random() * (i + 1));
        [ids[i], ids[j]] = [ids[j], ids[i]];
      }
    }
    return ids;
  }

  #allocateSame(owner: string, served: ServedPool[], protocol: RequestProtocol): PoolAllocation[] {
    const sameOwner = `${owner}/same`;
    const range = { min: served[0].spec.startPort, max: served[0].spec.endPort };
    const mismatch = served.find((s) =>
      s.spec.startPort !== range.min || s.spec.endPort !== range.max
    );
    if (mismatch) {
      throw new PoolUnavailable(
        "PortPoolNotAllocatable",
        mismatch.spec.name,
        `useSamePortAcrossPools needs pools of one port range: ${
          served.map((s) => `${s.spec.name} ${s.spec.startPort}-${s.spec.endPort}`).join(", ")
        }`,
      );
    }
    let held = false;
    const lists = served.map(({ spec, lbs }) => {
      const ordered = this.#ordered(spec, lbs);
      if (spec.policy === "Uniform") {
        ordered.sort((a, b) => this.#pools.held(a) - this.#pools.held(b));
      }
      // Where the line already is comes first: asking again is idempotent.
      const mine = lbs.find((l) => this.#pools.portsOn(l.id, sameOwner) !== undefined);
      if (!mine) return ordered;
      held = true;
      return [mine.id, ...ordered.filter((id) => id !== mine.id)];
    });
    let last: unknown;
    let tries = 0;
    for (const combo of combinations(lists)) {
      if (++tries > MAX_SAME_PORT_TRIES) break;
      try {
        const ports = this.#pools.allocateSame(combo, sameOwner, [protocol], range);
        return served.map(({ spec }, i) => ({ pool: spec.name, lb: combo[i], ports }));
      } catch (err) {
        if (!(err instanceof AllocationError)) throw err;
        last = err;
        if (held) break;
      }
    }
    throw this.#exhausted(last, served.map((s) => s.spec.name).join(","));
  }

  #exhausted(err: unknown, pool: string): Error {
    if (err instanceof AllocationError && err.code.startsWith("exhausted")) {
      return new PoolUnavailable(
        "NoPortAvailable",
        pool,
        `CLBPortPool ${pool}: no listener port free: ${err.message}`,
      );
    }
    return err as Error;
  }
}

/** Every pick of one item per list, the first items first. */
function* combinations(lists: string[][]): Generator<string[]> {
  const index = lists.map(() => 0);
  while (true) {
    yield lists.map((l, i) => l[index[i]]);
    let i = lists.length - 1;
    while (i >= 0 && ++index[i] >= lists[i].length) index[i--] = 0;
    if (i < 0) return;
  }
}
