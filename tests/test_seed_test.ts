import assert from "node:assert/strict";
import {
  parseTestSeed,
  seededRandom,
  TEST_SEED_ENV,
  testRandom,
  testSeed,
  testSeedFor,
} from "./test_seed.ts";

const take = (random: () => number, n: number) => Array.from({ length: n }, () => random());

/** A fresh copy of the module (its own chosen seed), read with `value` in the environment. */
async function freshModule(value: string | undefined): Promise<typeof import("./test_seed.ts")> {
  const before = Deno.env.get(TEST_SEED_ENV);
  if (value === undefined) Deno.env.delete(TEST_SEED_ENV);
  else Deno.env.set(TEST_SEED_ENV, value);
  try {
    const mod: typeof import("./test_seed.ts") = await import(
      `./test_seed.ts?fresh=${crypto.randomUUID()}`
    );
    mod.testSeed();
    return mod;
  } finally {
    if (before === undefined) Deno.env.delete(TEST_SEED_ENV);
    else Deno.env.set(TEST_SEED_ENV, before);
  }
}

/** What `run` printed with console.log. */
async function printed(run: () => Promise<unknown>): Promise<string[]> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => lines.push(args.join(" "));
  try {
    await run();
  } finally {
    console.log = log;
  }
  return lines;
}

Deno.test("seededRandom() gives the same sequence for the same seed, another for another", () => {
  const first = take(seededRandom(12345), 50);
  assert.deepEqual(take(seededRandom(12345), 50), first);
  assert.notDeepEqual(take(seededRandom(12346), 50), first);
  assert.ok(first.every((x) => x >= 0 && x < 1), "floats in [0, 1)");
  // mulberry32's own first value for 42: the generator itself does not drift.
  assert.equal(seededRandom(42)(), 0.6011037519201636);
});

Deno.test("testRandom() streams are the seed's: same name, same values; other names differ", () => {
  const seed = testSeed();
  assert.deepEqual(take(testRandom("victims"), 20), take(seededRandom(testSeedFor("victims")), 20));
  assert.deepEqual(take(testRandom("victims"), 20), take(testRandom("victims"), 20));
  assert.notDeepEqual(take(testRandom("victims"), 20), take(testRandom("sleeps"), 20));
  assert.equal(testSeedFor("victims"), testSeedFor("victims", seed));
  assert.notEqual(testSeedFor("victims", seed), testSeedFor("victims", seed ^ 1));
  const derived = testSeedFor("x", 0xffff_ffff);
  assert.ok(Number.isInteger(derived) && derived >= 0 && derived <= 0xffff_ffff, `${derived}`);
});

Deno.test("testSeed() honours GAMENET_TEST_SEED and prints it once", async () => {
  let mod!: typeof import("./test_seed.ts");
  const lines = await printed(async () => {
    mod = await freshModule("12345");
    assert.equal(mod.testSeed(), 12345);
    assert.equal(mod.testSeed(), 12345);
  });
  assert.deepEqual(lines, [`${TEST_SEED_ENV}=12345 (re-run a failure with this)`]);
  // The replayed run's streams are those of the run that printed 12345.
  assert.deepEqual(
    take(mod.testRandom("victims"), 10),
    take(seededRandom(testSeedFor("victims", 12345)), 10),
  );
});

Deno.test("testSeed() without GAMENET_TEST_SEED picks one and prints how to replay it", async () => {
  let seed = -1;
  const lines = await printed(async () => {
    seed = (await freshModule(undefined)).testSeed();
  });
  assert.ok(Number.isInteger(seed) && seed >= 0 && seed <= 0xffff_ffff, `${seed}`);
  assert.deepEqual(lines, [`${TEST_SEED_ENV}=${seed} (re-run a failure with this)`]);
  assert.equal(parseTestSeed(String(seed)), seed, "the printed value reads back");
});

Deno.test("parseTestSeed() refuses what no run printed, naming the variable and the value", () => {
  assert.equal(parseTestSeed("0"), 0);
  assert.equal(parseTestSeed(" 4294967295\n"), 4294967295);
  for (const bad of ["", "-1", "1.5", "0x10", "4294967296", "abc", "12 34"]) {
    assert.throws(
      () => parseTestSeed(bad),
      new RegExp(`^Error: GAMENET_TEST_SEED "${bad}": write a whole number from 0 to 4294967295`),
      bad,
    );
  }
});
