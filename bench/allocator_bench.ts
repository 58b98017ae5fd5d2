/**
 * Benchmark 1: allocate + release of one port through the public API
 * (owner bookkeeping included), at 50, 90, 99 and 99.9 % occupancy, on a
 * 1,001-port pool (Agones' default 7000-8000) and a 64,512-port pool
 * (1024-65535). Target: ≤ 250 ns at 99.9 % on the 64,512-port pool.
 *
 * Each group also runs a linear-scan `Map` baseline, an imitation written
 * here and not any peer's code: a `Map<number, boolean>` of every port of
 * the pool, scanned from the bottom for the first free one, and a `Map` of
 * owners. Its cost is the distance to the first free port, so each
 * occupancy runs with the ports used at random and packed from the bottom.
 * Agones' and OpenKruiseGame's real allocators are measured by
 * bench/peers/run.ts.
 *
 * ```sh
 * deno bench --allow-read --allow-env bench/allocator_bench.ts
 * ```
 * @module
 */

import { PortPool } from "../allocator/mod.ts";
import { shuffled } from "./fill.ts";

/** The linear-scan baseline: every port in a Map (false = free), scanned from the bottom. */
class LinearScanPool {
  readonly ports = new Map<number, boolean>();
  readonly owners = new Map<string, number>();
  constructor(readonly min: number, readonly max: number) {
    for (let p = min; p <= max; p++) this.ports.set(p, false);
  }
  allocate(owner: string): number {
    const had = this.owners.get(owner);
    if (had !== undefined) return had;
    for (let p = this.min; p <= this.max; p++) {
      if (!this.ports.get(p)) {
        this.ports.set(p, true);
        this.owners.set(owner, p);
        return p;
      }
    }
    throw new Error("exhausted");
  }
  release(owner: string): void {
    const p = this.owners.get(owner);
    if (p === undefined) return;
    this.ports.set(p, false);
    this.owners.delete(owner);
  }
}

/**
 * Two ways a pool fills up: ports taken at random (PortPool's next-fit
 * spreads them like this over time), and packed from the bottom, the
 * steady state a first-fit scan like the baseline's leaves behind (its
 * scan then walks every used port).
 */
const FILLS = {
  random: (min: number, max: number) => shuffled(min, max, 42),
  packed: (min: number, max: number) => Array.from({ length: max - min + 1 }, (_, i) => min + i),
};

for (const [fill, order] of Object.entries(FILLS)) {
  for (const [min, max] of [[7000, 8000], [1024, 65535]] as const) {
    const size = max - min + 1;
    for (const occupancy of [0.5, 0.9, 0.99, 0.999]) {
      const filled = Math.floor(size * occupancy);
      const used = order(min, max).slice(0, filled);
      const pool = new PortPool(min, max);
      for (let i = 0; i < filled; i++) pool.reserve(used[i], "UDP", `default/fill-${i}`);
      const linear = new LinearScanPool(min, max);
      for (const p of used) linear.ports.set(p, true);
      const group = `allocate+release, ${size} ports, ${occupancy * 100}% used, ${fill} fill`;
      const request = { count: 1, protocol: "UDP" as const };
      Deno.bench({
        name: "linear-scan Map baseline (an imitation, not a peer's code)",
        group,
        baseline: true,
        // A scan of tens of thousands of Map entries takes 0.1-0.5 ms: a fixed count keeps it short.
        ...(size > 10_000 ? { n: 2_000, warmup: 200 } : {}),
        fn() {
          linear.allocate("default/bench");
          linear.release("default/bench");
        },
      });
      Deno.bench({
        name: "PortPool",
        group,
        fn() {
          pool.allocate("default/bench", request);
          pool.release("default/bench");
        },
      });
    }
  }
}
