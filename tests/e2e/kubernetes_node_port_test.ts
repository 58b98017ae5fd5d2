/**
 * Kubernetes-NodePort end to end: gamenet (the process, the shipped RBAC)
 * makes one NodePort Service per game server, for StatefulSet and
 * Deployment Pods; every status is checked against what the API server
 * assigned (read back from the Services and Nodes, not from gamenet); Pods
 * scaled away take their Services with them, across SIGKILLs during churn;
 * `Fixed` keeps a Pod's node ports for its successor until the workload is
 * deleted; `network-disabled` empties the Service's endpoints.
 */

import assert from "node:assert/strict";
import { ControlPlane } from "../controlplane/control_plane.ts";
import { KubeletStandIn } from "../controlplane/kubelet_standin.ts";
import { KubeApiError, type KubeClient } from "../../controller/kube_client.ts";
import {
  NETWORK_CONF_ANNOTATION,
  NETWORK_DISABLED_LABEL,
  NETWORK_TYPE_ANNOTATION,
  type NetworkStatus,
  type Pod,
} from "../../providers/types.ts";
import { GAME_SERVER_LABEL, MANAGED_BY_LABEL } from "../../providers/owned_objects.ts";
import type { AllocationView } from "../../providers/view.ts";
import { GamenetProcess } from "./gamenet_process.ts";
import { createNamespace, eventsFor, eventually, listPods, networkStatus } from "./helpers.ts";
import {
  createWorkload,
  type GameServerWorkload,
  scaleWorkload,
  workloadPath,
} from "./workloads.ts";
import { testRandom } from "../test_seed.ts";

const NS = "nodeport-e2e";

interface ServicePort {
  name: string;
  port: number;
  targetPort: number;
  protocol: "TCP" | "UDP";
  nodePort: number;
}

interface Service {
  metadata: {
    name: string;
    uid: string;
    labels?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; uid: string }[];
  };
  spec: { type: string; selector: Record<string, string>; ports: ServicePort[] };
}

const STATEFUL: GameServerWorkload = {
  kind: "StatefulSet",
  name: "np-sts",
  replicas: 50,
  networkType: "Kubernetes-NodePort",
  conf: { PortProtocols: "7777/UDP,7778/TCPUDP" },
  ports: [
    { containerPort: 7777, protocol: "UDP" },
    { containerPort: 7778, protocol: "TCP" },
    { containerPort: 7778, protocol: "UDP" },
  ],
};

// OpenKruiseGame's own e2e conf, and a Pod that declares no port (a Service may target any).
const DEPLOYMENT: GameServerWorkload = {
  kind: "Deployment",
  name: "np-dep",
  replicas: 50,
  networkType: "Kubernetes-NodePort",
  conf: { PortProtocols: "80,8080/TCP,9090/UDP" },
  ports: [],
};

async function services(admin: KubeClient): Promise<Service[]> {
  const list = await admin.request<{ items: Service[] }>(
    "GET",
    `/api/v1/namespaces/${NS}/services`,
    { query: { labelSelector: `${MANAGED_BY_LABEL}=gamenet` } },
  );
  return list.items;
}

async function nodeAddress(admin: KubeClient, name: string): Promise<string> {
  const node = await admin.request<{ status: { addresses: { type: string; address: string }[] } }>(
    "GET",
    `/api/v1/nodes/${name}`,
  );
  const of = (t: string) => node.status.addresses.find((a) => a.type === t)?.address;
  return of("ExternalIP") ?? of("InternalIP")!;
}

/** The status OpenKruiseGame's plugin writes for `pod` given its Service and node, computed here. */
function expectedStatus(pod: Pod, svc: Service, nodeIP: string): Partial<NetworkStatus> {
  return {
    internalAddresses: svc.spec.ports.map((p) => ({
      ip: pod.status!.podIP!,
      ports: [{ name: String(p.port), port: p.port, protocol: p.protocol }],
    })),
    externalAddresses: svc.spec.ports.map((p) => ({
      ip: nodeIP,
      ports: [{ name: String(p.port), port: p.nodePort, protocol: p.protocol }],
    })),
  };
}

