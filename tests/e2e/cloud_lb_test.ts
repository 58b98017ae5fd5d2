/**
 * The load-balancer types through a cloud's CCM (`AlibabaCloud-SLB`,
 * `-NLB`, `-Multi-NLBs`, `Volcengine-CLB`) end to end: gamenet as a
 * process with the shipped RBAC, a fake CCM (`fake_ccm.ts`) that makes the
 * "listeners" and writes the addresses, every port checked from the
 * Services the API server holds.
 */

import assert from "node:assert/strict";
import { ControlPlane } from "../controlplane/control_plane.ts";
import { KubeletStandIn } from "../controlplane/kubelet_standin.ts";
import { KubeApiError, type KubeClient } from "../../controller/kube_client.ts";
import {
  NETWORK_CONF_ANNOTATION,
  NETWORK_DISABLED_LABEL,
  NETWORK_TYPE_ANNOTATION,
  type Pod,
} from "../../providers/types.ts";
import { MANAGED_BY_LABEL, POD_ANNOTATION } from "../../providers/owned_objects.ts";
import { LB_ANNOTATION } from "../../providers/lb_service.ts";
import { GamenetProcess } from "./gamenet_process.ts";
import { createNamespace, eventsFor, eventually, listPods, networkStatus } from "./helpers.ts";
import { workloadPath } from "./workloads.ts";
import { FakeCcm } from "./fake_ccm.ts";
import { testRandom } from "../test_seed.ts";

const NS = "cloud-lb-e2e";
const ARGS = ["--lb-reuse-delay=1s", "--lb-address-timeout=8s"];

interface Service {
  metadata: {
    name: string;
    uid: string;
    annotations: Record<string, string>;
    ownerReferences?: { kind: string }[];
  };
  spec: {
    type: string;
    ports: { name: string; port: number; targetPort: number; protocol: string }[];
  };
}

async function services(admin: KubeClient): Promise<Service[]> {
  return (await admin.request<{ items: Service[] }>("GET", `/api/v1/namespaces/${NS}/services`, {
    query: { labelSelector: `${MANAGED_BY_LABEL}=gamenet` },
  })).items;
}

/** Every (LB, port, protocol) held by one Service only. */
function assertNoPortTwice(svcs: Service[]): number {
  const seen = new Map<string, string>();
  for (const s of svcs) {
    if (s.spec.type !== "LoadBalancer") continue;
    for (const p of s.spec.ports) {
      const key = `${s.metadata.annotations[LB_ANNOTATION]} ${p.port}/${p.protocol}`;
      assert.equal(
        seen.get(key),
        undefined,
        `${key} held by ${seen.get(key)} and ${s.metadata.name}`,
      );
      seen.set(key, s.metadata.name);
    }
  }
  return seen.size;
}

async function createSet(
  admin: KubeClient,
  name: string,
  replicas: number,
  type: string,
  conf: [string, string][],
  ports: { containerPort: number; protocol: string }[] = [],
): Promise<void> {
  await admin.request("POST", workloadPath(NS, "StatefulSet"), {
    body: {
      metadata: { name },
      spec: {
        replicas,
        serviceName: name,
        podManagementPolicy: "Parallel",
        selector: { matchLabels: { app: name } },
        template: {
          metadata: {
            labels: { app: name },
            annotations: {
              [NETWORK_TYPE_ANNOTATION]: type,
              [NETWORK_CONF_ANNOTATION]: JSON.stringify(
                conf.map(([n, value]) => ({ name: n, value })),
              ),
            },
          },
          spec: {
            terminationGracePeriodSeconds: 0,
            containers: [{ name: "gs", image: "example.invalid/gs:1", ports }],
          },
        },
      },
    },
  });
}

async function scale(admin: KubeClient, name: string, replicas: number): Promise<void> {
  await admin.request("PATCH", `${workloadPath(NS, "StatefulSet")}/${name}/scale`, {
    body: { spec: { replicas } },
    contentType: "application/merge-patch+json",
  });
}

