/**
 * CLB port pools that buy their CLBs (`autoCreate`), end to end: the
 * shipped CRDs on the real control plane, gamenet as a process with the
 * shipped flags, the fake Tencent Cloud behind the real SDK with a small
 * listener quota (20 per CLB) so that a burst needs more CLBs than the
 * pool may buy. Under 20 % cloud faults (errors, HTTP 5xx, lost answers)
 * and 3 SIGKILLs, each right after a purchase reached the cloud: exactly
 * the CLBs allowed are bought, each tagged; the Pods that fit are Ready,
 * the rest wait with `NoPortAvailable` and a Warning Event; no port is
 * given twice and no listener leaks. The limit raised, one more is bought
 * and the waiting Pods are served. Two pools short at once buy one CLB
 * each, a lost answer asked again getting the same CLB. When the Pods and
 * the pools go, the bought CLBs go once empty (the sweep's collect) and a
 * CLB the user gave stays.
 */

import assert from "node:assert/strict";
import { ControlPlane } from "../controlplane/control_plane.ts";
import { KubeletStandIn } from "../controlplane/kubelet_standin.ts";
import { applyManifests } from "../controlplane/apply.ts";
import { FakeTencentCloud } from "../fakes/tencentcloud/fake_tencent_cloud.ts";
import type { Fault } from "../fakes/tencentcloud/fault_injector.ts";
import { testSeedFor } from "../test_seed.ts";
import type { KubeClient } from "../../controller/kube_client.ts";
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
import { CREATED_BY_TAG_KEY, POOL_TAG_KEY } from "../../providers/tencent_clb/clb_purchase.ts";
import {
  type MappingResult,
  PORT_MAPPING_RESULT_ANNOTATION,
  PORT_MAPPING_STATUS_ANNOTATION,
} from "../../providers/tencent_clb/port_mapping.ts";

/** Listeners per CLB (the fake account's TOTAL_LISTENER_QUOTA): 10 TCPUDP Pods. */
const LISTENER_QUOTA = 20;
const SWEEP_MS = 5_000;
/** The actions faults strike, about 20 % of their calls in all. */
const FAULTED = [
  "CreateLoadBalancer",
  "CreateListener",
  "BatchRegisterTargets",
  "BatchDeregisterTargets",
  "DescribeLoadBalancers",
];
/** Three kinds at 7 % each, rolled in turn: 1 − 0.93³ ≈ 20 % of calls. */
const FAULTS: Fault[] = [
  { kind: "error", code: "InternalError", actions: FAULTED, rate: 0.07 },
  { kind: "http", status: 503, actions: FAULTED, rate: 0.07 },
  { kind: "lostAnswer", status: 502, actions: FAULTED, rate: 0.07 },
];

/** The CLBs in the cloud bought for `pool` (by gamenet's tag). */
function boughtIn(cloud: FakeTencentCloud, pool: string) {
  return cloud.loadBalancers().filter((lb) => lb.tags[POOL_TAG_KEY] === pool);
}

/**
 * The Pods of a pool against the cloud: each Ready Pod's results are
 * listeners of the fake with that port, protocol and name, its IP:port
 * their only target; every other Pod holds no listener; no CLB port is
 * given twice; the CLBs' listeners are exactly the results. Returns the
 * Ready and waiting Pods; throws what does not hold yet.
 */
