/**
 * CLB port pools end to end (tke-extend-network-controller v2's API): the
 * shipped CRDs and RBAC on the real control plane, gamenet as a process
 * with the shipped flags, the fake Tencent Cloud behind the real SDK.
 * TKE's documented pool and workloads applied as written, two ISP lines
 * of 3 CLBs each (Uniform and InOrder) under 300 TCPUDP Pods, the Pod
 * annotations against the fake's listeners and targets, a SIGKILL in
 * the middle, and nothing left in the cloud once the Pods are gone.
 */

import assert from "node:assert/strict";
import { ControlPlane } from "../controlplane/control_plane.ts";
import { KubeletStandIn } from "../controlplane/kubelet_standin.ts";
import { applyManifests } from "../controlplane/apply.ts";
import { FakeTencentCloud } from "../fakes/tencentcloud/fake_tencent_cloud.ts";
import type { Pod } from "../../providers/types.ts";
import { createNamespace, eventsFor, eventually, listPods, networkStatus } from "./helpers.ts";
import {
  applyClbCrds,
  bindings,
  checkResult,
  CLB_GROUP as GROUP,
  poolStatus,
  portMappedStatefulSet,
  startClbGamenet,
} from "./clb_port_pool_harness.ts";
import { CPB_FINALIZER } from "../../providers/tencent_clb/clb_port_pool.ts";
import {
  ENABLE_PORT_MAPPING_ANNOTATION,
  type MappingResult,
  PORT_MAPPING_RESULT_ANNOTATION,
  PORT_MAPPING_STATUS_ANNOTATION,
} from "../../providers/tencent_clb/port_mapping.ts";

/**
 * Every Pod's result against the cloud: each entry a listener of the
 * fake with that port, protocol and name, the Pod IP:port its only
 * target, the address the CLB's VIP; no listener in the cloud that no
 * result names; no CLB port given twice. Throws what does not hold yet.
 */
function checkResults(
  cloud: FakeTencentCloud,
  pods: Pod[],
  lbs: string[],
  linesPerPod: (pod: Pod) => number,
) {
  const listeners = lbs.flatMap((lb) =>
    cloud.loadBalancer(lb)!.listeners.map((l) => ({ ...l, lb }))
  );
  const seen = new Set<string>();
  for (const pod of pods) {
    const a = pod.metadata.annotations ?? {};
    if (a[PORT_MAPPING_STATUS_ANNOTATION] !== "Ready") {
      throw new Error(`${pod.metadata.name}: status ${a[PORT_MAPPING_STATUS_ANNOTATION]}`);
    }
    const results = JSON.parse(a[PORT_MAPPING_RESULT_ANNOTATION] ?? "[]") as MappingResult[];
    if (results.length !== linesPerPod(pod)) {
      throw new Error(`${pod.metadata.name}: ${results.length} results`);
    }
    for (const r of results) {
      checkResult(cloud, listeners, seen, pod, r);
      assert.deepEqual(r.ips, [cloud.loadBalancer(r.loadbalancerId)!.vip]);
    }
    // What OpenKruiseGame's TencentCloud-CLB writes: one entry per mapping, the port named by its number.
    const status = networkStatus(pod);
    if (status?.currentNetworkState !== "Ready") throw new Error(`${pod.metadata.name}: not Ready`);
    assert.equal(status.networkType, "TencentCloud-CLB");
    assert.deepEqual(
      status.externalAddresses,
      results.map((r) => ({
        ip: r.ips![0],
        ports: [{ name: String(r.port), port: r.loadbalancerPort, protocol: r.protocol }],
      })),
    );
    assert.deepEqual(
      status.internalAddresses,
      results.map((r) => ({
        ip: pod.status!.podIP,
        ports: [{ name: String(r.port), port: r.port, protocol: r.protocol }],
      })),
    );
  }
  if (listeners.length !== seen.size) {
    const extra = listeners.filter((l) => !seen.has(`${l.lb}:${l.port}/${l.protocol}`));
    throw new Error(
      `${listeners.length} listeners, ${seen.size} results; extra ${
        extra.slice(0, 5).map((l) => `${l.lb}:${l.port}/${l.protocol} ${l.name}`)
      }`,
    );
  }
  return true;
}

