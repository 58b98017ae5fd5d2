/**
 * The real test node's costs (binaries already built): `RealNode.start()`
 * until the Node is Ready and schedulable, a game server Pod from creation
 * until a player gets its answer at the node's address and host port, and
 * `stop()` (drain, clean-up) — each run against one control plane.
 *
 * ```sh
 * sudo deno run --allow-all bench/real_node_startup.ts [runs=5]
 * ```
 * @module
 */

import { ControlPlane } from "../tests/controlplane/control_plane.ts";
import { REAL_NODE_IPV4, RealNode } from "../tests/controlplane/real_node.ts";
import { leftSince, machineFootprint } from "../tests/controlplane/machine_footprint.ts";
import { gameServerContainer } from "../tests/e2e/game_server_container.ts";
import { playOnce } from "../tests/e2e/player.ts";

const runs = Number(Deno.args[0] ?? 5);
const before = await machineFootprint();
await using cp = await ControlPlane.start();
const admin = cp.client("admin");
const rows: { start: number; answer: number; stop: number }[] = [];
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  const node = await RealNode.start(cp);
  const start = performance.now() - t0;
  const t1 = performance.now();
  await admin.request("POST", "/api/v1/namespaces/default/pods", {
    body: {
      metadata: { name: `bench-gs-${i}` },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: [{
          name: "gs",
          ports: [{ containerPort: 7777, hostPort: 17777, protocol: "UDP" }],
          ...gameServerContainer("7777"),
        }],
      },
    },
  });
  while (true) {
    const { answer } = await playOnce(REAL_NODE_IPV4, 17777, "UDP", { timeoutMs: 200 });
    if (answer?.pod === `bench-gs-${i}`) break;
  }
  const answer = performance.now() - t1;
  const t2 = performance.now();
  await node.stop();
  const stop = performance.now() - t2;
  rows.push({ start, answer, stop });
  console.log(
    `run ${i + 1}: start ${(start / 1000).toFixed(2)} s, Pod answers ${
      (answer / 1000).toFixed(2)
    } s, stop ${(stop / 1000).toFixed(2)} s`,
  );
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
console.log(
  `median of ${runs}: start ${s(median(rows.map((r) => r.start)))}, Pod answers ${
    s(median(rows.map((r) => r.answer)))
  }, stop ${s(median(rows.map((r) => r.stop)))}`,
);
console.log(`left on the machine: ${JSON.stringify(leftSince(before, await machineFootprint()))}`);
