/**
 * Pools by key (a load-balancer id, a node name) over one range, their
 * bits carved out of shared slabs ({@linkcode WordSlab}) so ten thousand
 * pools cost ten thousand small objects, not twenty thousand typed
 * arrays. Also the load-balancer choice: all of a Pod's ports on one
 * pool, the first that fits or the least used. The set knows which pools
 * each owner holds ports in, so releasing or finding an owner costs the
 * same with ten pools or ten thousand: change pools through the set
 * (`allocateAcross`, `restore`, `claim`, `release`), read them with `get`.
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
  type PoolSnapshot,
  PortPool,
  type PortPoolOptions,
  type PortRequest,
} from "./port_pool.ts";
import { WordSlab } from "./word_slab.ts";
import { OwnerTable } from "./owner_table.ts";
import type { PortConflict, RequestProtocol } from "./types.ts";

/** How {@linkcode PoolSet.allocateAcross} picks a pool. */
export type PoolChoice = "first-fit" | "least-used";

/** Options of {@linkcode PoolSet}: those of every pool, and the slab size. */
export interface PoolSetOptions extends Omit<PortPoolOptions, "slab" | "offset"> {
  /** Pools per slab array. @default {256} */
  poolsPerSlab?: number;
}

/** A read-only view of a set: each pool's snapshot under its key, keys sorted. */
export interface PoolSetSnapshot {
  min: number;
  max: number;
  pools: ({ key: string } & PoolSnapshot)[];
}

/** The set: see the module documentation. */
export class PoolSet {
  readonly min: number;
  readonly max: number;
  readonly #options: PortPoolOptions;
  readonly #pools = new Map<string, PortPool>();
  readonly #slab: WordSlab;
  /** Owner → the keys of the pools it holds ports in (nearly always one). */
  readonly #where = new OwnerTable<string[]>();

