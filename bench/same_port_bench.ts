/**
 * One port number free on every line's load balancer at once
 * (`PoolSet.allocateSame`, for Multi-NLBs and multi-ISP pools): 2 and 4
 * pools of 10,000 ports, each 99 % full at random, with the only numbers
 * free in all of them near the end of the range — against a port-by-port
 * search through the same pools' `has()`. Each iteration allocates and
 * releases, so the state stays the same.
 *
 * ```sh
 * deno bench --allow-read --allow-env bench/same_port_bench.ts
 * ```
 * @module
 */

import { PoolSet } from "../allocator/mod.ts";
import { seededRandom } from "../tests/test_seed.ts";

const MIN = 10_000;
const MAX = 19_999;

function fullPools(count: number): { set: PoolSet; keys: string[] } {
  const random = seededRandom(count);
  const set = new PoolSet(MIN, MAX);
  const keys = Array.from({ length: count }, (_, i) => `nlb-line-${i}`);
  for (const k of keys) set.ensure(k);
  // The last 8 numbers are free everywhere; elsewhere each pool keeps 1 %
  // free at random, and a number free in one is taken in the next, so
  // nothing before the end is free in all.
  for (let p = MIN; p <= MAX - 8; p++) {
    const freeIn = random() < 0.01 * count ? Math.floor(random() * count) : -1;
    keys.forEach((k, i) => {
      if (i !== freeIn) set.claim(k, p, "UDP", `x/${k}-${p}`);
    });
  }
  return { set, keys };
}

for (const count of [2, 4]) {
  const { set, keys } = fullPools(count);
  Deno.bench({
    name: `allocateSame, ${count} pools of 10,000 at 99 %`,
    group: `same port on ${count} pools`,
    baseline: true,
    fn() {
      set.allocateSame(keys, "x/gs", ["UDP"]);
      set.release("x/gs");
    },
  });
  Deno.bench({
    name: `port-by-port search, ${count} pools of 10,000 at 99 %`,
    group: `same port on ${count} pools`,
    fn() {
      let port = MIN;
      while (keys.some((k) => set.get(k)!.has(port, "UDP"))) port++;
      for (const k of keys) set.claim(k, port, "UDP", "x/gs");
      set.release("x/gs");
    },
  });
}
