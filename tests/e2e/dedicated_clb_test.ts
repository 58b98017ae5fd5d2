/**
 * DedicatedCLBService / DedicatedCLBListener end to end: the shipped CRDs
 * and RBAC on the real control plane, gamenet's manager as the `gamenet`
 * identity with the Tencent provider, and the fake Tencent Cloud behind
 * the real SDK. The seed's service, applied as written (but for the
 * seed's `v1apha1` typo), over a StatefulSet of 120 Pods, then 40; its
 * CLBs live in its `lbRegion` (ap-chengdu), not in gamenet's region, and
 * one of them is then deleted by hand.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ControlPlane } from "../controlplane/control_plane.ts";
import { KubeletStandIn } from "../controlplane/kubelet_standin.ts";
import { applyManifests } from "../controlplane/apply.ts";
import { REPO_ROOT } from "../controlplane/assets.ts";
import { FakeTencentCloud } from "../fakes/tencentcloud/fake_tencent_cloud.ts";
import { Manager } from "../../controller/manager.ts";
import { ProviderRegistry } from "../../providers/registry.ts";
import { createTencentClbProvider } from "../../providers/tencent_clb/mod.ts";
import { ClbPools } from "../../providers/tencent_clb/clb_pools.ts";
import { ClbWriter } from "../../providers/tencent_clb/clb_writer.ts";
import { ClbVips } from "../../providers/tencent_clb/clb_vips.ts";
import { ClbRegions } from "../../providers/tencent_clb/clb_regions.ts";
import { type ClbApi, toClbError } from "../../providers/tencent_clb/clb_api.ts";
import {
  createDedicatedClbExtension,
  DCL_FINALIZER,
} from "../../providers/tencent_clb/dedicated_clb.ts";
import { dclListenerName } from "../../providers/tencent_clb/listener_name.ts";
import type { Pod } from "../../providers/types.ts";
import { createNamespace, eventually, listPods } from "./helpers.ts";
import { scaleWorkload } from "./workloads.ts";
import { clbApiFor } from "../fakes/tencentcloud/clb_api_for.ts";

const NS = "demo";
const API = "/apis/networking.cloud.tencent.com/v1alpha1";
const LBS = ["lb-xxx", "lb-yyy", "lb-zzz"];
/** The seed service's lbRegion; gamenet itself runs with the fake's default region. */
const LB_REGION = "ap-chengdu";

const SEED = await Deno.readTextFile(
  join(REPO_ROOT, "tests", "fixtures", "dedicated-clb-service.yaml"),
);

interface Dcl {
  metadata: { name: string; finalizers?: string[] };
  spec: {
    lbId: string;
    lbPort: number;
    protocol: string;
    backendPod: { podName: string; port: number };
  };
  status?: { state?: string; address?: string; listenerId?: string };
}

/** Every check of the end state against the fake cloud; throws what does not hold yet. */
function converged(
  cloud: FakeTencentCloud,
  dcls: Dcl[],
  pods: Pod[],
  replicas: number,
  lbs = LBS,
) {
  if (pods.length !== replicas || dcls.length !== replicas * 2) {
    throw new Error(`${pods.length} Pods, ${dcls.length} listener objects`);
  }
  const vips = new Map(lbs.map((lb) => [lb, cloud.loadBalancer(lb)!.vip]));
  const listeners = lbs.flatMap((lb) =>
    cloud.loadBalancer(lb)!.listeners.map((l) => ({ ...l, lb }))
  );
  if (listeners.length !== dcls.length) {
    const named = new Set(dcls.map((d) => dclListenerName(NS, d.metadata.name)));
    const extra = listeners.filter((l) => !named.has(l.name)).map((l) =>
      `${l.lb}:${l.port}/${l.protocol} ${l.name}`
    );
    throw new Error(
      `${listeners.length} cloud listeners for ${dcls.length} objects; extra: ${extra.join(", ")}`,
    );
  }
  const used = new Set<string>();
  for (const dcl of dcls) {
    if (dcl.status?.state !== "Bound") {
      throw new Error(`${dcl.metadata.name}: ${JSON.stringify(dcl.status)}`);
    }
    const where = `${dcl.spec.lbId}:${dcl.spec.lbPort}/${dcl.spec.protocol}`;
    assert.ok(!used.has(where), `${where} given twice`);
    used.add(where);
    const l = listeners.find((x) => x.listenerId === dcl.status!.listenerId);
    if (!l) throw new Error(`${dcl.metadata.name}: no cloud listener ${dcl.status!.listenerId}`);
    assert.equal(l.name, dclListenerName(NS, dcl.metadata.name));
    assert.deepEqual([l.lb, l.port, l.protocol], [
      dcl.spec.lbId,
      dcl.spec.lbPort,
      dcl.spec.protocol,
    ]);
    const pod = pods.find((p) => p.metadata.name === dcl.spec.backendPod.podName);
    if (!pod?.status?.podIP) throw new Error(`${dcl.metadata.name}: its Pod has no IP`);
    const targets = l.targets.map((t) => `${t.eniIp}:${t.port}`);
    if (targets.join() !== `${pod.status.podIP}:${dcl.spec.backendPod.port}`) {
      throw new Error(`${dcl.metadata.name}: targets ${targets}`);
    }
    const address = `${vips.get(dcl.spec.lbId)}:${dcl.spec.lbPort}`;
    assert.equal(dcl.status.address, address);
    const annotation = dcl.spec.protocol === "TCP"
      ? "networking.cloud.tencent.com/external-address-9000"
      : "networking.cloud.tencent.com/external-address-8080";
    if (pod.metadata.annotations?.[annotation] !== address) {
      throw new Error(`${pod.metadata.name}: ${annotation} not ${address}`);
    }
  }
  return true;
}

