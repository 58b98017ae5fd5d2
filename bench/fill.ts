/**
 * Deterministic filling for the allocator benchmarks: a seeded PRNG and
 * shuffled port lists, so every run measures the same pools.
 *
 * @example
 * ```ts
 * const used = shuffled(7000, 8000, 42).slice(0, 900); // 90 % of 7000-8000, always the same
 * ```
 * @module
 */

/**
 * A small seeded PRNG (mulberry32): floats in [0, 1).
 *
 * @example
 * ```ts
 * const r = rng(7);
 * r(); // the same first number on every run
 * ```
 */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The ports of `[min, max]` in a random order fixed by `seed`.
 *
 * @example
 * ```ts
 * shuffled(1, 5, 1); // e.g. [3, 1, 5, 2, 4]
 * ```
 */
export function shuffled(min: number, max: number, seed: number): number[] {
  const ports = Array.from({ length: max - min + 1 }, (_, i) => min + i);
  const r = rng(seed);
  for (let i = ports.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [ports[i], ports[j]] = [ports[j], ports[i]];
  }
  return ports;
}
