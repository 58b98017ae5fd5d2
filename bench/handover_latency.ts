/**
 * Admission latency across a leader hand-over, as the creators of Pods see
 * it: two gamenet replicas behind a webhook Service probed as `deploy/`
 * probes them, `pods` game servers already running on `nodes` fake nodes
 * (the new leader restores and re-reconciles all of them as it takes
 * over), a creation burst going on, and the leader then either cut off
 * from the API server (`blackhole`: its connection swallows bytes) or
 * killed (`kill`: SIGKILL). Each creation's answer time is split into
 * before the disruption, the hand-over (until the Service routes to the
 * new leader) and after; refusals are counted by reason.
 *
 * ```sh
 * deno run --allow-all bench/handover_latency.ts [pods=2000] [nodes=20] [modes=blackhole,kill]
 * ```
 * @module
 */

import { ControlPlane } from "../tests/controlplane/control_plane.ts";
import { ensureControlPlaneAssets } from "../tests/controlplane/assets.ts";
import { KubeletStandIn } from "../tests/controlplane/kubelet_standin.ts";
import { TcpProxy } from "../tests/controlplane/tcp_proxy.ts";
import { GamenetProcess, registerWebhook } from "../tests/e2e/gamenet_process.ts";
import { WebhookService } from "../tests/e2e/webhook_service.ts";
import { createNamespace, eventually, listPods, networkStatus } from "../tests/e2e/helpers.ts";
import { createWorkload } from "../tests/e2e/workloads.ts";
import {
  type Creation,
  CreationBurst,
  latencySummary,
  refusalReasons,
} from "../tests/e2e/creation_burst.ts";

const PODS = Number(Deno.args[0] ?? 2000);
const NODES = Number(Deno.args[1] ?? 20);
const MODES = (Deno.args[2] ?? "blackhole,kill").split(",") as ("blackhole" | "kill")[];
const NS = "handover";
const STEADY_MS = 8_000;
const AFTER_MS = 10_000;

async function run(mode: "blackhole" | "kill"): Promise<void> {
  await using cp = await ControlPlane.start();
  const admin = cp.client("admin");
  await using kubelet = new KubeletStandIn(admin, { concurrency: 2 * NODES });
  await kubelet.addNodes(NODES);
  kubelet.start();
  await createNamespace(admin, NS);

  const link = new TcpProxy(cp.apiServerPort);
  const a = await GamenetProcess.start(cp, {
    identity: "gamenet-a",
    registerWebhook: false,
    apiServerPort: link.port,
  });
  await a.waitReady();
  const b = await GamenetProcess.start(cp, { identity: "gamenet-b", registerWebhook: false });
  await using service = new WebhookService([a, b]);
  await registerWebhook(cp, service.port);
  try {
    await eventually(
      "the Service to route to gamenet-a",
      () => service.endpoint === a || undefined,
    );
    const created = Date.now();
    await createWorkload(admin, NS, {
      kind: "Deployment",
      name: "fleet",
      replicas: PODS,
      networkType: "Kubernetes-HostPort",
      conf: { ContainerPorts: "gs:7777/UDP" },
      ports: [{ containerPort: 7777, protocol: "UDP" }],
    });
    await eventually(
      `${PODS} Pods Ready`,
      async () => {
        const ready = (await listPods(admin, NS, "app=fleet"))
          .filter((p) => networkStatus(p)?.currentNetworkState === "Ready").length;
        return ready === PODS || undefined;
      },
      600_000,
      2_000,
    );
    console.error(`  ${PODS} Pods Ready in ${Date.now() - created} ms`);

    const burst = new CreationBurst(admin, NS);
    await new Promise((r) => setTimeout(r, STEADY_MS));
    const cutAt = Date.now();
    if (mode === "blackhole") link.setMode("blackhole");
    else await a.kill("SIGKILL");
    await b.waitReady(60_000);
    const readyAt = Date.now();
    await eventually(
      "the Service to route to gamenet-b",
      () => service.endpoint === b || undefined,
      30_000,
      100,
    );
    const routedAt = Date.now();
    await new Promise((r) => setTimeout(r, AFTER_MS));
    const creations = await burst.stop();
    const window = (from: number, to: number) =>
      creations.filter((c: Creation) => c.start >= from && c.start < to);
    console.log(`\n### ${mode}: ${PODS} Pods on ${NODES} nodes`);
    console.log(`new leader ready +${readyAt - cutAt} ms, routed to +${routedAt - cutAt} ms`);
    console.log(`- before:    ${latencySummary(window(0, cutAt))}`);
    console.log(`- hand-over: ${latencySummary(window(cutAt, routedAt))}`);
    console.log(`- after:     ${latencySummary(window(routedAt, Infinity))}`);
    console.log(`- refusals:  ${JSON.stringify(refusalReasons(creations))}`);
  } finally {
    await Promise.all([a.kill("SIGTERM"), b.kill("SIGTERM")]);
    await link.close();
  }
}

if (import.meta.main) {
  await ensureControlPlaneAssets();
  for (const mode of MODES) await run(mode);
}
