/**
 * One copy of each value seen again: `JSON.parse` gives every cached object
 * its own copy of values that thousands of them share (a node's name and
 * IP, a pool's `network-conf`, a template's container ports).
 *
 * @example
 * ```ts
 * const names = new Interner<string>();
 * const a = names.get("node-1");
 * names.get(JSON.parse('"node-1"')) === a; // true: the same string
 * ```
 * @module
 */

/** Options of an {@linkcode Interner}. */
export interface InternerOptions {
  /**
   * How many values it holds before it forgets them all and starts again:
   * values that are never seen again (churned nodes, unique ones) cannot
   * pile up, and those still shared are found again at their next use.
   * @default {50_000}
   */
  maxSize?: number;
}

/** Hands back the first value given for each key. */
export class Interner<T> {
  readonly #values = new Map<unknown, T>();
  readonly #maxSize: number;

  constructor(options: InternerOptions = {}) {
    this.#maxSize = options.maxSize ?? 50_000;
  }

  /**
   * The value first given for `key` (`value`, or `key` itself, when it is
   * new). Values handed back are shared: no one may change them.
   */
  get(key: T): T;
  get(key: string, value: T): T;
  get(key: unknown, value: T = key as T): T {
    const known = this.#values.get(key);
    if (known !== undefined) return known;
    if (this.#values.size >= this.#maxSize) this.#values.clear();
    this.#values.set(key, value);
    return value;
  }

  /** How many values it holds. */
  get size(): number {
    return this.#values.size;
  }
}