async function readyPods(admin: KubeClient, app: string, count: number, timeoutMs = 240_000) {
  return await eventually(
    `${count} ${app} Pods Ready`,
    async () => {
      const pods = (await listPods(admin, NS, `app=${app}`)).filter((p) =>
        !p.metadata.deletionTimestamp
      );
      const ready = pods.filter((p) => networkStatus(p)?.currentNetworkState === "Ready");
      if (ready.length === count && pods.length === count) return pods;
      throw new Error(`${ready.length} of ${pods.length} Ready`);
    },
    timeoutMs,
    1_000,
  );
}

Deno.test("cloud load balancers through the CCM: SLB, NLB, Multi-NLBs, Volcengine-CLB", async (t) => {
  await using cp = await ControlPlane.start();
  const admin = cp.client("admin");
  await using kubelet = new KubeletStandIn(admin, { concurrency: 16 });
  await kubelet.addNodes(4);
  kubelet.start();
  await using _ccm = (() => {
    const ccm = new FakeCcm(admin, {
      "lb-slb-a": { ip: "203.0.113.10" },
      "lb-slb-b": { ip: "203.0.113.11" },
      "nlb-a": { hostname: "nlb-a.cn-hangzhou.nlb.aliyuncs.com" },
      "nlb-dx": { hostname: "nlb-dx.cn-hangzhou.nlb.aliyuncs.com" },
      "nlb-lt": { hostname: "nlb-lt.cn-hangzhou.nlb.aliyuncs.com" },
      "clb-volc": { ip: "198.51.100.20" },
    });
    ccm.start();
    return ccm;
  })();
  await createNamespace(admin, NS);
  let gamenet = await GamenetProcess.start(cp, { args: ARGS });
  try {
    await gamenet.waitReady();

    await t.step(
      "SLB: 400 Pods over 2 SLBs of 200 ports, then 10 more wait for ports",
      async () => {
        // OpenKruiseGame's SLB example conf, as a StatefulSet's Pod template.
        await createSet(admin, "slb", 400, "AlibabaCloud-SLB", [
          ["SlbIds", "lb-slb-a,lb-slb-b"],
          ["PortProtocols", "80"],
          ["Fixed", "false"],
        ]);
        const pods = await readyPods(admin, "slb", 400);
        const svcs = await services(admin);
        assert.equal(assertNoPortTwice(svcs), 400);
        for (const pod of pods.slice(0, 20)) {
          const svc = svcs.find((s) => s.metadata.name === pod.metadata.name)!;
          const lb =
            svc.metadata.annotations["service.beta.kubernetes.io/alibaba-cloud-loadbalancer-id"];
          assert.equal(
            svc.metadata.annotations[
              "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-force-override-listeners"
            ],
            "true",
          );
          const port = svc.spec.ports[0];
          assert.deepEqual([port.name, port.targetPort, port.protocol], ["80-tcp", 80, "TCP"]);
          assert.ok(
            port.port >= 500 && port.port <= 700 && port.port !== 593,
            `${port.port} in range`,
          );
          assert.deepEqual(networkStatus(pod)!.externalAddresses, [{
            ip: lb === "lb-slb-a" ? "203.0.113.10" : "203.0.113.11",
            ports: [{ name: "80", port: port.port, protocol: "TCP" }],
          }]);
          assert.deepEqual(networkStatus(pod)!.internalAddresses, [{
            ip: pod.status!.podIP!,
            ports: [{ name: "80", port: 80, protocol: "TCP" }],
          }]);
        }
        // 10 more game servers: no SLB has a port left.
        await createSet(admin, "more", 10, "AlibabaCloud-SLB", [
          ["SlbIds", "lb-slb-a,lb-slb-b"],
          ["PortProtocols", "80"],
        ]);
        const waiting = await eventually("10 NotReady with an Event", async () => {
          const pods = await listPods(admin, NS, "app=more");
          const notReady = pods.filter((p) => networkStatus(p)?.currentNetworkState === "NotReady");
          return notReady.length === 10 ? notReady : undefined;
        }, 120_000);
        const events = await eventually("the Event", async () => {
          const e = await eventsFor(admin, NS, waiting[0].metadata.name!);
          return e.find((x) => x.reason === "LoadBalancerPortsExhausted");
        });
        assert.match(events.message, /no free port on lb-slb-a, lb-slb-b \(500-700\)/);
        // 10 game servers end: the waiting ones get their ports.
        await scale(admin, "slb", 390);
        await readyPods(admin, "more", 10, 120_000);
        await readyPods(admin, "slb", 390, 120_000);
        assert.equal(assertNoPortTwice(await services(admin)), 400);
        await scale(admin, "slb", 0);
        await scale(admin, "more", 0);
        await eventually(
          "the SLB Services gone",
          async () =>
            (await services(admin)).filter((s) => /^(slb|more)-/.test(s.metadata.name)).length ===
              0 || undefined,
          120_000,
          1_000,
        );
      },
    );

    await t.step(
      "NLB: the NLB's DNS name is the endPoint; health checks become annotations",
      async () => {
        await createSet(admin, "nlb", 3, "AlibabaCloud-NLB", [
          ["NlbIds", "nlb-a"],
          ["PortProtocols", "7777/TCPUDP"],
          ["LBHealthCheckType", "http"],
          ["LBHealthCheckUri", "/healthz"],
          ["LBHealthCheckDomain", "game.example.com"],
          ["LBHealthCheckMethod", "GET"],
          ["LBHealthCheckConnectPort", "7777"],
        ]);
        const pods = await readyPods(admin, "nlb", 3);
        const svc = (await services(admin)).find((s) => s.metadata.name === "nlb-0")!;
        const a = svc.metadata.annotations;
        const P = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer";
        assert.equal(a[`${P}-health-check-uri`], "/healthz");
        assert.equal(a[`${P}-health-check-method`], "get");
        assert.equal(a[`${P}-health-check-connect-port`], "7777");
        const [tcp, udp] = svc.spec.ports;
        assert.equal(tcp.port, udp.port, "TCPUDP: one number");
        const status = networkStatus(pods.find((p) => p.metadata.name === "nlb-0")!)!;
        assert.deepEqual(status.externalAddresses, [
          {
            ip: "",
            endPoint: "nlb-a.cn-hangzhou.nlb.aliyuncs.com",
            ports: [{ name: "7777", port: tcp.port, protocol: "TCP" }],
          },
          {
            ip: "",
            endPoint: "nlb-a.cn-hangzhou.nlb.aliyuncs.com",
            ports: [{ name: "7777", port: tcp.port, protocol: "UDP" }],
          },
        ]);
      },
    );

    await t.step("Multi-NLBs: one port number on both lines, an address per line", async () => {
      await createSet(admin, "multi", 3, "AlibabaCloud-Multi-NLBs", [
        ["NlbIdNames", "nlb-dx/DianXin,nlb-lt/LianTong"],
        ["PortProtocols", "8888/UDP"],
      ]);
      const pods = await readyPods(admin, "multi", 3);
      const svcs = await services(admin);
      for (const pod of pods) {
        const name = pod.metadata.name!;
        const dx = svcs.find((s) => s.metadata.name === `${name}-dianxin`)!;
        const lt = svcs.find((s) => s.metadata.name === `${name}-liantong`)!;
        assert.equal(dx.metadata.annotations[POD_ANNOTATION], name);
        assert.equal(
          dx.spec.ports[0].port,
          lt.spec.ports[0].port,
          `${name}: the same port on both lines`,
        );
        assert.deepEqual(networkStatus(pod)!.externalAddresses, [
          {
            ip: "",
            endPoint: "nlb-dx.cn-hangzhou.nlb.aliyuncs.com/DianXin",
            ports: [{ name: "8888-udp", port: dx.spec.ports[0].port, protocol: "UDP" }],
          },
          {
            ip: "",
            endPoint: "nlb-lt.cn-hangzhou.nlb.aliyuncs.com/LianTong",
            ports: [{ name: "8888-udp", port: dx.spec.ports[0].port, protocol: "UDP" }],
          },
        ]);
      }
    });

    await t.step("Volcengine-CLB: the CLB's IP and its port", async () => {
      await createSet(admin, "volc", 2, "Volcengine-CLB", [
        ["ClbIds", "clb-volc"],
        ["PortProtocols", "80"],
        ["Annotations", "service.beta.kubernetes.io/volcengine-loadbalancer-bandwidth:10"],
      ]);
      const pods = await readyPods(admin, "volc", 2);
      const svc = (await services(admin)).find((s) => s.metadata.name === "volc-0")!;
      assert.equal(
        svc.metadata.annotations["service.beta.kubernetes.io/volcengine-loadbalancer-id"],
        "clb-volc",
      );
      assert.equal(
        svc.metadata.annotations["service.beta.kubernetes.io/volcengine-loadbalancer-bandwidth"],
        "10",
      );
      const port = svc.spec.ports[0].port;
      assert.ok(port >= 550 && port <= 599);
      assert.deepEqual(
        networkStatus(pods.find((p) => p.metadata.name === "volc-0")!)!.externalAddresses,
        [{ ip: "198.51.100.20", ports: [{ name: "80", port, protocol: "TCP" }] }],
      );
    });

    await t.step("network-disabled: the Service is a ClusterIP one, its port kept", async () => {
      const before = (await services(admin)).find((s) => s.metadata.name === "volc-1")!;
      const patch = (value: string | null) =>
        admin.request("PATCH", `/api/v1/namespaces/${NS}/pods/volc-1`, {
          body: { metadata: { labels: { [NETWORK_DISABLED_LABEL]: value } } },
          contentType: "application/merge-patch+json",
        });
      await patch("true");
      await eventually("ClusterIP and NotReady", async () => {
        const s = (await services(admin)).find((s) => s.metadata.name === "volc-1")!;
        const p = await admin.request<Pod>("GET", `/api/v1/namespaces/${NS}/pods/volc-1`);
        return s.spec.type === "ClusterIP" && networkStatus(p)?.currentNetworkState === "NotReady"
          ? true
          : undefined;
      });
      await patch(null);
      const after = await eventually("LoadBalancer and Ready again", async () => {
        const s = (await services(admin)).find((s) => s.metadata.name === "volc-1")!;
        const p = await admin.request<Pod>("GET", `/api/v1/namespaces/${NS}/pods/volc-1`);
        return s.spec.type === "LoadBalancer" && networkStatus(p)?.currentNetworkState === "Ready"
          ? s
          : undefined;
      });
      assert.equal(after.spec.ports[0].port, before.spec.ports[0].port, "the same port");
    });

    await t.step("a port another Service holds on the LB is kept out of its pool", async () => {
      // Made by hand, not by gamenet: the CCM gives it port 552 of clb-volc.
      await admin.request("POST", `/api/v1/namespaces/${NS}/services`, {
        body: {
          metadata: {
            name: "hand-made",
            annotations: { "service.beta.kubernetes.io/volcengine-loadbalancer-id": "clb-volc" },
          },
          spec: {
            type: "LoadBalancer",
            selector: { app: "nothing" },
            ports: [{ port: 552, targetPort: 80, protocol: "TCP" }],
          },
        },
      });
      // gamenet looks at others' Services when it starts leading (and every sweep).
      const webhookPort = gamenet.webhookPort;
      await gamenet.kill("SIGKILL");
      gamenet = await GamenetProcess.start(cp, { args: ARGS, webhookPort });
      await gamenet.waitReady();
      await scale(admin, "volc", 3);
      const pods = await readyPods(admin, "volc", 3);
      const ports = (await services(admin)).filter((s) => s.metadata.name.startsWith("volc-"))
        .map((s) => s.spec.ports[0].port).sort();
      assert.deepEqual(ports, [550, 551, 553], "552 skipped");
      assert.equal(
        networkStatus(pods.find((p) => p.metadata.name === "volc-2")!)!.externalAddresses[0]
          .ports[0].port,
        553,
      );
      const rows = (await (await gamenet.debugGet(`/allocations?namespace=${NS}`)).json())
        .allocations as {
          type: string;
          objects?: string[];
          ports: { port: number }[];
        }[];
      const row = rows.find((r) => r.objects?.includes("Service/hand-made"));
      assert.equal(row?.type, "Unmanaged");
      assert.deepEqual(row?.ports.map((p) => p.port), [552]);
    });

    await t.step(
      "Fixed keeps the Service and port for the next Pod; a conf change keeps the port",
      async () => {
        await createSet(admin, "fixed", 1, "AlibabaCloud-SLB", [
          ["SlbIds", "lb-slb-a"],
          ["PortProtocols", "80"],
          ["Fixed", "true"],
        ]);
        const [first] = await readyPods(admin, "fixed", 1);
        const svc = (await services(admin)).find((s) => s.metadata.name === "fixed-0")!;
        assert.equal(svc.metadata.ownerReferences?.[0].kind, "StatefulSet");
        await admin.request("DELETE", `/api/v1/namespaces/${NS}/pods/fixed-0`, {
          query: { gracePeriodSeconds: 0 },
        });
        const second = await eventually("a new fixed-0 Ready", async () => {
          const p = await admin.request<Pod>("GET", `/api/v1/namespaces/${NS}/pods/fixed-0`)
            .catch(() => undefined);
          return p && p.metadata.uid !== first.metadata.uid &&
              networkStatus(p)?.currentNetworkState === "Ready"
            ? p
            : undefined;
        });
        const again = (await services(admin)).find((s) => s.metadata.name === "fixed-0")!;
        assert.equal(again.metadata.uid, svc.metadata.uid, "the same Service");
        assert.equal(
          networkStatus(second)!.externalAddresses[0].ports[0].port,
          svc.spec.ports[0].port,
        );
        // A health check added to the running Pod's conf: the Service patched, the port kept.
        await admin.request("PATCH", `/api/v1/namespaces/${NS}/pods/fixed-0`, {
          body: {
            metadata: {
              annotations: {
                [NETWORK_CONF_ANNOTATION]: JSON.stringify([
                  { name: "SlbIds", value: "lb-slb-a" },
                  { name: "PortProtocols", value: "80" },
                  { name: "Fixed", value: "true" },
                  { name: "LBHealthCheckInterval", value: "20" },
                ]),
              },
            },
          },
          contentType: "application/merge-patch+json",
        });
        const patched = await eventually("the health check on the Service", async () => {
          const s = (await services(admin)).find((s) => s.metadata.name === "fixed-0")!;
          return s.metadata.annotations[
              "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-health-check-interval"
            ] === "20"
            ? s
            : undefined;
        });
        assert.equal(patched.metadata.uid, svc.metadata.uid);
        assert.equal(patched.spec.ports[0].port, svc.spec.ports[0].port, "the port kept");
      },
    );

    await t.step(
      "SIGKILL 3 times during churn of 200 Pods: no port twice, no Service leaked",
      async () => {
        await createSet(admin, "churn", 200, "AlibabaCloud-NLB", [
          ["NlbIds", "nlb-a"],
          ["PortProtocols", "7000/UDP"],
        ]);
        await readyPods(admin, "churn", 200);
        const pick = testRandom("cloud-lb churn");
        for (let round = 0; round < 3; round++) {
          const pods = await listPods(admin, NS, "app=churn");
          for (let i = 0; i < 5; i++) {
            const victim = pods.splice(Math.floor(pick() * pods.length), 1)[0];
            await admin.request("DELETE", `/api/v1/namespaces/${NS}/pods/${victim.metadata.name}`, {
              query: { gracePeriodSeconds: 0 },
            }).catch(() => {});
          }
          await scale(admin, "churn", 180 + Math.floor(pick() * 20));
          await new Promise((r) => setTimeout(r, pick() * 1_500));
          const webhookPort = gamenet.webhookPort;
          await gamenet.kill("SIGKILL");
          gamenet = await GamenetProcess.start(cp, { args: ARGS, webhookPort });
          await gamenet.waitReady();
        }
        await scale(admin, "churn", 190);
        await readyPods(admin, "churn", 190);
        await eventually(
          "exactly the Pods' Services, no port twice",
          async () => {
            const pods = new Set(
              (await listPods(admin, NS, "app=churn")).map((p) => p.metadata.name),
            );
            const svcs = (await services(admin)).filter((s) =>
              s.metadata.name.startsWith("churn-")
            );
            const leaked = svcs.filter((s) => !pods.has(s.metadata.name)).map((s) =>
              s.metadata.name
            );
            if (leaked.length > 0 || svcs.length !== 190) {
              throw new Error(`leaked: ${leaked.join(", ")}; ${svcs.length} Services`);
            }
            assertNoPortTwice(await services(admin));
            return true;
          },
          60_000,
          1_000,
        );
      },
    );

    await t.step(
      "bad input: an unknown LB, malformed health checks, an undeclared port",
      async () => {
        await createSet(admin, "nolb", 1, "AlibabaCloud-SLB", [["SlbIds", "lb-nowhere"], [
          "PortProtocols",
          "80",
        ]]);
        const events = await eventually("NotReady, with an Event naming the Service", async () => {
          const p = await admin.request<Pod>("GET", `/api/v1/namespaces/${NS}/pods/nolb-0`).catch(
            () => undefined,
          );
          if (
            networkStatus(p ?? { metadata: {} } as Pod)?.currentNetworkState !== "NotReady"
          ) return undefined;
          const e = await eventsFor(admin, NS, "nolb-0");
          return e.some((x) => x.reason === "LoadBalancerAddressMissing") ? e : undefined;
        }, 60_000);
        assert.match(
          events.find((e) => e.reason === "LoadBalancerAddressMissing")!.message,
          /Service cloud-lb-e2e\/nolb-0 no address after 8 s; it says: SyncLoadBalancerFailed: .*lb-nowhere does not exist/,
        );
        const serviceEvents = await eventsFor(admin, NS, "nolb-0");
        assert.ok(serviceEvents.some((e) => /lb-nowhere does not exist/.test(e.message)));
        const refused = async (conf: [string, string][], ports: unknown[], pattern: RegExp) => {
          const err = await admin.request("POST", `/api/v1/namespaces/${NS}/pods`, {
            body: {
              metadata: {
                name: "bad",
                annotations: {
                  [NETWORK_TYPE_ANNOTATION]: "AlibabaCloud-SLB",
                  [NETWORK_CONF_ANNOTATION]: JSON.stringify(
                    conf.map(([name, value]) => ({ name, value })),
                  ),
                },
              },
              spec: { containers: [{ name: "gs", image: "example.invalid/gs:1", ports }] },
            },
          }).then(() => undefined, (e) => e);
          assert.ok(err instanceof KubeApiError, `admitted: ${JSON.stringify(conf)}`);
          assert.match(err.message, pattern);
        };
        const base: [string, string][] = [["SlbIds", "lb-slb-a"], ["PortProtocols", "80"]];
        await refused(
          [...base, ["LBHealthCheckInterval", "99"]],
          [],
          /LBHealthCheckInterval "99": a whole number from 1 to 50/,
        );
        await refused([...base, ["LBHealthyThreshold", "1"]], [], /from 2 to 10/);
        await refused([...base, ["LBHealthCheckUri", "healthz"]], [], /starting with "\/"/);
        await refused(
          base,
          [{ containerPort: 81, protocol: "TCP" }],
          /80\/TCP, which no container/,
        );
      },
    );
  } finally {
    await gamenet.kill("SIGTERM");
  }
});
