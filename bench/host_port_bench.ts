/**
 * Benchmark 2: host-port choice plus the usage update, across 5,000
 * nodes × 1,001 ports at 80 % mean occupancy (each node 70-90 % used).
 * Target: ≤ 1 µs.
 *
 * - `choose + release`: the admission-time choice (the pending claim
 *   updates the usage counts) and its release.
 * - `choose + bind + release`: the same Pod then lands on a node (its
 *   bitmap and the usage counts change) and goes away.
 *
 * Baseline: a linear-scan `Map` port → number of Pods using it, scanned
 * for the least used port, then updated — an imitation written here, not
 * a peer's code (OpenKruiseGame's Kubernetes-HostPort plugin, measured by
 * bench/peers/run.ts, scans a slice of usage counts the same way).
 *
 * ```sh
 * deno bench --allow-read --allow-env bench/host_port_bench.ts
 * ```
 * @module
 */

import { HostPortChooser } from "../allocator/mod.ts";
import { rng, shuffled } from "./fill.ts";

const nodes = 5_000;
const [min, max] = [7000, 8000];
const chooser = new HostPortChooser(min, max);
const r = rng(7);
const usage = new Map<number, number>();
for (let p = min; p <= max; p++) usage.set(p, 0);
for (let n = 0; n < nodes; n++) {
  const node = `node-${n}`;
  // 70-90 % of each node's ports: 80 % on average, one owner per 2 ports.
  const count = Math.floor((max - min + 1) * (0.7 + r() * 0.2));
  const ports = shuffled(min, max, n).slice(0, count);
  for (let k = 0; k + 1 < ports.length; k += 2) {
    chooser.bind(`default/gs-${n}-${k}`, node, [
      { port: ports[k], protocol: "UDP" },
      { port: ports[k + 1], protocol: "UDP" },
    ]);
  }
  for (const p of ports) usage.set(p, usage.get(p)! + 1);
}
// The Pod of the benchmark lands on a node where its port is free.
chooser.addNode("node-spare");

const group = "host-port choice + usage update, 5,000 nodes × 1,001 ports, 80% used";
Deno.bench({
  name: "linear-scan Map baseline (an imitation, not a peer's code)",
  group,
  baseline: true,
  fn() {
    let best = -1;
    let bestCount = Infinity;
    for (const [p, c] of usage) {
      if (c < bestCount) {
        best = p;
        bestCount = c;
      }
    }
    usage.set(best, bestCount + 1);
    usage.set(best, bestCount);
  },
});
Deno.bench({
  name: "HostPortChooser choose + release",
  group,
  fn() {
    chooser.choose("default/bench", ["UDP"]);
    chooser.release("default/bench");
  },
});
Deno.bench({
  name: "HostPortChooser choose + bind + release",
  group,
  fn() {
    const [port] = chooser.choose("default/bench", ["UDP"]);
    chooser.bind("default/bench", "node-spare", [{ port, protocol: "UDP" }]);
    chooser.release("default/bench");
  },
});