function checkAgainstCloud(cloud: FakeTencentCloud, pods: Pod[], lbs: string[]) {
  const listeners = lbs.flatMap((lb) =>
    (cloud.loadBalancer(lb)?.listeners ?? []).map((l) => ({ ...l, lb }))
  );
  const seen = new Set<string>();
  const ready: Pod[] = [];
  const waiting: Pod[] = [];
  for (const pod of pods) {
    const a = pod.metadata.annotations ?? {};
    const status = a[PORT_MAPPING_STATUS_ANNOTATION];
    if (status !== "Ready") {
      waiting.push(pod);
      continue;
    }
    ready.push(pod);
    const results = JSON.parse(a[PORT_MAPPING_RESULT_ANNOTATION] ?? "[]") as MappingResult[];
    if (results.length !== 2) throw new Error(`${pod.metadata.name}: ${results.length} results`);
    for (const r of results) checkResult(cloud, listeners, seen, pod, r);
    if (networkStatus(pod)?.currentNetworkState !== "Ready") {
      throw new Error(`${pod.metadata.name}: network status not Ready`);
    }
  }
  const ports = listeners.map((l) => `${l.lb}:${l.port}/${l.protocol}`);
  assert.equal(new Set(ports).size, ports.length, "a CLB port is listened on twice");
  if (listeners.length !== seen.size) {
    const extra = listeners.filter((l) => !seen.has(`${l.lb}:${l.port}/${l.protocol}`));
    throw new Error(
      `${listeners.length} listeners, ${seen.size} results; not a Ready Pod's: ${
        extra.slice(0, 5).map((l) => `${l.lb}:${l.port}/${l.protocol} ${l.name}`)
      }`,
    );
  }
  return { ready, waiting };
}

/** Bindings by state and message, for a failure's report. */
async function bindingStates(admin: KubeClient, ns: string): Promise<string> {
  const states: Record<string, number> = {};
  for (const b of await bindings(admin, ns)) {
    const k = `${b.status?.state} ${b.status?.message?.slice(0, 160) ?? ""}`;
    states[k] = (states[k] ?? 0) + 1;
  }
  return JSON.stringify(states);
}

