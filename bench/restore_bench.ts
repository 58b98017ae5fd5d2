/**
 * Benchmark 3: restore of 100,000 owners × 2 ports across 2,000 nodes
 * (1,001-port range: 50 Pods, 100 ports per node), as at start-up: a new
 * chooser, then one `bind` per Pod in cache order (nodes interleaved).
 * Target: ≤ 100 ms.
 *
 * Baseline: a `Map` port → owner per node and a `Map` of owners, checked
 * for clashes — no usage counts, so it does less than the chooser. It is
 * an imitation written here, not a peer's code: Agones' `syncAll` and
 * OpenKruiseGame's `Init` are measured by bench/peers/run.ts.
 *
 * ```sh
 * deno bench --allow-read --allow-env bench/restore_bench.ts
 * ```
 * @module
 */

import { HostPortChooser } from "../allocator/mod.ts";

const owners = 100_000;
const nodes = 2_000;
const [min, max] = [7000, 8000];
const plan: { owner: string; node: string; ports: { port: number; protocol: "UDP" }[] }[] = [];
const nextPort = new Int32Array(nodes);
for (let i = 0; i < owners; i++) {
  const n = i % nodes;
  const p = min + nextPort[n];
  nextPort[n] += 2;
  plan.push({
    owner: `ns-${i % 50}/gs-${i}`,
    node: `node-${n}`,
    ports: [{ port: p, protocol: "UDP" }, { port: p + 1, protocol: "UDP" }],
  });
}

const group = "restore 100,000 owners × 2 ports on 2,000 nodes";
Deno.bench({
  name: "Map-per-node baseline (an imitation, not a peer's code)",
  group,
  baseline: true,
  n: 20,
  warmup: 3,
  fn() {
    const byNode = new Map<string, Map<number, string>>();
    const byOwner = new Map<string, string>();
    for (const { owner, node, ports } of plan) {
      let m = byNode.get(node);
      if (!m) byNode.set(node, m = new Map());
      for (const { port } of ports) {
        if (m.has(port)) throw new Error("conflict");
        m.set(port, owner);
      }
      byOwner.set(owner, node);
    }
  },
});
Deno.bench({
  name: "HostPortChooser.bind",
  group,
  n: 20,
  warmup: 3,
  fn() {
    const chooser = new HostPortChooser(min, max);
    for (const { owner, node, ports } of plan) chooser.bind(owner, node, ports);
  },
});