/**
 * `expected` Pods (of `label`) are Ready, each has its Service, owned by
 * `owner` (the Pod, or for Fixed its workload's kind), and its status is
 * what the API server says.
 */
async function checkAll(admin: KubeClient, expected: number, label = "", owner = "Pod") {
  const pods = await eventually(
    `${expected} NodePort Pods Ready`,
    async () => {
      const pods = (await listPods(admin, NS, label)).filter((p) => !p.metadata.deletionTimestamp);
      const ready = pods.filter((p) => networkStatus(p)?.currentNetworkState === "Ready");
      if (pods.length === expected && ready.length === expected) return pods;
      throw new Error(`${ready.length} of ${pods.length} Ready`);
    },
    240_000,
    1_000,
  );
  const svcs = new Map((await services(admin)).map((s) => [s.metadata.name, s]));
  const nodeIPs = new Map<string, string>();
  for (const pod of pods) {
    const name = pod.metadata.name!;
    const svc = svcs.get(name);
    assert.ok(svc, `${name} has its Service`);
    assert.equal(svc.spec.type, "NodePort");
    assert.deepEqual(svc.spec.selector, {
      [GAME_SERVER_LABEL]: pod.metadata.labels![GAME_SERVER_LABEL],
    });
    const ownerUid = owner === "Pod"
      ? pod.metadata.uid
      : pod.metadata.ownerReferences?.find((r) => r.kind === owner)?.uid;
    assert.ok(
      svc.metadata.ownerReferences?.some((r) => r.kind === owner && r.uid === ownerUid),
      `${name}'s Service is owned by its ${owner}`,
    );
    const node = pod.spec!.nodeName!;
    if (!nodeIPs.has(node)) nodeIPs.set(node, await nodeAddress(admin, node));
    const status = networkStatus(pod)!;
    const want = expectedStatus(pod, svc, nodeIPs.get(node)!);
    assert.deepEqual(status.internalAddresses, want.internalAddresses, name);
    assert.deepEqual(status.externalAddresses, want.externalAddresses, name);
  }
  return { pods, svcs };
}