Deno.test("DedicatedCLBService: the seed's service over 120 Pods, then 40", async (t) => {
  await using cp = await ControlPlane.start();
  const admin = cp.client("admin");
  for (const file of Deno.readDirSync(join(REPO_ROOT, "deploy", "crds"))) {
    await applyManifests(
      admin,
      await Deno.readTextFile(join(REPO_ROOT, "deploy", "crds", file.name)),
    );
  }
  await eventually("the CRDs to be served", async () => {
    const list = await admin.request<{ resources: { name: string }[] }>("GET", API);
    return list.resources.some((r) => r.name === "dedicatedclblisteners") || undefined;
  });
  await using cloud = await FakeTencentCloud.start({
    // 240 listeners on 3 CLBs: above the default quota of 50 per CLB, raised as users do.
    loadBalancers: LBS.map((id, i) => ({
      id,
      vip: `139.135.64.${50 + i}`,
      listenerQuota: 100,
      region: LB_REGION,
    })),
    listenerQuota: 100,
    rateLimitPerSecond: 20,
    taskDurationMs: 100,
  });
  /** Accepted CreateListener calls (their port counts) and refusals, by code. */
  const creates = { ports: [] as number[], refused: {} as Record<string, number> };
  const client = (region: string): ClbApi =>
    new Proxy(clbApiFor(cloud, { region }), {
      get(target, action, receiver) {
        const call = Reflect.get(target, action, receiver);
        if (action !== "CreateListener") return call;
        return async (request: { Ports: number[] }) => {
          try {
            const res = await call(request);
            creates.ports.push(request.Ports.length);
            return res;
          } catch (err) {
            const code = toClbError("CreateListener", err).code;
            creates.refused[code] = (creates.refused[code] ?? 0) + 1;
            throw err;
          }
        };
      },
    });
  const api = client(cloud.region);
  const logs: string[] = [];
  const writer = new ClbWriter(api, { log: (m) => logs.push(m) });
  const pools = new ClbPools();
  const regions = new ClbRegions({
    region: cloud.region,
    home: { api, writer, vips: new ClbVips(api, writer) },
    connect: client,
    writerOptions: { log: (m) => logs.push(m) },
  });
  await using kubelet = new KubeletStandIn(admin);
  await kubelet.addNodes(3, { prefix: "clb-node" });
  kubelet.start();
  await createNamespace(admin, NS);
  const manager = new Manager({
    client: cp.client("gamenet"),
    registry: new ProviderRegistry([
      createTencentClbProvider({
        api,
        writer,
        pools,
        extension: createDedicatedClbExtension({
          api,
          writer,
          pools,
          regions,
          sweepEveryMs: 5_000,
          log: (m) => logs.push(m),
        }),
      }),
    ]),
    settings: {
      workers: 8,
      resyncMs: 0,
      admissionGraceMs: 60_000,
      leaderElect: false,
      namespace: "gamenet-system",
      leaseName: "gamenet",
      identity: "e2e-clb",
    },
    log: (m) => logs.push(m),
  });
  const dcls = async () =>
    (await admin.request<{ items: Dcl[] }>("GET", `${API}/namespaces/${NS}/dedicatedclblisteners`))
      .items;
  const pods = () => listPods(admin, NS, "app=gameserver");
  try {
    await manager.start();
    await applyManifests(admin, SEED);
    await admin.request("POST", `/apis/apps/v1/namespaces/${NS}/statefulsets`, {
      body: {
        metadata: { name: "gameserver" },
        spec: {
          replicas: 120,
          serviceName: "gameserver",
          podManagementPolicy: "Parallel",
          selector: { matchLabels: { app: "gameserver" } },
          template: {
            metadata: { labels: { app: "gameserver" } },
            spec: { containers: [{ name: "gs", image: "example.invalid/gs:1" }] },
          },
        },
      },
    });

    await t.step(
      "120 Pods: 240 listeners Bound, addresses on the Pods match the cloud",
      async () => {
        const started = performance.now();
        await eventually(
          "240 Bound listeners matching the cloud",
          async () => converged(cloud, await dcls(), await pods(), 120),
          240_000,
          1_000,
        );
        const all = await dcls();
        assert.ok(all.every((d) => d.metadata.finalizers?.includes(DCL_FINALIZER)));
        await eventually("the service status to count 240 Bound", async () => {
          const s = (await admin.request<{ status?: { allocated: number; bound: number } }>(
            "GET",
            `${API}/namespaces/${NS}/dedicatedclbservices/gameserver`,
          )).status;
          return s?.bound === 240 && s.allocated === 240 || undefined;
        });
        console.log(
          `120 Pods Bound in ${Math.round(performance.now() - started)} ms; ` +
            `cloud calls ${JSON.stringify(cloud.stats().calls)}; accepted CreateListener ` +
            `ports ${JSON.stringify(creates.ports)}, refused ${JSON.stringify(creates.refused)}`,
        );
        // 100 + 100 + 40 listeners, TCP and UDP apart, 49 ports a call: 8 at best; the
        // objects come as the StatefulSet's Pods do, over seconds (28 seen; 41 accepted of
        // 241 sent before the creates stopped holding a worker each).
        assert.ok(creates.ports.length <= 40, `${creates.ports.length} CreateListener calls`);
        assert.equal(creates.refused["InvalidParameter.PortCheckFailed"], undefined);
      },
    );

    await t.step("scaled to 40: the other Pods' listeners are deleted in the cloud", async () => {
      await scaleWorkload(admin, NS, "StatefulSet", "gameserver", 40);
      await eventually(
        "80 Bound listeners for 40 Pods, and no other in the cloud",
        async () => converged(cloud, await dcls(), await pods(), 40),
        180_000,
        1_000,
      );
      const names = LBS.flatMap((lb) => cloud.loadBalancer(lb)!.listeners.map((l) => l.name));
      for (let i = 40; i < 120; i++) {
        assert.ok(!names.some((n) => n.includes(`/gameserver-${i}-`)), `gameserver-${i} left`);
      }
      // Deleted with their objects by their finalizers, none left to the sweep (0-4 of 160
      // were, until the writer told a TCP listener from a UDP one on the same port).
      const late = logs.filter((m) => m.includes("its object is gone"));
      assert.deepEqual(
        late,
        [],
        `listeners left to the sweep; cloud ${JSON.stringify(cloud.stats())}`,
      );
    });

    await t.step(
      "a listener object deleted by hand is made again, its port kept or renewed",
      async () => {
        const victim = "gameserver-0-udp-8000";
        await admin.request("DELETE", `${API}/namespaces/${NS}/dedicatedclblisteners/${victim}`);
        await eventually(
          "the listener object back and Bound",
          async () => converged(cloud, await dcls(), await pods(), 40),
          60_000,
          500,
        );
      },
    );

    await t.step("a CLB deleted by hand: its listener objects move to the others", async () => {
      const [lost, ...rest] = LBS;
      const moving = (await dcls()).filter((d) => d.spec.lbId === lost).length;
      assert.ok(moving > 0);
      cloud.removeLoadBalancer(lost);
      await eventually(
        `${moving} listener objects off ${lost}, all Bound`,
        async () => converged(cloud, await dcls(), await pods(), 40, rest),
        60_000,
        500,
      );
    });
  } finally {
    await manager.stop();
    if (Deno.env.get("E2E_VERBOSE")) console.log(logs.join("\n"));
  }
});
