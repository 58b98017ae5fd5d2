/**
 * Kubernetes-HostPort end to end: the gamenet binary (`main.ts`, as the
 * `gamenet` identity with the shipped RBAC) behind the API server's
 * admission chain, the real scheduler placing Pods by their host ports,
 * and every result read back from the API server.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ControlPlane } from "../controlplane/control_plane.ts";
import { KubeletStandIn } from "../controlplane/kubelet_standin.ts";
import { KubeApiError } from "../../controller/kube_client.ts";
import { UNMANAGED_TYPE } from "../../controller/allocations_view.ts";
import {
  NETWORK_CONF_ANNOTATION,
  NETWORK_DISABLED_LABEL,
  NETWORK_TYPE_ANNOTATION,
  type Pod,
} from "../../providers/types.ts";
import { GamenetProcess } from "./gamenet_process.ts";
import { createNamespace, eventsFor, eventually, listPods, networkStatus } from "./helpers.ts";
import {
  allocatedKeys,
  type AllocationRow,
  assertStatusMatchesSpec,
  hostPortKeys,
  withinRange,
} from "./host_port_checks.ts";
import { createWorkload, type GameServerWorkload, scaleWorkload } from "./workloads.ts";

const NS = "hostport-e2e";

const POOLS = `hostPort:
  ranges:
    default: 8000-8999
    game: 9000-9499
    tiny: 9900-9901
    pinned: 9950-9951
`;

const WORKLOADS: GameServerWorkload[] = [
  {
    kind: "StatefulSet",
    name: "tcp",
    replicas: 100,
    networkType: "Kubernetes-HostPort",
    conf: { ContainerPorts: "gs:7777/TCP" },
    ports: [{ containerPort: 7777, protocol: "TCP" }],
  },
  {
    kind: "Deployment",
    name: "mixed",
    replicas: 60,
    networkType: "HostPortNetwork",
    conf: { ContainerPorts: "gs:7777/UDP,7778/TCP" },
    ports: [{ containerPort: 7777, protocol: "UDP" }, { containerPort: 7778, protocol: "TCP" }],
  },
  {
    kind: "StatefulSet",
    name: "both",
    replicas: 60,
    networkType: "Kubernetes-HostPort",
    conf: { ContainerPorts: "gs:7777/TCPUDP" },
    ports: [{ containerPort: 7777, protocol: "TCP" }],
  },
  {
    kind: "StatefulSet",
    name: "pass",
    replicas: 40,
    networkType: "Kubernetes-HostPort",
    conf: { ContainerPorts: "gs:7777/UDP", PortPolicy: "Passthrough" },
    ports: [{ containerPort: 7777, protocol: "UDP" }],
  },
  {
    kind: "Deployment",
    name: "game",
    replicas: 40,
    networkType: "Kubernetes-HostPort",
    conf: { ContainerPorts: "gs:7777/UDP", PortRange: "game" },
    ports: [{ containerPort: 7777, protocol: "UDP" }],
  },
];

function gamePod(name: string, conf: unknown, type = "Kubernetes-HostPort"): Pod {
  return {
    metadata: {
      name,
      labels: { app: "single" },
      annotations: {
        [NETWORK_TYPE_ANNOTATION]: type,
        [NETWORK_CONF_ANNOTATION]: typeof conf === "string" ? conf : JSON.stringify(conf),
      },
    },
    spec: {
      containers: [{ name: "gs", ports: [{ containerPort: 7777, protocol: "UDP" }] }],
    },
  } as Pod;
}

Deno.test("Kubernetes-HostPort: 300 Pods on 6 nodes, bad input, disabled network, no leak", async (t) => {
  await using cp = await ControlPlane.start();
  const admin = cp.client("admin");
  await using kubelet = new KubeletStandIn(admin, { concurrency: 16 });
  await kubelet.addNodes(6);
  kubelet.start();
  await createNamespace(admin, NS);
  const poolsFile = join(cp.dir, "pools.yaml");
  await Deno.writeTextFile(poolsFile, POOLS);
  await using gamenet = await GamenetProcess.start(cp, { args: [`--config=${poolsFile}`] });
  await gamenet.waitReady();
  const allocations = async (query = "") => {
    const res = await gamenet.debugGet(`/allocations${query}`);
    assert.equal(res.status, 200);
    return (await res.json()).allocations as AllocationRow[];
  };
  const createPod = (pod: Pod) =>
    admin.request<Pod>("POST", `/api/v1/namespaces/${NS}/pods`, {
      body: {
        ...pod,
        spec: {
          ...pod.spec,
          containers: pod.spec!.containers.map((c) => ({ image: "example.invalid/gs:1", ...c })),
        },
      },
    });

  await t.step("every Pod Ready with its spec's host ports and its node's address", async () => {
    for (const w of WORKLOADS) await createWorkload(admin, NS, w);
    const pods = await eventually(
      "300 Pods Ready",
      async () => {
        const pods = (await listPods(admin, NS)).filter((p) => p.metadata.labels?.app !== "single");
        const ready = pods.filter((p) => networkStatus(p)?.currentNetworkState === "Ready");
        if (ready.length === 300 && pods.length === 300) return pods;
        throw new Error(`${ready.length} of ${pods.length} Pods Ready`);
      },
      240_000,
      1_000,
    );
    for (const pod of pods) assertStatusMatchesSpec(pod, kubelet);
    const keys = hostPortKeys(pods);
    // TCP 100 + UDP&TCP 120 + TCPUDP 120 + Passthrough 40 + game 40.
    assert.equal(keys.size, 420);
    for (const pod of pods) {
      const app = pod.metadata.labels!.app;
      for (const p of pod.spec!.containers[0].ports!) {
        const [min, max] = app === "game" ? [9000, 9499] : [8000, 8999];
        assert.ok(p.hostPort! >= min && p.hostPort! <= max, `${app}: ${p.hostPort} in range`);
        if (app === "pass") assert.equal(p.containerPort, p.hostPort);
        else assert.ok(p.containerPort === 7777 || p.containerPort === 7778);
      }
      if (app === "both") {
        const ports = pod.spec!.containers[0].ports!;
        assert.deepEqual(ports.map((p) => p.protocol).sort(), ["TCP", "UDP"]);
        assert.equal(ports[0].hostPort, ports[1].hostPort, "TCPUDP: one number in both");
      }
    }
    assert.deepEqual(allocatedKeys(await allocations(`?namespace=${NS}`)), keys);
    const table = await (await gamenet.debugGet(`/allocations?format=table&node=node-1`)).text();
    assert.match(table, /^NAMESPACE\s+POD\s+TYPE\s+NODE\/LB\s+ADDRESS\s+PORTS\s+STATE/);
    assert.match(
      table,
      /hostport-e2e\s+\S+\s+Kubernetes-HostPort\s+node-1\s+203\.0\.\d+\.\d+\s+\d+\/(TCP|UDP)/,
    );
  });

  await t.step("bad conf is refused at admission with a message; others carry on", async () => {
    const refused = async (pod: Pod, pattern: RegExp) => {
      const err = await createPod(pod).then(() => undefined, (e) => e);
      assert.ok(err instanceof KubeApiError, `${pod.metadata.name} was admitted`);
      assert.match(err.message, pattern);
    };
    await refused(gamePod("bad-json", "[{name: ContainerPorts"), /network-conf.*JSON/i);
    await refused(
      gamePod("bad-container", [{ name: "ContainerPorts", value: "nope:7777/UDP" }]),
      /container "nope"/,
    );
    await refused(
      gamePod("bad-dup", [{ name: "ContainerPorts", value: "gs:7777/UDP,7777/UDP" }]),
      /7777\/UDP of "gs" is asked twice/,
    );
    await refused(
      gamePod("bad-port", [{ name: "ContainerPorts", value: "gs:70000/UDP" }]),
      /70000/,
    );
    await refused(
      gamePod("bad-range", [{ name: "ContainerPorts", value: "gs:7777/UDP" }, {
        name: "PortRange",
        value: "nowhere",
      }]),
      /PortRange "nowhere" is not configured; configured: .*game/,
    );
    // 2 ports × 6 nodes: twelve Pods fit, the thirteenth cannot.
    for (let i = 0; i < 12; i++) {
      await createPod(
        gamePod(`tiny-${i}`, [{ name: "ContainerPorts", value: "gs:7777/UDP" }, {
          name: "PortRange",
          value: "tiny",
        }]),
      );
    }
    // The thirteenth is admitted all the same and waits Pending for a node, as Agones and
    // OpenKruiseGame have it (the default --host-port-exhausted=pending).
    const waiting = await createPod(
      gamePod("tiny-12", [{ name: "ContainerPorts", value: "gs:7777/UDP" }, {
        name: "PortRange",
        value: "tiny",
      }]),
    );
    assert.ok(waiting.spec!.containers[0].ports!.some((p) => (p.hostPort ?? 0) >= 9900));
    await eventually("tiny-12 Waiting", async () => {
      const p = await admin.request<Pod>("GET", `/api/v1/namespaces/${NS}/pods/tiny-12`);
      return networkStatus(p)?.currentNetworkState === "Waiting" && !p.spec!.nodeName
        ? p
        : undefined;
    });
    await admin.request("DELETE", `/api/v1/namespaces/${NS}/pods/tiny-12`, {
      query: { gracePeriodSeconds: "0" },
    });
    const tiny = await eventually(
      "12 tiny Pods Ready",
      async () => {
        const pods = (await listPods(admin, NS, "app=single")).filter((p) =>
          p.metadata.name!.startsWith("tiny-") &&
          networkStatus(p)?.currentNetworkState === "Ready"
        );
        return pods.length === 12 ? pods : undefined;
      },
      60_000,
      500,
    );
    assert.equal(withinRange(hostPortKeys(tiny), 9900, 9901).size, 12);
    assert.ok((await gamenet.get("/readyz")).ok, "gamenet stays ready");
  });

  await t.step("a Pod that skipped the webhook gets an Event and NotReady", async () => {
    const pod = gamePod("late", "");
    delete pod.metadata.annotations;
    await createPod(pod);
    await admin.request("PATCH", `/api/v1/namespaces/${NS}/pods/late`, {
      contentType: "application/merge-patch+json",
      body: {
        metadata: {
          annotations: {
            [NETWORK_TYPE_ANNOTATION]: "Kubernetes-HostPort",
            [NETWORK_CONF_ANNOTATION]: JSON.stringify([{
              name: "ContainerPorts",
              value: "gs:7777/UDP",
            }]),
          },
        },
      },
    });
    const status = await eventually("late NotReady", async () => {
      const p = await admin.request<Pod>("GET", `/api/v1/namespaces/${NS}/pods/late`);
      const s = networkStatus(p);
      return s?.currentNetworkState === "NotReady" ? s : undefined;
    });
    assert.equal(status.desiredNetworkState, "Ready");
    const events = await eventually("a HostPortMissing Event", async () => {
      const e = (await eventsFor(admin, NS, "late")).filter((e) => e.reason === "HostPortMissing");
      return e.length > 0 ? e : undefined;
    });
    assert.equal(events[0].type, "Warning");
    assert.match(events[0].message, /not admitted by gamenet's webhook/);
  });

  await t.step("network-disabled: desired NotReady, ports kept", async () => {
    const before = await admin.request<Pod>("GET", `/api/v1/namespaces/${NS}/pods/tcp-0`);
    await admin.request("PATCH", `/api/v1/namespaces/${NS}/pods/tcp-0`, {
      contentType: "application/merge-patch+json",
      body: { metadata: { labels: { [NETWORK_DISABLED_LABEL]: "true" } } },
    });
    const after = await eventually("tcp-0 desired NotReady", async () => {
      const p = await admin.request<Pod>("GET", `/api/v1/namespaces/${NS}/pods/tcp-0`);
      return networkStatus(p)?.desiredNetworkState === "NotReady" ? p : undefined;
    });
    assert.deepEqual(
      networkStatus(after)!.externalAddresses,
      networkStatus(before)!.externalAddresses,
    );
    const rows = await allocations(`?pod=tcp-0`);
    assert.deepEqual(rows[0].ports, [{
      port: before.spec!.containers[0].ports![0].hostPort,
      protocol: "TCP",
    }]);
  });

  await t.step("a Pod created with its node set gets a port free on that node", async () => {
    // Host ports of Pods gamenet does not manage: 9951/UDP on two nodes, 9950/UDP on node-1,
    // so 9950 is the number used on the fewest nodes, but not free on node-1.
    const foreign = (name: string, node: string, hostPort: number): Pod => ({
      metadata: { name, labels: { app: "single" } },
      spec: {
        nodeName: node,
        containers: [{ name: "gs", ports: [{ containerPort: 7777, hostPort, protocol: "UDP" }] }],
      },
    } as Pod);
    await createPod(foreign("foreign-a", "node-2", 9951));
    await createPod(foreign("foreign-b", "node-3", 9951));
    await createPod(foreign("foreign-c", "node-1", 9950));
    await eventually("the foreign host ports known", async () => {
      const rows = (await allocations(`?namespace=${NS}`)).filter((r) =>
        r.type === UNMANAGED_TYPE && r.pod?.startsWith("foreign-")
      );
      return rows.length === 3 ? rows : undefined;
    });
    const pinned = (name: string): Pod => {
      const pod = gamePod(name, [{ name: "ContainerPorts", value: "gs:7777/UDP" }, {
        name: "PortRange",
        value: "pinned",
      }]);
      return { ...pod, spec: { ...pod.spec!, nodeName: "node-1" } };
    };
    const created = await createPod(pinned("pinned-0"));
    assert.equal(created.spec!.containers[0].ports![0].hostPort, 9951, "free on node-1");
    const ready = await eventually("pinned-0 Ready", async () => {
      const p = await admin.request<Pod>("GET", `/api/v1/namespaces/${NS}/pods/pinned-0`);
      return networkStatus(p)?.currentNetworkState === "Ready" ? p : undefined;
    });
    assert.equal(networkStatus(ready)!.externalAddresses[0].ports[0].port, 9951);
    // node-1 has no port of the range left: the next such Pod is refused, naming the node.
    const err = await createPod(pinned("pinned-1")).then(() => undefined, (e) => e);
    assert.ok(err instanceof KubeApiError, "pinned-1 was admitted");
    assert.match(err.message, /node-1 has no UDP port free in 9950-9951/);
  });

  await t.step("Pods deleted: their ports are released, none leaks", async () => {
    await scaleWorkload(admin, NS, "StatefulSet", "tcp", 30);
    await scaleWorkload(admin, NS, "Deployment", "mixed", 10);
    await admin.request("DELETE", `/api/v1/namespaces/${NS}/pods`, {
      query: { labelSelector: "app=single" },
    });
    await eventually(
      "allocations equal to the remaining Pods' host ports",
      async () => {
        const pods = (await listPods(admin, NS)).filter((p) => !p.metadata.deletionTimestamp);
        if (pods.length !== 180) return undefined;
        const want = hostPortKeys(pods);
        const got = allocatedKeys(await allocations(`?namespace=${NS}`));
        return JSON.stringify([...want].sort()) === JSON.stringify([...got].sort())
          ? true
          : undefined;
      },
      120_000,
      1_000,
    );
    const all = await allocations();
    assert.equal(all.filter((r) => !r.pod).length, 0, "no allocation without a Pod");
  });
});
