/**
 * What a user ran into, replayed on the real control plane with gamenet as
 * a process: each step is a report that once went wrong (a UDP Pod refused
 * while every UDP port was free, delayed ports shown as free, admission
 * rows without a namespace and released late, host-network Pods counted
 * wrong, a typo in the network type met with silence, a malformed review
 * answered with a JavaScript error, the network-disabled annotation that
 * does nothing).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ControlPlane } from "../controlplane/control_plane.ts";
import { KubeletStandIn } from "../controlplane/kubelet_standin.ts";
import { KubeApiError } from "../../controller/kube_client.ts";
import {
  NETWORK_CONF_ANNOTATION,
  NETWORK_DISABLED_LABEL,
  NETWORK_TYPE_ANNOTATION,
  type Pod,
} from "../../providers/types.ts";
import { GamenetProcess } from "./gamenet_process.ts";
import { createNamespace, eventually, networkStatus } from "./helpers.ts";

const NS = "reports";

const POOLS = `hostPort:
  ranges:
    default: 8000-8001
    wide: 9000-9099
  reuseDelay: 30s
`;

interface Row {
  type: string;
  namespace: string;
  pod: string;
  owner: string;
  node?: string;
  ports: { port: number; protocol: string }[];
}

interface PoolRow {
  key: string;
  range: string;
  protocol: string;
  used: number;
  free: number;
  delayed: number;
}

function gamePod(
  name: string,
  conf: Record<string, string>,
  ports: { containerPort: number; protocol?: string; hostPort?: number }[],
  extra: { hostNetwork?: boolean; type?: string; annotations?: Record<string, string> } = {},
): Pod {
  return {
    metadata: {
      name,
      annotations: {
        [NETWORK_TYPE_ANNOTATION]: extra.type ?? "Kubernetes-HostPort",
        [NETWORK_CONF_ANNOTATION]: JSON.stringify(
          Object.entries(conf).map(([n, value]) => ({ name: n, value })),
        ),
        ...extra.annotations,
      },
    },
    spec: {
      hostNetwork: extra.hostNetwork,
      containers: [{ name: "gs", image: "example.invalid/gs:1", ports }],
    },
  } as Pod;
}

/** The texts of a `Warning` header (`299 - "text", ...`), as kubectl prints them. */
function warningTexts(header: string | null): string[] {
  return [...(header ?? "").matchAll(/299 - "((?:[^"\\]|\\.)*)"/g)].map((m) =>
    m[1].replace(/\\(.)/g, "$1")
  );
}