Deno.test("CLB port pools: TKE's examples, two ISP lines, a restart, then nothing left", async (t) => {
  await using cp = await ControlPlane.start();
  const admin = cp.client("admin");
  await applyClbCrds(admin);
  await using kubelet = new KubeletStandIn(admin, { concurrency: 16 });
  await kubelet.addNodes(3, { prefix: "cpp-node" });
  kubelet.start();
  const ctcc = ["lb-ctcc0001", "lb-ctcc0002", "lb-ctcc0003"];
  const cmcc = ["lb-cmcc0001", "lb-cmcc0002", "lb-cmcc0003"];
  const docLb = "lb-04iq85jh";
  await using cloud = await FakeTencentCloud.start({
    loadBalancers: [
      { id: docLb, vip: "111.231.210.160" },
      { id: "lb-late0001", vip: "203.0.113.99" },
      ...[...ctcc, ...cmcc].map((id, i) => ({
        id,
        vip: `203.0.113.${10 + i}`,
        listenerQuota: 250,
      })),
    ],
    rateLimitPerSecond: 20,
    taskDurationMs: 100,
  });
  let gamenet = await startClbGamenet(cp, cloud);
  try {
    await t.step(
      "TKE's pool, StatefulSet and GameServerSet / Fleet Pod templates, as written",
      async () => {
        const ns = "tke-docs";
        await createNamespace(admin, ns);
        // docs/clb-port-pool.md ("内网 CLB 绑 EIP 映射"), the doc's pool of one given CLB.
        await applyManifests(
          admin,
          `apiVersion: networking.cloud.tencent.com/v1alpha1
kind: CLBPortPool
metadata:
  name: pool-test
spec:
  startPort: 30000
  exsistedLoadBalancerIDs:
  - ${docLb}
`,
        );
        // The doc's StatefulSet, as written but 3 replicas (the CLB's quota of 50 listeners holds 16 Pods).
        await admin.request("POST", `/apis/apps/v1/namespaces/${ns}/statefulsets`, {
          body: portMappedStatefulSet(
            "gameserver",
            ns,
            3,
            "8000 UDP pool-test\n7000 TCPUDP pool-test",
          ),
        });
        // The Pod templates of the doc's GameServerSet and Fleet, under a Deployment (neither CRD is here).
        for (
          const [name, mapping] of [["gss-template", "8000 UDP pool-test\n7000 TCPUDP pool-test"], [
            "fleet-template",
            "7654 TCPUDP pool-test",
          ]]
        ) {
          await admin.request("POST", `/apis/apps/v1/namespaces/${ns}/deployments`, {
            body: {
              metadata: { name },
              spec: {
                replicas: 2,
                selector: { matchLabels: { app: name } },
                template: {
                  metadata: {
                    labels: { app: name },
                    annotations: {
                      [ENABLE_PORT_MAPPING_ANNOTATION]: "true",
                      "networking.cloud.tencent.com/clb-port-mapping": mapping,
                    },
                  },
                  spec: { containers: [{ name: "gameserver", image: "your-gameserver-image" }] },
                },
              },
            },
          });
        }
        await eventually("every result to match the cloud", async () => {
          const pods = await listPods(admin, ns);
          if (pods.length !== 7) return undefined;
          return checkResults(
            cloud,
            pods,
            [docLb],
            (p) => p.metadata.name!.startsWith("fleet") ? 2 : 3,
          ) || undefined;
        }, 60_000);
        const bds = await bindings(admin, ns);
        assert.equal(bds.length, 7);
        for (const b of bds) {
          assert.equal(b.status?.state, "Bound");
          assert.deepEqual(b.metadata.finalizers, [CPB_FINALIZER]);
        }
        await eventually("the pool's status to count the listeners", async () => {
          const p = { status: await poolStatus(admin, "pool-test") };
          return p.status?.state === "Active" &&
              p.status.loadbalancerStatuses?.[0]?.allocated === 19 &&
              p.status.quota === 50 || undefined;
        });
      },
    );

    await t.step("network disabled: the targets go, the listeners stay", async () => {
      const ns = "tke-docs";
      await admin.request("PATCH", `/api/v1/namespaces/${ns}/pods/gameserver-0`, {
        body: { metadata: { annotations: { [ENABLE_PORT_MAPPING_ANNOTATION]: "false" } } },
        contentType: "application/merge-patch+json",
      });
      await eventually("gameserver-0 Disabled with no target", async () => {
        const bd = (await bindings(admin, ns)).find((b) => b.metadata.name === "gameserver-0");
        if (bd?.status?.state !== "Disabled") return undefined;
        const ids = bd.status.portBindings!.map((b) => b.listenerId);
        const ls = cloud.loadBalancer(docLb)!.listeners.filter((l) => ids.includes(l.listenerId));
        return ls.length === 3 && ls.every((l) => l.targets.length === 0) || undefined;
      });
    });

    await t.step(
      "two ISP lines × 300 TCPUDP Pods: Uniform within 1 of even, InOrder fills the first",
      async () => {
        const ns = "isp";
        await createNamespace(admin, ns);
        await applyManifests(
          admin,
          `apiVersion: networking.cloud.tencent.com/v1alpha1
kind: CLBPortPool
metadata:
  name: pool-ctcc
spec:
  startPort: 30000
  lbPolicy: Uniform
  listenerQuota: 250
  exsistedLoadBalancerIDs: [${ctcc.join(", ")}]
---
apiVersion: networking.cloud.tencent.com/v1alpha1
kind: CLBPortPool
metadata:
  name: pool-cmcc
spec:
  startPort: 30000
  lbPolicy: InOrder
  listenerQuota: 250
  exsistedLoadBalancerIDs: [${cmcc.join(", ")}]
`,
        );
        await admin.request("POST", `/apis/apps/v1/namespaces/${ns}/statefulsets`, {
          body: portMappedStatefulSet("isp", ns, 300, "7000 TCPUDP pool-ctcc,pool-cmcc"),
        });
        let killed = false;
        await eventually("300 Pods with one address per line", async () => {
          const pods = await listPods(admin, ns);
          const ready = pods.filter((p) =>
            p.metadata.annotations?.[PORT_MAPPING_STATUS_ANNOTATION] === "Ready"
          );
          if (!killed && ready.length >= 100) {
            // In the middle of the burst: the next gamenet must find what this one made.
            killed = true;
            await gamenet.kill("SIGKILL");
            gamenet = await startClbGamenet(cp, cloud);
          }
          if (pods.length !== 300) return undefined;
          return checkResults(cloud, pods, [...ctcc, ...cmcc], () => 4) || undefined;
        }, 240_000).catch(async (err) => {
          const states: Record<string, number> = {};
          for (const b of await bindings(admin, ns)) {
            const k = `${b.status?.state} ${b.status?.message?.slice(0, 160) ?? ""}`;
            states[k] = (states[k] ?? 0) + 1;
          }
          console.error(JSON.stringify(cloud.stats()));
          console.error(`bindings: ${JSON.stringify(states)}\n${await gamenet.logTail(80)}`);
          throw err;
        });
        const held = (lb: string) => cloud.loadBalancer(lb)!.listeners.length;
        const uniform = ctcc.map(held);
        assert.equal(uniform.reduce((a, b) => a + b), 600);
        // Two listeners per Pod (TCP and UDP, one number): within one Pod of even.
        assert.ok(Math.max(...uniform) - Math.min(...uniform) <= 2, `Uniform: ${uniform}`);
        const inOrder = cmcc.map(held);
        assert.deepEqual(inOrder, [250, 250, 100], `InOrder: ${inOrder}`);
        for (const pod of await listPods(admin, ns)) {
          const results = JSON.parse(pod.metadata.annotations![PORT_MAPPING_RESULT_ANNOTATION]);
          assert.deepEqual(
            results.map((r: MappingResult) => r.pool).sort(),
            ["pool-cmcc", "pool-cmcc", "pool-ctcc", "pool-ctcc"],
          );
        }
      },
    );

    await t.step("a pool that does not exist, then does", async () => {
      const ns = "tke-docs";
      await admin.request("POST", `/api/v1/namespaces/${ns}/pods`, {
        body: {
          metadata: {
            name: "late",
            annotations: {
              [ENABLE_PORT_MAPPING_ANNOTATION]: "true",
              "networking.cloud.tencent.com/clb-port-mapping": "9000 UDP pool-late",
            },
          },
          spec: { containers: [{ name: "gameserver", image: "your-gameserver-image" }] },
        },
      });
      await eventually("PortPoolNotFound on the Pod", async () => {
        const events = await eventsFor(admin, ns, "late");
        const bd = (await bindings(admin, ns)).find((b) => b.metadata.name === "late");
        return bd?.status?.state === "PortPoolNotFound" &&
            events.some((e) => e.reason === "PortPoolNotFound" && /pool-late/.test(e.message)) ||
          undefined;
      });
      await applyManifests(
        admin,
        `apiVersion: networking.cloud.tencent.com/v1alpha1
kind: CLBPortPool
metadata:
  name: pool-late
spec:
  startPort: 30000
  exsistedLoadBalancerIDs: [lb-late0001]
`,
      );
      await eventually("late to be Bound", async () => {
        const bd = (await bindings(admin, ns)).find((b) => b.metadata.name === "late");
        return bd?.status?.state === "Bound" || undefined;
      });
      // A CLB serves one pool: a second pool naming it is refused, saying which has it.
      await applyManifests(
        admin,
        `apiVersion: networking.cloud.tencent.com/v1alpha1
kind: CLBPortPool
metadata:
  name: pool-twin
spec:
  startPort: 30000
  exsistedLoadBalancerIDs: [lb-late0001]
`,
      );
      await eventually("pool-twin refused", async () => {
        const p = { status: await poolStatus(admin, "pool-twin") };
        return p.status?.state === "Pending" &&
            /lb-late0001 already serves CLBPortPool pool-late/.test(p.status.message ?? "") ||
          undefined;
      });
      assert.equal((await poolStatus(admin, "pool-late"))?.state, "Active");
    });

    await t.step("the Pods go: every listener goes, every binding goes", async () => {
      for (const ns of ["tke-docs", "isp"]) {
        await admin.request("DELETE", `/api/v1/namespaces/${ns}`);
      }
      await eventually("no listener left", () => {
        const left = cloud.loadBalancers().reduce((n, lb) => n + lb.listeners.length, 0);
        return left === 0 || undefined;
      }, 120_000);
      await eventually("no binding left", async () => {
        const list = await admin.request<{ items: unknown[] }>("GET", `${GROUP}/clbpodbindings`);
        return list.items.length === 0 || undefined;
      }, 60_000);
    });
  } finally {
    await gamenet.kill("SIGTERM");
  }
});
