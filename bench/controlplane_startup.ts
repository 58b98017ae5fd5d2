/**
 * Warm start-up of the test control plane (binaries already built): the
 * time from `ControlPlane.start()` to a serving API server, and to a
 * working controller-manager (the `default` ServiceAccount exists).
 *
 * ```sh
 * deno run --allow-all bench/controlplane_startup.ts [runs=5]
 * ```
 * @module
 */

import { ControlPlane } from "../tests/controlplane/control_plane.ts";
import { ensureControlPlaneAssets } from "../tests/controlplane/assets.ts";
import { KubeApiError } from "../controller/kube_client.ts";

const runs = Number(Deno.args[0] ?? 5);
await ensureControlPlaneAssets();
const serving: number[] = [];
const working: number[] = [];
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  const cp = await ControlPlane.start();
  serving.push(performance.now() - t0);
  try {
    while (true) {
      try {
        await cp.client("admin").request(
          "GET",
          "/api/v1/namespaces/default/serviceaccounts/default",
        );
        break;
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 404)) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    working.push(performance.now() - t0);
  } finally {
    await cp.stop();
  }
  console.log(
    `run ${i + 1}: serving ${(serving[i] / 1000).toFixed(2)} s, controller-manager working ${
      (working[i] / 1000).toFixed(2)
    } s`,
  );
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(
  `median of ${runs}: serving ${(median(serving) / 1000).toFixed(2)} s, working ${
    (median(working) / 1000).toFixed(2)
  } s`,
);
