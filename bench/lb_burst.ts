/**
 * A burst of `AlibabaCloud-SLB` game servers against the fake CCM: one
 * StatefulSet of `pods` replicas (Parallel) over `lbs` SLBs of 200 ports,
 * gamenet as the tests run it. Measured: wall time from the
 * StatefulSet's creation to the last Pod `Ready` in its network status,
 * and gamenet's writes to the API server per Pod, by resource and verb,
 * counted from the API server's audit log (only the `gamenet` user's
 * create/update/patch/delete requests are logged).
 *
 * ```sh
 * deno run --allow-all bench/lb_burst.ts [pods=1000] [lbs=5] [nodes=20]
 * ```
 * @module
 */

import { join } from "node:path";
import { ControlPlane, GAMENET_USER } from "../tests/controlplane/control_plane.ts";
import { KubeletStandIn } from "../tests/controlplane/kubelet_standin.ts";
import { GamenetProcess } from "../tests/e2e/gamenet_process.ts";
import { createNamespace, listPods, networkStatus } from "../tests/e2e/helpers.ts";
import { FakeCcm, type LbAddress } from "../tests/e2e/fake_ccm.ts";
import { workloadPath } from "../tests/e2e/workloads.ts";
import { NETWORK_CONF_ANNOTATION, NETWORK_TYPE_ANNOTATION } from "../providers/types.ts";

const PODS = Number(Deno.args[0] ?? 1000);
const LBS = Number(Deno.args[1] ?? 5);
const NODES = Number(Deno.args[2] ?? 20);
const NS = "lb-burst";

const auditDir = await Deno.makeTempDir({ prefix: "gamenet-audit-" });
const policy = join(auditDir, "policy.yaml");
const log = join(auditDir, "audit.log");
await Deno.writeTextFile(
  policy,
  `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: ${Deno.env.get("KEEP_AUDIT") ? "Request" : "Metadata"}
    users: ["${GAMENET_USER}"]
    verbs: ["create", "update", "patch", "delete"]
  - level: None
`,
);
await using cp = await ControlPlane.start({
  apiServerArgs: [`--audit-policy-file=${policy}`, `--audit-log-path=${log}`],
});
const admin = cp.client("admin");
await using kubelet = new KubeletStandIn(admin, { concurrency: 2 * NODES });
await kubelet.addNodes(NODES);
kubelet.start();
const lbs: Record<string, LbAddress> = {};
for (let i = 0; i < LBS; i++) lbs[`lb-burst-${i}`] = { ip: `203.0.113.${10 + i}` };
await using ccm = new FakeCcm(admin, lbs, { delayMs: 300 });
ccm.start();
await createNamespace(admin, NS);
await using gamenet = await GamenetProcess.start(cp);
await gamenet.waitReady();

const started = performance.now();
await admin.request("POST", workloadPath(NS, "StatefulSet"), {
  body: {
    metadata: { name: "gs" },
    spec: {
      replicas: PODS,
      serviceName: "gs",
      podManagementPolicy: "Parallel",
      selector: { matchLabels: { app: "gs" } },
      template: {
        metadata: {
          labels: { app: "gs" },
          annotations: {
            [NETWORK_TYPE_ANNOTATION]: "AlibabaCloud-SLB",
            [NETWORK_CONF_ANNOTATION]: JSON.stringify([
              { name: "SlbIds", value: Object.keys(lbs).join(",") },
              { name: "PortProtocols", value: "80" },
            ]),
          },
        },
        spec: {
          terminationGracePeriodSeconds: 0,
          containers: [{ name: "gs", image: "example.invalid/gs:1" }],
        },
      },
    },
  },
});
while (true) {
  const pods = await listPods(admin, NS);
  const ready = pods.filter((p) => networkStatus(p)?.currentNetworkState === "Ready").length;
  if (ready === PODS) break;
  await new Promise((r) => setTimeout(r, 500));
}
const wallMs = performance.now() - started;

const writes = new Map<string, number>();
for (const line of (await Deno.readTextFile(log)).split("\n").filter(Boolean)) {
  const e = JSON.parse(line);
  const resource = e.objectRef?.subresource
    ? `${e.objectRef.resource}/${e.objectRef.subresource}`
    : e.objectRef?.resource;
  const key = `${e.verb} ${resource}`;
  writes.set(key, (writes.get(key) ?? 0) + 1);
}
const total = [...writes.values()].reduce((a, b) => a + b, 0);
console.log(
  `${PODS} SLB Pods on ${LBS} SLBs, ${NODES} nodes: all Ready in ${(wallMs / 1000).toFixed(1)} s`,
);
console.log(`gamenet's API writes: ${total} (${(total / PODS).toFixed(2)} per Pod)`);
for (const [key, n] of [...writes].sort((a, b) => b[1] - a[1])) {
  console.log(`  ${key.padEnd(28)} ${String(n).padStart(6)}  ${(n / PODS).toFixed(2)}/Pod`);
}
console.log(`fake CCM: ${ccm.counts.addresses} addresses written, ${ccm.counts.refusals} refusals`);
await gamenet.kill("SIGTERM");
if (Deno.env.get("KEEP_AUDIT")) console.log(`audit log kept: ${log}`);
else await Deno.remove(auditDir, { recursive: true });
