/**
 * Pools by key (a node name, a load-balancer id) over one range, their
 * bits carved out of shared slabs so ten thousand pools cost ten thousand
 * small objects, not forty thousand typed arrays. Also the load-balancer
 * choice: all of a Pod's ports on one pool, the first that fits or the
 * least used.
 *
 * @example
 * ```ts
 * const lbs = new PoolSet(501, 600);
 * ["lb-a", "lb-b"].forEach((id) => lbs.ensure(id));
 * const { key, ports } = lbs.allocateAcross(["lb-a", "lb-b"], "demo/gs-0", { count: 2 }, "least-used");
 * ```
 * @module
 */

import { AllocationError } from "./errors.ts";
import { bitmapWords } from "./port_bitmap.ts";
import {
  type AllocatedPort,
  PortPool,
  type PortPoolOptions,
  type PortRequest,
} from "./port_pool.ts";

/** How {@linkcode PoolSet.allocateAcross} picks a pool. */
export type PoolChoice = "first-fit" | "least-used";

/** Options of {@linkcode PoolSet}. */
export interface PoolSetOptions extends Omit<PortPoolOptions, "slab" | "offset"> {
  /** Pools per slab. @default {256} */
  poolsPerSlab?: number;
}

/** The set: see the module documentation. */
export class PoolSet {
  readonly min: number;
  readonly max: number;
  readonly #options: PoolSetOptions;
  readonly #pools = new Map<string, PortPool>();
  readonly #wordsPerPool: number;
  readonly #poolsPerSlab: number;
  #slabs: Uint32Array[] = [];
  /** Regions given back by deleted pools, reused before a new slab is made. */
  #freeRegions: { slab: Uint32Array; offset: number }[] = [];
  #nextInSlab = 0;
  readonly #regions = new Map<string, { slab: Uint32Array; offset: number }>();

  constructor(min: number, max: number, options: PoolSetOptions = {}) {
    new PortPool(min, max); // validates the range
    this.min = min;
    this.max = max;
    this.#options = options;
    this.#wordsPerPool = 2 * bitmapWords(max - min + 1);
    this.#poolsPerSlab = options.poolsPerSlab ?? 256;
  }

  /** Number of pools. */
  get size(): number {
    return this.#pools.size;
  }

  /** The pool for `key`, if any. */
  get(key: string): PortPool | undefined {
    return this.#pools.get(key);
  }

  /** Keys of every pool. */
  keys(): IterableIterator<string> {
    return this.#pools.keys();
  }

  /** Every `[key, pool]`. */
  entries(): IterableIterator<[string, PortPool]> {
    return this.#pools.entries();
  }

  /** The pool for `key`, made empty if absent. */
  ensure(key: string): PortPool {
    let pool = this.#pools.get(key);
    if (pool) return pool;
    let region = this.#freeRegions.pop();
    if (region) {
      region.slab.fill(0, region.offset, region.offset + this.#wordsPerPool);
    } else {
      if (this.#slabs.length === 0 || this.#nextInSlab === this.#poolsPerSlab) {
        this.#slabs.push(new Uint32Array(this.#wordsPerPool * this.#poolsPerSlab));
        this.#nextInSlab = 0;
      }
      region = {
        slab: this.#slabs[this.#slabs.length - 1],
        offset: this.#nextInSlab++ * this.#wordsPerPool,
      };
    }
    pool = new PortPool(this.min, this.max, {
      ...this.#options,
      slab: region.slab,
      offset: region.offset,
    });
    this.#pools.set(key, pool);
    this.#regions.set(key, region);
    return pool;
  }

  /** Drops the pool for `key` (whatever it held is forgotten); returns it. */
  delete(key: string): PortPool | undefined {
    const pool = this.#pools.get(key);
    if (!pool) return undefined;
    this.#pools.delete(key);
    this.#freeRegions.push(this.#regions.get(key)!);
    this.#regions.delete(key);
    return pool;
  }

  /**
   * Allocates every port of `request` to `owner` on one of `keys`' pools:
   * the one `owner` already uses if any (idempotent), else the first that
   * fits, or the least used that fits.
   * @throws {AllocationError} `unknown-pool`, or the last pool's failure when none fits.
   */
  allocateAcross(
    keys: readonly string[],
    owner: string,
    request: PortRequest,
    choice: PoolChoice = "first-fit",
  ): { key: string; ports: readonly AllocatedPort[] } {
    const pools = keys.map((k) => {
      const p = this.#pools.get(k);
      if (!p) {
        throw new AllocationError(
          "unknown-pool",
          `No pool "${k}"; known: ${[...this.#pools.keys()].join(", ")}`,
        );
      }
      return [k, p] as const;
    });
    const mine = pools.find(([, p]) => p.holdings(owner) !== undefined);
    if (mine) return { key: mine[0], ports: mine[1].allocate(owner, request) };
    const order = choice === "least-used"
      ? [...pools].sort(([, a], [, b]) =>
        (a.used("TCP") + a.used("UDP")) - (b.used("TCP") + b.used("UDP"))
      )
      : pools;
    let last: unknown;
    for (const [key, pool] of order) {
      try {
        return { key, ports: pool.allocate(owner, request) };
      } catch (err) {
        if (
          !(err instanceof AllocationError) ||
          !["exhausted", "exhausted-delayed", "conflict"].includes(err.code)
        ) {
          throw err;
        }
        last = err;
      }
    }
    throw last instanceof AllocationError && pools.length > 1
      ? new AllocationError(last.code, `No pool of ${keys.join(", ")} fits: ${last.message}`, {
        retryAfterMs: last.retryAfterMs,
      })
      : last;
  }

  /** Releases `owner` from every pool; returns how many ports were freed. */
  release(owner: string): number {
    let n = 0;
    for (const pool of this.#pools.values()) n += pool.release(owner).length;
    return n;
  }
}
