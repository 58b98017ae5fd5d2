/**
 * One seed for every random choice the tests make, so that a failure can be
 * run again the same way: the seed comes from `GAMENET_TEST_SEED` when it is
 * set, else it is picked at random, and it is printed once per test file as
 * `GAMENET_TEST_SEED=12345 (re-run a failure with this)`.
 *
 * A test never calls `Math.random`: it asks {@linkcode testRandom} for a
 * generator of its own, named after what it chooses, so its sequence does
 * not depend on which other tests ran first (`--filter` replays it too).
 * fast-check properties take {@linkcode testSeed} itself as their `seed`.
 *
 * @example
 * ```ts
 * const random = testRandom("victims");
 * const victim = pods[Math.floor(random() * pods.length)];
 * fc.assert(property, { seed: testSeed() });
 * ```
 * @module
 */

/** The environment variable a seed is replayed from. */
export const TEST_SEED_ENV = "GAMENET_TEST_SEED";

let chosen: number | undefined;

/**
 * Reads a seed as a run printed it: a whole number from 0 to 2³² − 1.
 * Throws a message naming the variable and the value otherwise.
 */
export function parseTestSeed(text: string): number {
  const seed = Number(text.trim());
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(seed) || seed > 0xffff_ffff) {
    throw new Error(
      `${TEST_SEED_ENV} "${text}": write a whole number from 0 to 4294967295, as a run printed it`,
    );
  }
  return seed;
}

/** The variable's value (undefined when unset), or false when it may not be read. */
function fromEnvironment(): string | undefined | false {
  const access = Deno.permissions.querySync({ name: "env", variable: TEST_SEED_ENV });
  if (access.state !== "granted") return false;
  return Deno.env.get(TEST_SEED_ENV) || undefined;
}

/**
 * This run's seed: `GAMENET_TEST_SEED`, or one picked at random. The same
 * for every call in a process (a test file); printed on the first. Without
 * permission to read the variable the seed is picked, and the line says so.
 */
export function testSeed(): number {
  if (chosen !== undefined) return chosen;
  const text = fromEnvironment();
  chosen = typeof text === "string"
    ? parseTestSeed(text)
    : crypto.getRandomValues(new Uint32Array(1))[0];
  const unread = text === false ? `; it is read with --allow-env` : "";
  console.log(`${TEST_SEED_ENV}=${chosen} (re-run a failure with this${unread})`);
  return chosen;
}

/** FNV-1a: a name as 32 bits, to tell streams apart. */
function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(name)) h = Math.imul(h ^ byte, 0x01000193);
  return h >>> 0;
}

/**
 * The seed of the stream called `name`: derived from `seed` (this run's by
 * default), different for different names, and the same on every run with
 * the same seed. For code that takes a seed rather than a generator (the
 * fake cloud's fault injection).
 */
export function testSeedFor(name: string, seed: number = testSeed()): number {
  return (seed ^ hashName(name)) >>> 0;
}

/** A generator of floats in [0, 1) for the stream called `name` of this run's seed. */
export function testRandom(name: string): () => number {
  return seededRandom(testSeedFor(name));
}

/**
 * A small deterministic random number generator (mulberry32): the same
 * seed gives the same sequence, on every run and every machine.
 *
 * @example
 * ```ts
 * const random = seededRandom(42);
 * random(); // always the same first value for seed 42, in [0, 1)
 * ```
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
