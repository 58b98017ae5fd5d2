/**
 * What one owner costs where pools are many: `PoolSet` allocate + release
 * of one port with 10, 1,000 and 10,000 pools (each pool holding 10
 * owners), and `HostPortChooser.removeNode` of a node of 450 owners among
 * 1,000 such nodes (450,000 owners). Targets: allocate + release at 10,000
 * pools within 2× of 10 pools; removeNode ≤ 100 µs.
 *
 * ```sh
 * deno bench --allow-read --allow-env bench/pool_set_bench.ts
 * ```
 * @module
 */

import { HostPortChooser, PoolSet } from "../allocator/mod.ts";

for (const pools of [10, 1_000, 10_000]) {
  const set = new PoolSet(7000, 8000);
  const keys: string[] = [];
  for (let i = 0; i < pools; i++) {
    const key = `lb-${i}`;
    keys.push(key);
    set.ensure(key);
    for (let o = 0; o < 10; o++) set.allocateAcross([key], `ns/gs-${i}-${o}`, { count: 1 });
  }
  const last = [keys[pools - 1]];
  Deno.bench({
    name: `PoolSet allocateAcross + release, ${pools.toLocaleString("en")} pools`,
    group: "PoolSet allocate + release of one owner",
    baseline: pools === 10,
    fn() {
      set.allocateAcross(last, "ns/bench", { count: 1, protocol: "UDP" });
      set.release("ns/bench");
    },
  });
}

const NODES = 1_000;
const PER_NODE = 450;
const chooser = new HostPortChooser(7000, 8000);
const bindNode = (n: number) => {
  for (let o = 0; o < PER_NODE; o++) {
    chooser.bind(`ns/gs-${n}-${o}`, `node-${n}`, [{ port: 7000 + 2 * o, protocol: "UDP" }]);
  }
};
for (let n = 0; n < NODES; n++) bindNode(n);
let next = 0;
Deno.bench({
  name: `HostPortChooser.removeNode, ${PER_NODE} owners of ${
    (NODES * PER_NODE).toLocaleString("en")
  }`,
  group: "removeNode",
  n: 500,
  warmup: 20,
  fn(b) {
    const n = next++ % NODES;
    b.start();
    chooser.removeNode(`node-${n}`);
    b.end();
    // The node comes back, untimed, so the next removal finds the same state.
    bindNode(n);
  },
});