  constructor(min: number, max: number, options: PoolSetOptions = {}) {
    new PortPool(min, max, options); // validates the range and the options
    this.min = min;
    this.max = max;
    this.#options = { reuseDelayMs: options.reuseDelayMs, clock: options.clock };
    this.#slab = new WordSlab(2 * bitmapWords(max - min + 1), {
      regionsPerSlab: options.poolsPerSlab,
    });
  }

  /** Number of pools. */
  get size(): number {
    return this.#pools.size;
  }

  /**
   * The pool for `key`, if any, to read: a change made on it directly is
   * not seen by {@linkcode locate} and {@linkcode release}.
   */
  get(key: string): PortPool | undefined {
    return this.#pools.get(key);
  }

  /** Keys of every pool, in the order they were added. */
  keys(): IterableIterator<string> {
    return this.#pools.keys();
  }

  /** Every `[key, pool]`. */
  entries(): IterableIterator<[string, PortPool]> {
    return this.#pools.entries();
  }

  /**
   * The pool for `key`, made empty if absent.
   *
   * @example
   * ```ts
   * const pool = set.ensure("lb-a");
   * ```
   */
  ensure(key: string): PortPool {
    const found = this.#pools.get(key);
    if (found) return found;
    const region = this.#slab.take();
    const pool = new PortPool(this.min, this.max, {
      ...this.#options,
      slab: region.words,
      offset: region.offset,
    });
    this.#pools.set(key, pool);
    return pool;
  }

  /**
   * Drops the pool for `key`; whatever it held is forgotten. Returns its
   * owners. The dropped {@linkcode PortPool} object must not be used again
   * (its storage goes to the next pool made).
   *
   * @example
   * ```ts
   * set.delete("lb-a"); // ["default/gs-0", …]
   * ```
   */
  delete(key: string): string[] {
    const found = this.#pools.get(key);
    if (!found) return [];
    const owners: string[] = [];
    found.forEach((owner) => owners.push(owner));
    for (const owner of owners) this.#forget(owner, key);
    this.#pools.delete(key);
    // Its words go to the next pool: a PortPool object kept from before must not be used.
    this.#slab.give(found.storage);
    return owners;
  }

  /**
   * Allocates every port of `request` to `owner` on one of `keys`' pools:
   * the one `owner` already uses if any (idempotent), else the first that
   * fits, or the least used (fewest ports held, TCP + UDP) that fits.
   *
   * @example
   * ```ts
   * set.allocateAcross(["lb-a", "lb-b"], "default/gs-0", { count: 2, protocol: "UDP" });
   * // { key: "lb-a", ports: [{ port: 501, protocol: "UDP" }, { port: 502, protocol: "UDP" }] }
   * ```
   * @throws {AllocationError} `unknown-pool`, or why the last pool tried did not fit.
   */
  allocateAcross(
    keys: readonly string[],
    owner: string,
    request: PortRequest,
    choice: PoolChoice = "first-fit",
  ): { key: string; ports: readonly AllocatedPort[] } {
    if (keys.length === 0) {
      throw new AllocationError("unknown-pool", "No pool to choose from: give at least one key");
    }
    const pools = keys.map((k) => {
      const p = this.#pools.get(k);
      if (!p) {
        throw new AllocationError(
          "unknown-pool",
          `No pool "${k}"; known: ${[...this.#pools.keys()].join(", ") || "none"}`,
        );
      }
      return [k, p] as const;
    });
    const held = this.#where.get(owner);
    const mine = held && pools.find(([k]) => held.includes(k));
    if (mine) return { key: mine[0], ports: mine[1].allocate(owner, request) };
    const load = (p: PortPool) => p.used("TCP") + p.used("UDP");
    const order = choice === "least-used"
      ? [...pools].sort(([, a], [, b]) => load(a) - load(b))
      : pools;
    let last: AllocationError | undefined;
    for (const [key, pool] of order) {
      try {
        const ports = pool.allocate(owner, request);
        this.#note(owner, key);
        return { key, ports };
      } catch (err) {
        const next = err instanceof AllocationError &&
          ["exhausted", "exhausted-delayed", "conflict", "port-delayed"].includes(err.code);
        if (!next) throw err;
        // Report the soonest retry when any pool only waits out a delay.
        if (
          !last || (err.retryAfterMs !== undefined &&
            (last.retryAfterMs === undefined || err.retryAfterMs < last.retryAfterMs))
        ) {
          last = err;
        }
      }
    }
    throw pools.length > 1
      ? new AllocationError(last!.code, `No pool of ${keys.join(", ")} fits: ${last!.message}`, {
        owners: last!.owners ? [...last!.owners] : undefined,
        retryAfterMs: last!.retryAfterMs,
      })
      : last!;
  }

  /**
   * The pool holding `owner`'s ports, and the ports.
   *
   * @example
   * ```ts
   * set.locate("default/gs-0"); // { key: "lb-a", ports: [...] }
   * ```
   */
  locate(owner: string): { key: string; ports: readonly AllocatedPort[] } | undefined {
    for (const key of this.#where.get(owner) ?? []) {
      const ports = this.#pools.get(key)?.ports(owner);
      if (ports) return { key, ports };
    }
    return undefined;
  }

  /**
   * Rebuilds `owner`'s ports in pool `key` at start-up (see
   * {@linkcode PortPool.restore}).
   *
   * @example
   * ```ts
   * set.restore("lb-a", "default/gs-0", [{ port: 501, protocol: "UDP" }]); // []
   * ```
   * @throws {AllocationError} `unknown-pool`, and those of {@linkcode PortPool.restore}.
   */
  restore(key: string, owner: string, ports: readonly AllocatedPort[]): PortConflict[] {
    const conflicts = this.#pool(key).restore(owner, ports);
    if (this.#pools.get(key)!.ports(owner)) this.#note(owner, key);
    return conflicts;
  }

  /**
   * Holds one port of pool `key` for `owner` unless another holds it (see
   * {@linkcode PortPool.claim}); returns that other.
   *
   * @example
   * ```ts
   * set.claim("lb-a", 501, "UDP", "orphan:lbl-1"); // undefined: taken
   * ```
   */
  claim(key: string, port: number, protocol: RequestProtocol, owner: string): string | undefined {
    const other = this.#pool(key).claim(port, protocol, owner);
    if (other === undefined) this.#note(owner, key);
    return other;
  }

  #pool(key: string): PortPool {
    const pool = this.#pools.get(key);
    if (!pool) throw new AllocationError("unknown-pool", `No pool "${key}"`);
    return pool;
  }

  #note(owner: string, key: string): void {
    const keys = this.#where.get(owner);
    if (!keys) this.#where.set(owner, [key]);
    else if (!keys.includes(key)) this.#where.set(owner, [...keys, key]);
  }

  #forget(owner: string, key: string): void {
    const keys = this.#where.get(owner);
    if (!keys) return;
    const rest = keys.filter((k) => k !== key);
    if (rest.length === 0) this.#where.delete(owner);
    else this.#where.set(owner, rest);
  }

  /**
   * Releases `owner` from every pool; returns how many ports (per protocol) were freed.
   *
   * @example
   * ```ts
   * set.release("default/gs-0"); // 2
   * ```
   */
  release(owner: string): number {
    const keys = this.#where.delete(owner);
    let n = 0;
    for (const key of keys ?? []) n += this.#pools.get(key)?.release(owner).length ?? 0;
    return n;
  }

  /**
   * `owner`'s ports with the same numbers in every pool of `keys` — one
   * address per line of a game server (several ISPs' load balancers):
   * for each protocol entry the first number free in all of them, found
   * a word at a time by OR-ing the pools' used bits, not by trying
   * numbers one by one. An owner that holds ports in some of the pools
   * already gets those numbers in the others too.
   *
   * @example
   * ```ts
   * set.allocateSame(["nlb-telecom", "nlb-unicom"], "default/gs-0", ["UDP"]);
   * // [{ port: 501, protocol: "UDP" }], held in both
   * ```
   * @throws {AllocationError} `unknown-pool`; `exhausted` when no number is free in all;
   * `conflict` when the numbers an owner holds are taken in a pool it joins.
   */
  allocateSame(
    keys: readonly string[],
    owner: string,
    protocols: readonly RequestProtocol[],
  ): readonly AllocatedPort[] {
    if (keys.length === 0) {
      throw new AllocationError("unknown-pool", "No pool to choose from: give at least one key");
    }
    const pools = keys.map((k) => [k, this.#pool(k)] as const);
    const held = pools.map(([, p]) => p.ports(owner)).find((h) => h !== undefined && h.length > 0);
    const chosen = held ? [...held] : this.#sameFree(pools.map(([, p]) => p), protocols, owner);
    // Checked in every pool before any is changed: all or nothing.
    for (const [key, pool] of pools) {
      for (const { port, protocol } of chosen) {
        for (const p of protocol === "TCPUDP" ? ["TCP", "UDP"] as const : [protocol]) {
          const other = pool.ownerOf(port, p);
          if (other !== undefined && other !== owner) {
            throw new AllocationError(
              "conflict",
              `Port ${port}/${p} of ${owner} is held by ${other} in pool "${key}"`,
              { owners: [other, owner] },
            );
          }
        }
      }
    }
    for (const [key, pool] of pools) {
      for (const { port, protocol } of chosen) pool.claim(port, protocol, owner);
      this.#note(owner, key);
    }
    return chosen;
  }

  /** The first numbers free in every pool, one per protocol entry (none twice). */
  #sameFree(
    pools: readonly PortPool[],
    protocols: readonly RequestProtocol[],
    owner: string,
  ): AllocatedPort[] {
    const size = this.max - this.min + 1;
    const portWords = (size + 31) >>> 5;
    // A protocol's bits are followed by its summary words; UDP's come after.
    const udpShift = bitmapWords(size);
    for (const pool of pools) pool.free("TCP"); // brings delayed ports past their delay back
    const storage = pools.map((p) => p.storage);
    const taken = new Set<number>();
    const chosen: AllocatedPort[] = [];
    for (const protocol of protocols) {
      const tcp = protocol !== "UDP";
      const udp = protocol !== "TCP";
      let found = -1;
      for (let w = 0; w < portWords && found < 0; w++) {
        let used = 0;
        for (const { words, offset } of storage) {
          if (tcp) used |= words[offset + w];
          if (udp) used |= words[offset + udpShift + w];
        }
        let free = ~used;
        while (free !== 0) {
          const i = (w << 5) + (31 - Math.clz32(free & -free));
          if (i >= size) break;
          if (!taken.has(i)) {
            found = i;
            break;
          }
          free &= free - 1;
        }
      }
      if (found < 0) {
        throw new AllocationError(
          "exhausted",
          `No ${protocol} port of ${this.min}-${this.max} is free in all ${pools.length} pools ` +
            `for ${owner}`,
        );
      }
      taken.add(found);
      chosen.push({ port: this.min + found, protocol });
    }
    return chosen;
  }

  /**
   * A read-only copy of every pool, keys sorted, for `/allocations`.
   *
   * @example
   * ```ts
   * for (const p of set.snapshot().pools) console.log(p.key, p.used.UDP, p.free.UDP);
   * ```
   */
  snapshot(): PoolSetSnapshot {
    const pools = [...this.#pools].map(([key, pool]) => ({ key, ...pool.snapshot() }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { min: this.min, max: this.max, pools };
  }
}