Deno.test("Kubernetes-NodePort: a Service per game server, read back from the API server", async (t) => {
  await using cp = await ControlPlane.start();
  const admin = cp.client("admin");
  await using kubelet = new KubeletStandIn(admin, { concurrency: 16 });
  await kubelet.addNodes(5);
  kubelet.start();
  await createNamespace(admin, NS);
  let gamenet = await GamenetProcess.start(cp);
  try {
    await gamenet.waitReady();

    await t.step("100 Pods (StatefulSet and Deployment) Ready, each with its Service", async () => {
      await createWorkload(admin, NS, STATEFUL);
      await createWorkload(admin, NS, DEPLOYMENT);
      const { pods, svcs } = await checkAll(admin, 100);
      assert.equal(svcs.size, 100, "one Service per Pod, no more");
      const sts = svcs.get("np-sts-0")!;
      const [udp, tcp2, udp2] = sts.spec.ports;
      assert.deepEqual(
        [udp.port, udp.protocol, tcp2.port, tcp2.protocol, udp2.port, udp2.protocol],
        [7777, "UDP", 7778, "TCP", 7778, "UDP"],
      );
      assert.equal(tcp2.nodePort, udp2.nodePort, "TCPUDP: one node port for both");
      const nodePorts = [...svcs.values()].flatMap((s) =>
        s.spec.ports.filter((p) => !(p.port === 7778 && p.protocol === "UDP")).map((p) =>
          p.nodePort
        )
      );
      assert.equal(new Set(nodePorts).size, nodePorts.length, "no node port twice");
      const dep = pods.find((p) => p.metadata.labels?.app === "np-dep")!;
      assert.deepEqual(
        networkStatus(dep)!.externalAddresses.map((a) => a.ports[0].name),
        ["80", "8080", "9090"],
      );
      const res = await gamenet.debugGet(`/allocations?namespace=${NS}`);
      const rows = (await res.json()).allocations as AllocationView[];
      const row = rows.find((r) => r.pod === "np-sts-0")!;
      assert.equal(row.type, "Kubernetes-NodePort");
      assert.deepEqual(row.objects, ["Service/np-sts-0"]);
      assert.deepEqual(
        row.ports.map((p) => p.port).sort(),
        sts.spec.ports.map((p) => p.nodePort).sort(),
      );
    });

    await t.step("scaled to 20: the 80 Services of the Pods gone are gone", async () => {
      await scaleWorkload(admin, NS, "StatefulSet", "np-sts", 10);
      await scaleWorkload(admin, NS, "Deployment", "np-dep", 10);
      await checkAll(admin, 20);
      await eventually("20 Services", async () => {
        const n = (await services(admin)).length;
        if (n !== 20) throw new Error(`${n} Services`);
        return true;
      });
    });

    await t.step("SIGKILL 3 times during churn: no Service leaked, none missing", async () => {
      const pick = testRandom("node-port churn");
      for (let round = 0; round < 3; round++) {
        const pods = await listPods(admin, NS);
        for (let i = 0; i < 4; i++) {
          const victim = pods.splice(Math.floor(pick() * pods.length), 1)[0];
          await admin.request("DELETE", `/api/v1/namespaces/${NS}/pods/${victim.metadata.name}`, {
            query: { gracePeriodSeconds: 0 },
          }).catch(() => {});
        }
        await scaleWorkload(admin, NS, "StatefulSet", "np-sts", 10 + Math.floor(pick() * 6));
        await new Promise((r) => setTimeout(r, pick() * 1_500));
        const webhookPort = gamenet.webhookPort;
        await gamenet.kill("SIGKILL");
        gamenet = await GamenetProcess.start(cp, { webhookPort });
        await gamenet.waitReady();
      }
      await scaleWorkload(admin, NS, "StatefulSet", "np-sts", 10);
      await checkAll(admin, 20);
      await eventually("exactly the Pods' Services", async () => {
        const pods = new Set((await listPods(admin, NS)).map((p) => p.metadata.name));
        const svcs = (await services(admin)).map((s) => s.metadata.name);
        const leaked = svcs.filter((s) => !pods.has(s));
        if (leaked.length > 0 || svcs.length !== pods.size) {
          throw new Error(`leaked ${leaked.join(", ")}; ${svcs.length} for ${pods.size} Pods`);
        }
        return true;
      });
    });

    await t.step("network-disabled: the Service selects nothing, its endpoints empty", async () => {
      const name = "np-sts-1";
      const endpoints = async () => {
        const slices = await admin.request<{ items: { endpoints?: unknown[] }[] }>(
          "GET",
          `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`,
          { query: { labelSelector: `kubernetes.io/service-name=${name}` } },
        );
        return slices.items.reduce((n, s) => n + (s.endpoints?.length ?? 0), 0);
      };
      await eventually(
        "endpoints of an enabled game server",
        async () => (await endpoints()) > 0 || undefined,
      );
      const before = (await services(admin)).find((s) => s.metadata.name === name)!;
      const setDisabled = (value: string | null) =>
        admin.request("PATCH", `/api/v1/namespaces/${NS}/pods/${name}`, {
          body: { metadata: { labels: { [NETWORK_DISABLED_LABEL]: value } } },
          contentType: "application/merge-patch+json",
        });
      await setDisabled("true");
      await eventually("NotReady and no endpoints", async () => {
        const pod = await admin.request<Pod>("GET", `/api/v1/namespaces/${NS}/pods/${name}`);
        const s = networkStatus(pod);
        return s?.currentNetworkState === "NotReady" && s.desiredNetworkState === "NotReady" &&
            (await endpoints()) === 0
          ? true
          : undefined;
      });
      const disabled = (await services(admin)).find((s) => s.metadata.name === name)!;
      assert.deepEqual(
        disabled.spec.ports.map((p) => p.nodePort),
        before.spec.ports.map((p) => p.nodePort),
        "the node ports are kept",
      );
      await setDisabled(null);
      await eventually("Ready with endpoints again", async () => {
        const pod = await admin.request<Pod>("GET", `/api/v1/namespaces/${NS}/pods/${name}`);
        return networkStatus(pod)?.currentNetworkState === "Ready" && (await endpoints()) > 0
          ? true
          : undefined;
      });
    });

    await t.step(
      "a conf change updates the Service in place, keeping the node ports it can",
      async () => {
        const name = "np-sts-2";
        const before = (await services(admin)).find((s) => s.metadata.name === name)!;
        await admin.request("PATCH", `/api/v1/namespaces/${NS}/pods/${name}`, {
          body: {
            metadata: {
              annotations: {
                [NETWORK_CONF_ANNOTATION]: JSON.stringify([
                  { name: "PortProtocols", value: "7777/UDP,7778/TCP" },
                ]),
              },
            },
          },
          contentType: "application/merge-patch+json",
        });
        const after = await eventually("the Service without 7778/UDP", async () => {
          const s = (await services(admin)).find((s) => s.metadata.name === name)!;
          return s.spec.ports.length === 2 ? s : undefined;
        });
        assert.equal(after.metadata.uid, before.metadata.uid, "the same Service");
        const nodePort = (svc: Service, port: number, protocol: string) =>
          svc.spec.ports.find((p) => p.port === port && p.protocol === protocol)?.nodePort;
        assert.equal(nodePort(after, 7777, "UDP"), nodePort(before, 7777, "UDP"));
        assert.equal(nodePort(after, 7778, "TCP"), nodePort(before, 7778, "TCP"));
        await eventually("the status without 7778/UDP", async () => {
          const pod = await admin.request<Pod>("GET", `/api/v1/namespaces/${NS}/pods/${name}`);
          const s = networkStatus(pod);
          return s?.currentNetworkState === "Ready" && s.externalAddresses.length === 2
            ? s
            : undefined;
        });
      },
    );

    await t.step(
      "Fixed: a re-created Pod keeps its node ports until its workload goes",
      async () => {
        await createWorkload(admin, NS, {
          ...STATEFUL,
          name: "np-fixed",
          replicas: 2,
          conf: { PortProtocols: "7777/UDP", Fixed: "true" },
          ports: [{ containerPort: 7777, protocol: "UDP" }],
        });
        await checkAll(admin, 2, "app=np-fixed", "StatefulSet");
        const svcOf = async () =>
          (await services(admin)).find((s) => s.metadata.name === "np-fixed-0");
        const first = await eventually("np-fixed-0's Service with a node port", async () => {
          const s = await svcOf();
          return s?.spec.ports[0].nodePort ? s : undefined;
        });
        assert.equal(first.metadata.ownerReferences?.[0].kind, "StatefulSet");
        const pod0 = await admin.request<Pod>("GET", `/api/v1/namespaces/${NS}/pods/np-fixed-0`);
        await admin.request("DELETE", `/api/v1/namespaces/${NS}/pods/np-fixed-0`, {
          query: { gracePeriodSeconds: 0 },
        });
        const again = await eventually("a new np-fixed-0 Ready", async () => {
          const p = await admin.request<Pod>("GET", `/api/v1/namespaces/${NS}/pods/np-fixed-0`)
            .catch(() => undefined);
          return p && p.metadata.uid !== pod0.metadata.uid &&
              networkStatus(p)?.currentNetworkState === "Ready"
            ? p
            : undefined;
        });
        const second = (await svcOf())!;
        assert.equal(second.metadata.uid, first.metadata.uid, "the same Service");
        assert.equal(second.spec.ports[0].nodePort, first.spec.ports[0].nodePort);
        assert.equal(
          networkStatus(again)!.externalAddresses[0].ports[0].port,
          first.spec.ports[0].nodePort,
        );
        assert.deepEqual(second.spec.selector, {
          [GAME_SERVER_LABEL]: again.metadata.labels![GAME_SERVER_LABEL],
        });
        await admin.request("DELETE", `${workloadPath(NS, "StatefulSet")}/np-fixed`, {
          body: { propagationPolicy: "Background" },
        });
        await eventually("np-fixed's Services gone with the StatefulSet", async () => {
          const left = (await services(admin)).filter((s) =>
            s.metadata.name.startsWith("np-fixed")
          );
          if (left.length > 0) throw new Error(left.map((s) => s.metadata.name).join(", "));
          return true;
        }, 90_000);
      },
    );

    await t.step("bad conf is refused at admission with a message, nothing made", async () => {
      const refused = async (name: string, conf: string, ports: unknown[], pattern: RegExp) => {
        const err = await admin.request("POST", `/api/v1/namespaces/${NS}/pods`, {
          body: {
            metadata: {
              name,
              annotations: {
                [NETWORK_TYPE_ANNOTATION]: "Kubernetes-NodePort",
                [NETWORK_CONF_ANNOTATION]: JSON.stringify([{ name: "PortProtocols", value: conf }]),
              },
            },
            spec: { containers: [{ name: "gs", image: "example.invalid/gs:1", ports }] },
          },
        }).then(() => undefined, (e) => e);
        assert.ok(err instanceof KubeApiError, `${name} was admitted`);
        assert.match(err.message, pattern);
      };
      await refused("bad-proto", "7777/SCTP", [], /protocol must be TCP, UDP or TCPUDP/);
      await refused("bad-port", "70000", [], /70000/);
      await refused(
        "bad-undeclared",
        "7000/UDP",
        [{ containerPort: 7777, protocol: "UDP" }],
        /7000\/UDP, which no container of the Pod declares/,
      );
      await refused("bad-twice", "7777/UDP,7777/TCPUDP", [], /7777\/UDP is asked twice/);
      const left = (await services(admin)).filter((s) => s.metadata.name.startsWith("bad-"));
      assert.deepEqual(left, []);
      // A Service of someone else's already has the game server's name.
      await admin.request("POST", `/api/v1/namespaces/${NS}/services`, {
        body: { metadata: { name: "taken" }, spec: { ports: [{ port: 80 }] } },
      });
      await admin.request("POST", `/api/v1/namespaces/${NS}/pods`, {
        body: {
          metadata: {
            name: "taken",
            annotations: {
              [NETWORK_TYPE_ANNOTATION]: "Kubernetes-NodePort",
              [NETWORK_CONF_ANNOTATION]: JSON.stringify([{ name: "PortProtocols", value: "80" }]),
            },
          },
          spec: { containers: [{ name: "gs", image: "example.invalid/gs:1" }] },
        },
      });
      const taken = await eventually("ObjectNameTaken on the Pod", async () => {
        const e = await eventsFor(admin, NS, "taken");
        return e.find((x) => x.reason === "ObjectNameTaken");
      });
      assert.match(
        taken.message,
        /A Service named nodeport-e2e\/taken exists and is not gamenet's/,
      );
      const pod = await admin.request<Pod>("GET", `/api/v1/namespaces/${NS}/pods/taken`);
      assert.equal(networkStatus(pod)?.currentNetworkState, "NotReady");
      assert.deepEqual(await eventsFor(admin, NS, "bad-proto"), []);
    });
  } finally {
    await gamenet.kill("SIGTERM");
  }
});