Deno.test("autoCreate buys only the CLBs a shortage needs, under faults and SIGKILLs, and deletes them once empty", async (t) => {
  await using cp = await ControlPlane.start();
  const admin = cp.client("admin");
  await applyClbCrds(admin);
  await using kubelet = new KubeletStandIn(admin, { concurrency: 16 });
  await kubelet.addNodes(3, { prefix: "autocreate-node" });
  kubelet.start();
  const given = "lb-given001";
  await using cloud = await FakeTencentCloud.start({
    loadBalancers: [{ id: given, vip: "203.0.113.50" }],
    listenerQuota: LISTENER_QUOTA,
    rateLimitPerSecond: 20,
    taskDurationMs: 300,
    seed: testSeedFor("autocreate cloud"),
  });
  // Every CLB the cloud ever held, so one bought and gone again is counted too.
  const everSeen = new Map<string, Record<string, string>>();
  const watchCloud = () => {
    for (const lb of cloud.loadBalancers()) everSeen.set(lb.id, lb.tags);
  };
  const watcher = setInterval(watchCloud, 50);
  let gamenet = await startClbGamenet(cp, cloud, SWEEP_MS / 1000);
  const restart = async (why: string) => {
    await gamenet.kill("SIGKILL");
    console.log(`SIGKILL: ${why}; ${boughtIn(cloud, "pool-auto").length} CLBs bought`);
    gamenet = await startClbGamenet(cp, cloud, SWEEP_MS / 1000);
  };
  try {
    await t.step(
      "maxLoadBalancers 2, 30 TCPUDP Pods, 20 % faults, 3 SIGKILLs: 2 CLBs bought, 20 Pods Ready, 10 NoPortAvailable",
      async () => {
        const ns = "burst";
        await createNamespace(admin, ns);
        // The first purchase's answer is lost for sure; then faults at random.
        cloud.injectFault({ kind: "lostAnswer", actions: ["CreateLoadBalancer"], times: 1 });
        for (const f of FAULTS) cloud.injectFault(f);
        await applyManifests(
          admin,
          `apiVersion: networking.cloud.tencent.com/v1alpha1
kind: CLBPortPool
metadata:
  name: pool-auto
spec:
  startPort: 30000
  autoCreate:
    enabled: true
    maxLoadBalancers: 2
`,
        );
        await admin.request("POST", `/apis/apps/v1/namespaces/${ns}/statefulsets`, {
          body: portMappedStatefulSet("gs", ns, 30, "7000 TCPUDP pool-auto"),
        });
        // Each kill right after a purchase reached the cloud (its answer maybe
        // not yet seen by gamenet), the third in the middle of the listeners.
        await eventually(
          "the first CLB bought",
          () => {
            watchCloud();
            return boughtIn(cloud, "pool-auto").length >= 1 || undefined;
          },
          60_000,
          20,
        );
        await restart("the first purchase in the cloud");
        await eventually(
          "the second CLB bought",
          () => {
            watchCloud();
            return boughtIn(cloud, "pool-auto").length >= 2 || undefined;
          },
          90_000,
          20,
        );
        await restart("the second purchase in the cloud");
        await eventually(
          "listeners being made on the second CLB",
          () => {
            // The second CLB is the emptier: the first filled before it was bought.
            const counts = boughtIn(cloud, "pool-auto").map((lb) => lb.listeners.length);
            return counts.length === 2 && Math.min(...counts) >= 6 || undefined;
          },
          60_000,
          50,
        );
        await restart(
          `listeners being made on the second CLB (${
            boughtIn(cloud, "pool-auto").map((lb) => lb.listeners.length)
          })`,
        );

        const bought = () => boughtIn(cloud, "pool-auto").map((lb) => lb.id);
        const { ready, waiting } = await eventually(
          "20 Pods Ready, 10 NoPortAvailable",
          async () => {
            const pods = await listPods(admin, ns);
            if (pods.length !== 30) return undefined;
            const r = checkAgainstCloud(cloud, pods, bought());
            if (r.ready.length !== 20) throw new Error(`${r.ready.length} Ready`);
            const notYet = r.waiting.filter((p) =>
              p.metadata.annotations?.[PORT_MAPPING_STATUS_ANNOTATION] !== "NoPortAvailable"
            );
            if (notYet.length > 0) {
              throw new Error(
                `${notYet[0].metadata.name}: ${
                  notYet[0].metadata.annotations?.[PORT_MAPPING_STATUS_ANNOTATION]
                }`,
              );
            }
            return r;
          },
          120_000,
          500,
        ).catch(async (err) => {
          console.error(JSON.stringify(cloud.stats()));
          console.error(
            `bindings: ${await bindingStates(admin, ns)}\n${await gamenet.logTail(60)}`,
          );
          throw err;
        });
        const stats = cloud.stats();
        console.log(`burst: cloud ${JSON.stringify(stats)}`);
        assert.ok(stats.faults > 0, "faults were injected");

        // Exactly 2 CLBs bought in all, each tagged for the pool and as gamenet's.
        watchCloud();
        const everBought = [...everSeen].filter(([id]) => id !== given);
        assert.equal(everBought.length, 2, `CLBs bought: ${everBought.map(([id]) => id)}`);
        for (const [id, tags] of everBought) {
          assert.equal(tags[POOL_TAG_KEY], "pool-auto", `${id}'s tags`);
          assert.equal(tags[CREATED_BY_TAG_KEY], "gamenet", `${id}'s tags`);
        }
        for (const lb of bought()) {
          assert.equal(cloud.loadBalancer(lb)!.listeners.length, LISTENER_QUOTA, `${lb} full`);
        }
        assert.equal(cloud.loadBalancer(given)!.listeners.length, 0, "the given CLB untouched");

        // The others wait: NotReady, their binding NoPortAvailable, a Warning Event on the Pod.
        assert.equal(waiting.length, 10);
        const states = new Map((await bindings(admin, ns)).map((b) => [b.metadata.name, b]));
        for (const pod of waiting) {
          const name = pod.metadata.name!;
          assert.equal(states.get(name)?.status?.state, "NoPortAvailable", name);
          assert.deepEqual(states.get(name)?.status?.portBindings ?? [], [], name);
          assert.equal(networkStatus(pod)?.currentNetworkState, "NotReady", name);
          const events = await eventsFor(admin, ns, name);
          assert.ok(
            events.some((e) =>
              e.type === "Warning" && e.reason === "NoPortAvailable" &&
              /pool-auto.*quota of 20 listeners/.test(e.message)
            ),
            `${name}: events ${JSON.stringify(events.map((e) => [e.reason, e.message]))}`,
          );
        }
        for (const pod of ready) {
          assert.equal(states.get(pod.metadata.name!)?.status?.state, "Bound");
        }

        // The pool says why: the limit is reached; its CLBs are the 2 bought, full.
        const status = await eventually("the pool's status to count 2 full CLBs", async () => {
          const s = await poolStatus(admin, "pool-auto");
          return s?.loadbalancerStatuses?.length === 2 &&
              s.loadbalancerStatuses.every((l) => l.allocated === LISTENER_QUOTA) &&
              /maxLoadBalancers 2 reached/.test(s.message ?? "") && s || undefined;
        }, 30_000).catch(async (err) => {
          console.error(JSON.stringify(await poolStatus(admin, "pool-auto")));
          throw err;
        });
        assert.deepEqual(
          status.loadbalancerStatuses!.map((l) => [l.loadbalancerID, l.autoCreated]).sort(),
          bought().map((id) => [id, true]).sort(),
        );
        console.log(`pool-auto: ${status.state} "${status.message}"`);
      },
    );

    await t.step(
      "maxLoadBalancers raised to 3: one more CLB bought, the 10 waiting Pods Ready",
      async () => {
        const ns = "burst";
        await admin.request("PATCH", `${GROUP}/clbportpools/pool-auto`, {
          body: { spec: { autoCreate: { maxLoadBalancers: 3 } } },
          contentType: "application/merge-patch+json",
        });
        await eventually(
          "30 Pods Ready on 3 CLBs",
          async () => {
            const pods = await listPods(admin, ns);
            const lbs = boughtIn(cloud, "pool-auto").map((lb) => lb.id);
            const r = checkAgainstCloud(cloud, pods, lbs);
            return r.ready.length === 30 || undefined;
          },
          60_000,
          500,
        ).catch(async (err) => {
          console.error(
            `bindings: ${await bindingStates(admin, ns)}\n${await gamenet.logTail(40)}`,
          );
          throw err;
        });
        watchCloud();
        const everBought = [...everSeen].filter(([, tags]) => tags[POOL_TAG_KEY] === "pool-auto");
        assert.equal(everBought.length, 3, `CLBs bought: ${everBought.map(([id]) => id)}`);
        for (const lb of boughtIn(cloud, "pool-auto")) {
          assert.equal(lb.listeners.length, LISTENER_QUOTA, `${lb.id} full`);
        }
        await eventually("the pool's status to say the new limit is reached", async () => {
          const s = await poolStatus(admin, "pool-auto");
          return s?.loadbalancerStatuses?.length === 3 &&
              /maxLoadBalancers 3 reached/.test(s.message ?? "") || undefined;
        }, 30_000);
      },
    );

    await t.step(
      "two pools short at once: each buys one CLB, never two for one shortage",
      async () => {
        const ns = "two";
        await createNamespace(admin, ns);
        // One of the two purchases loses its answer: its retry must get the same CLB.
        const before = cloud.stats();
        cloud.clearFaults();
        cloud.injectFault({ kind: "lostAnswer", actions: ["CreateLoadBalancer"], times: 1 });
        for (const f of FAULTS) cloud.injectFault(f);
        await applyManifests(
          admin,
          `apiVersion: networking.cloud.tencent.com/v1alpha1
kind: CLBPortPool
metadata:
  name: pool-b
spec:
  startPort: 30000
  exsistedLoadBalancerIDs: [${given}]
  autoCreate:
    enabled: true
    maxLoadBalancers: 3
---
apiVersion: networking.cloud.tencent.com/v1alpha1
kind: CLBPortPool
metadata:
  name: pool-c
spec:
  startPort: 30000
  autoCreate:
    enabled: true
    maxLoadBalancers: 3
`,
        );
        // pool-b: 14 Pods, 28 listeners: the given CLB's 20 and one bought.
        // pool-c: 6 Pods, 12 listeners: one bought.
        await admin.request("POST", `/apis/apps/v1/namespaces/${ns}/statefulsets`, {
          body: portMappedStatefulSet("gb", ns, 14, "7000 TCPUDP pool-b"),
        });
        await admin.request("POST", `/apis/apps/v1/namespaces/${ns}/statefulsets`, {
          body: portMappedStatefulSet("gc", ns, 6, "7000 TCPUDP pool-c"),
        });
        await eventually(
          "20 Pods Ready",
          async () => {
            const pods = await listPods(admin, ns);
            if (pods.length !== 20) return undefined;
            const lbs = [
              given,
              ...boughtIn(cloud, "pool-b").map((l) => l.id),
              ...boughtIn(cloud, "pool-c").map((l) => l.id),
            ];
            const r = checkAgainstCloud(cloud, pods, lbs);
            return r.ready.length === 20 || undefined;
          },
          90_000,
          500,
        ).catch(async (err) => {
          console.error(
            `bindings: ${await bindingStates(admin, ns)}\n${await gamenet.logTail(60)}`,
          );
          throw err;
        });
        // Wait out a purchase a late reconcile might still make, then count.
        await new Promise((r) => setTimeout(r, 3_000));
        watchCloud();
        for (const pool of ["pool-b", "pool-c"]) {
          const ever = [...everSeen].filter(([, tags]) => tags[POOL_TAG_KEY] === pool);
          assert.equal(ever.length, 1, `${pool} bought ${ever.map(([id]) => id)}`);
          assert.equal(ever[0][1][CREATED_BY_TAG_KEY], "gamenet");
        }
        const after = cloud.stats();
        const creates = (after.calls.CreateLoadBalancer ?? 0) -
          (before.calls.CreateLoadBalancer ?? 0);
        assert.ok(creates >= 3, `${creates} CreateLoadBalancer calls: the lost answer asked again`);
        assert.equal(cloud.loadBalancer(given)!.listeners.length, LISTENER_QUOTA);
        assert.equal(boughtIn(cloud, "pool-b")[0].listeners.length, 8);
        assert.equal(boughtIn(cloud, "pool-c")[0].listeners.length, 12);
        const b = await poolStatus(admin, "pool-b");
        assert.deepEqual(
          b?.loadbalancerStatuses?.map((l) => [l.loadbalancerID, l.autoCreated ?? false]),
          [[given, false], [boughtIn(cloud, "pool-b")[0].id, true]],
        );
      },
    );

    await t.step(
      "Pods and pools deleted: no listener left, the bought CLBs deleted once empty, the given one kept",
      async () => {
        // The faults stay: collect() reads the tags through them too.
        for (const ns of ["burst", "two"]) {
          await admin.request("DELETE", `/api/v1/namespaces/${ns}`);
        }
        for (const pool of ["pool-auto", "pool-b", "pool-c"]) {
          await admin.request("DELETE", `${GROUP}/clbportpools/${pool}`);
        }
        await eventually("no listener left", () => {
          const left = cloud.loadBalancers().reduce((n, lb) => n + lb.listeners.length, 0);
          return left === 0 || undefined;
        }, 60_000);
        await eventually(
          "no bought CLB left",
          () => {
            const left = cloud.loadBalancers().filter((lb) => lb.tags[POOL_TAG_KEY]);
            if (left.length === 0) return true;
            throw new Error(`left: ${left.map((l) => l.id)}`);
          },
          SWEEP_MS * 3 + 10_000,
        ).catch(async (err) => {
          console.error(await gamenet.logTail(40));
          throw err;
        });
        assert.deepEqual(cloud.loadBalancers().map((lb) => lb.id), [given]);
        watchCloud();
        assert.equal(everSeen.size, 1 + 3 + 2, "6 CLBs in all: the given one and 5 bought");
      },
    );
  } finally {
    clearInterval(watcher);
    await gamenet.kill("SIGTERM");
  }
});