Deno.test("reported defects: protocols, delays, admissions, host network, typos, malformed reviews", async (t) => {
  await using cp = await ControlPlane.start();
  const admin = cp.client("admin");
  await using kubelet = new KubeletStandIn(admin);
  await kubelet.addNodes(1);
  kubelet.start();
  await createNamespace(admin, NS);
  const poolsFile = join(cp.dir, "pools.yaml");
  await Deno.writeTextFile(poolsFile, POOLS);
  await using gamenet = await GamenetProcess.start(cp, {
    args: [`--config=${poolsFile}`, "--admission-grace=5s"],
  });
  await gamenet.waitReady();

  const view = async () => {
    const res = await gamenet.debugGet("/allocations");
    assert.equal(res.status, 200);
    return await res.json() as { pools: PoolRow[]; allocations: Row[] };
  };
  const pool = async (range: string, protocol: string) =>
    (await view()).pools.find((p) => p.range === range && p.protocol === protocol)!;
  const create = (pod: Pod) =>
    admin.request<Pod>("POST", `/api/v1/namespaces/${NS}/pods`, { body: pod });
  const ready = (name: string) =>
    eventually(`${name} Ready`, async () => {
      const p = await admin.request<Pod>("GET", `/api/v1/namespaces/${NS}/pods/${name}`);
      return networkStatus(p)?.currentNetworkState === "Ready" ? p : undefined;
    });
  const refusal = async (p: Promise<unknown>) => {
    const err = await p.then(() => undefined, (e) => e);
    assert.ok(err instanceof KubeApiError, `expected a refusal, got ${err ?? "a Pod"}`);
    return err;
  };

  await t.step("a UDP Pod gets a port while TCP Pods hold every number of the range", async () => {
    for (const name of ["tcp-0", "tcp-1"]) {
      await create(gamePod(name, { ContainerPorts: "gs:7777/TCP" }, [{ containerPort: 7777 }]));
      await ready(name);
    }
    assert.equal((await pool("8000-8001", "TCP")).free, 0);
    const udp = await create(
      gamePod("udp-0", { ContainerPorts: "gs:7777/UDP" }, [{
        containerPort: 7777,
        protocol: "UDP",
      }]),
    );
    const hostPort = udp.spec!.containers[0].ports![0].hostPort!;
    assert.ok(hostPort >= 8000 && hostPort <= 8001);
    await ready("udp-0");
    assert.deepEqual(
      await pool("8000-8001", "UDP"),
      { ...await pool("8000-8001", "UDP"), used: 1, free: 1, delayed: 0 },
    );
    // Both protocols on one number need it free in both: none is. It waits for a node.
    await create(
      gamePod("both-0", { ContainerPorts: "gs:7777/TCPUDP" }, [{ containerPort: 7777 }]),
    );
    const waiting = await eventually("both-0 Waiting", async () => {
      const p = await admin.request<Pod>("GET", `/api/v1/namespaces/${NS}/pods/both-0`);
      return networkStatus(p)?.currentNetworkState === "Waiting" ? p : undefined;
    });
    assert.equal(waiting.spec!.nodeName, undefined, "Pending: no node has the port free");
    await admin.request("DELETE", `/api/v1/namespaces/${NS}/pods/both-0`, {
      query: { gracePeriodSeconds: 0 },
    });
  });

  await t.step(
    "a freed port in its reuse delay is shown as delayed and named in the refusal",
    async () => {
      await admin.request("DELETE", `/api/v1/namespaces/${NS}/pods/udp-0`, {
        query: { gracePeriodSeconds: 0 },
      });
      await eventually("udp-0's port delayed", async () => {
        const p = await pool("8000-8001", "UDP");
        return p.delayed === 1 && p.used === 0 && p.free === 1 ? p : undefined;
      });
      const metrics = await (await gamenet.get("/metrics")).text();
      assert.match(
        metrics,
        /gamenet_pool_delayed_ports\{kind="node",key="node-1",protocol="UDP",range="[^"]+"\} 1/,
      );
      await create(
        gamePod("udp-1", { ContainerPorts: "gs:7777/UDP" }, [{
          containerPort: 7777,
          protocol: "UDP",
        }]),
      );
      await ready("udp-1");
      const err = await refusal(create(
        gamePod("udp-2", { ContainerPorts: "gs:7777/UDP" }, [{
          containerPort: 7777,
          protocol: "UDP",
        }]),
      ));
      assert.match(err.message, /HostPortsExhausted|no host ports/);
      assert.match(err.message, /1 freed host port\(s\) are held back by the reuse delay/);
    },
  );

  await t.step(
    "an admission without its Pod shows namespace and protocols, and goes at grace",
    async () => {
      const admitted = Date.now();
      const answer = await gamenet.admitDirectly(
        gamePod("", { ContainerPorts: "gs:7777/UDP,7778/TCPUDP", PortRange: "wide" }, [
          { containerPort: 7777, protocol: "UDP" },
          { containerPort: 7778 },
        ]),
        NS,
      );
      assert.equal(answer, "allowed");
      const row = (await view()).allocations.find((a) =>
        a.owner.startsWith("admission/") && !a.node
      );
      assert.ok(row, "the admission's holding is listed");
      assert.equal(row.namespace, NS);
      assert.deepEqual(row.ports.map((p) => p.protocol).sort(), ["TCPUDP", "UDP"]);
      await eventually(
        "the admission released",
        async () => {
          const rows = (await view()).allocations;
          return rows.some((a) => a.owner === row.owner) ? undefined : true;
        },
        15_000,
        100,
      );
      const after = Date.now() - admitted;
      assert.ok(after >= 5_000, `released ${after} ms after admission: before the grace`);
      assert.ok(after < 5_000 + 2_500, `released ${after} ms after admission: grace is 5 s`);
    },
  );

  await t.step(
    "host-network Pods: Dynamic is refused, Passthrough works, every host port is listed",
    async () => {
      const dynamic = await refusal(create(
        gamePod("hn-dyn", { ContainerPorts: "gs:7777/UDP", PortRange: "wide" }, [
          { containerPort: 7777, protocol: "UDP" },
        ], { hostNetwork: true }),
      ));
      assert.match(dynamic.message, /hostNetwork: true .* set PortPolicy Passthrough/);
      const pass = await create(
        gamePod("hn-pass", {
          ContainerPorts: "gs:7777/UDP",
          PortRange: "wide",
          PortPolicy: "Passthrough",
        }, [
          { containerPort: 7777, protocol: "UDP" },
        ], { hostNetwork: true }),
      );
      const [port] = pass.spec!.containers[0].ports!;
      assert.equal(port.hostPort, port.containerPort);
      assert.ok(port.hostPort! >= 9000 && port.hostPort! <= 9099);
      await ready("hn-pass");
      // Not gamenet's, on the node's network, with a port outside every range.
      await create({
        metadata: { name: "exporter" },
        spec: {
          hostNetwork: true,
          containers: [{
            name: "x",
            image: "example.invalid/x:1",
            ports: [{ containerPort: 9300 }],
          }],
        },
      } as Pod);
      const row = await eventually(
        "the exporter's host port listed",
        async () => (await view()).allocations.find((a) => a.pod === "exporter"),
      );
      assert.equal(row.type, "Unmanaged");
      assert.deepEqual(row.ports, [{ port: 9300, protocol: "TCP" }]);
    },
  );

  await t.step(
    "a typo in the network type is admitted with a warning kubectl prints, and counted",
    async () => {
      const res = await admin.fetch("POST", `/api/v1/namespaces/${NS}/pods`, {
        body: JSON.stringify(
          gamePod("typo", { ContainerPorts: "gs:7777/UDP" }, [{
            containerPort: 7777,
            protocol: "UDP",
          }], {
            type: "kubernetes-hostport",
          }),
        ),
      });
      assert.equal(res.status, 201);
      await res.body?.cancel();
      const [warning] = warningTexts(res.headers.get("warning"));
      assert.match(
        warning,
        /"kubernetes-hostport" is not a type gamenet knows \(did you mean "Kubernetes-HostPort"\?\)/,
      );
      assert.match(warning, /Known: Kubernetes-HostPort/);
      const metrics = await (await gamenet.get("/metrics")).text();
      assert.match(metrics, /^gamenet_unknown_network_type_total 1$/m);
    },
  );

  await t.step(
    "network-disabled as an annotation is admitted with a warning that it is a label",
    async () => {
      const res = await admin.fetch("POST", `/api/v1/namespaces/${NS}/pods`, {
        body: JSON.stringify(
          gamePod("annotated", { ContainerPorts: "gs:7777/UDP", PortRange: "wide" }, [
            { containerPort: 7777, protocol: "UDP" },
          ], { annotations: { [NETWORK_DISABLED_LABEL]: "true" } }),
        ),
      });
      assert.equal(res.status, 201);
      await res.body?.cancel();
      assert.match(
        res.headers.get("warning") ?? "",
        /is read from the Pod's labels, not its annotations/,
      );
      const pod = await ready("annotated");
      assert.equal(networkStatus(pod)!.desiredNetworkState, "Ready", "the annotation does nothing");
    },
  );

  await t.step(
    "a malformed review is refused with 400 naming the field, logged as a warning",
    async () => {
      const answer = await gamenet.review({ metadata: {}, spec: { containers: "gs" } }, NS);
      assert.equal(answer.allowed, false);
      assert.deepEqual(answer.status, {
        code: 400,
        message:
          "gamenet cannot read the Pod: request.object.spec.containers is a string; expected a list",
      });
      const log = await gamenet.logText();
      assert.match(log, /WARN Admission .* refused: request\.object\.spec\.containers is a string/);
      assert.doesNotMatch(log, /ERROR/);
    },
  );
});
