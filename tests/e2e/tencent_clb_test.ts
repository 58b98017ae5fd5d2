/**
 * TencentCloud-CLB end to end: gamenet as its own process (`deno run
 * main.ts`, the shipped RBAC, the admission webhook), the fake Tencent
 * Cloud in this test process behind the real SDK, and the real control
 * plane with the kubelet stand-in giving Pods their IPs.
 *
 * The API server's Pods and the fake cloud's listeners are the truth:
 * every Ready Pod's status names its CLB's VIP and a listener port whose
 * only target is the Pod IP:containerPort; no listener port is given twice
 * on one CLB; no gamenet listener outlives its Pod; a Pod that found no
 * port is NotReady with a ClbPortsExhausted Event and holds no listener.
 * A gamenet restarted (SIGKILL) with nothing to do writes nothing to the
 * cloud and leaves every Ready status Ready.
 */

import assert from "node:assert/strict";
import { ControlPlane } from "../controlplane/control_plane.ts";
import { KubeletStandIn } from "../controlplane/kubelet_standin.ts";
import { FakeTencentCloud } from "../fakes/tencentcloud/fake_tencent_cloud.ts";
import type { Fault } from "../fakes/tencentcloud/fault_injector.ts";
import { KubeApiError, type KubeClient } from "../../controller/kube_client.ts";
import {
  type ContainerPort,
  NETWORK_CONF_ANNOTATION,
  NETWORK_TYPE_ANNOTATION,
  type Pod,
} from "../../providers/types.ts";
import { testRandom, testSeedFor } from "../test_seed.ts";
import { GamenetProcess } from "./gamenet_process.ts";
import { createNamespace, eventually, listPods, networkStatus } from "./helpers.ts";

const CLB = "TencentCloud-CLB";
const UDP_PORTS: ContainerPort[] = [
  { containerPort: 7777, protocol: "UDP" },
  { containerPort: 7778, protocol: "UDP" },
];
/** How often the test's gamenet sweeps its CLBs for orphans (`--clb-sweep`). */
const SWEEP_MS = 5_000;
/** The CLB actions that change something. */
const WRITES = [
  "CreateListener",
  "DeleteLoadBalancerListeners",
  "BatchRegisterTargets",
  "BatchDeregisterTargets",
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const since = (t0: number) => Math.round(performance.now() - t0);

/** A Pod asking for a network, placed on `node` (scheduling is not under test here). */
function podBody(
  name: string,
  node: string,
  type: string,
  conf: Record<string, string>,
  ports: ContainerPort[] = UDP_PORTS,
): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      labels: { app: "clb-e2e" },
      annotations: {
        [NETWORK_TYPE_ANNOTATION]: type,
        [NETWORK_CONF_ANNOTATION]: JSON.stringify(
          Object.entries(conf).map(([name, value]) => ({ name, value })),
        ),
      },
    },
    spec: {
      nodeName: node,
      terminationGracePeriodSeconds: 0,
      containers: [{ name: "gs", image: "example.invalid/gs:1", ports }],
    },
  } as Pod;
}

/** Creates a Pod; a busy API server (5xx, lost answer) is asked again. */
async function createPod(client: KubeClient, ns: string, pod: Pod): Promise<void> {
  for (let attempt = 1;; attempt++) {
    try {
      await client.request("POST", `/api/v1/namespaces/${ns}/pods`, { body: pod });
      return;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 409) return; // an earlier try landed
      const transient = !(err instanceof KubeApiError) || err.status >= 500;
      if (!transient || attempt >= 4) throw err;
      await sleep(500 * attempt);
    }
  }
}

/** Runs `fn` over `items`, `limit` at a time. */
async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

/** Deletes every Pod of `ns` and waits until the API server has none left. */
async function deleteAllPods(client: KubeClient, ns: string): Promise<void> {
  await client.request("DELETE", `/api/v1/namespaces/${ns}/pods`, {
    query: { gracePeriodSeconds: 0 },
  }).catch(() => {});
  await eventually(
    `every Pod of ${ns} gone`,
    async () => (await listPods(client, ns)).length === 0 || undefined,
    90_000,
    500,
  );
}

interface KubeEvent {
  reason: string;
  message: string;
  type: string;
  count?: number;
  involvedObject: { name: string; kind: string };
}

/** The Events of a namespace's Pods, by Pod name. */
async function podEvents(client: KubeClient, ns: string): Promise<Map<string, KubeEvent[]>> {
  const list = await client.request<{ items: KubeEvent[] }>(
    "GET",
    `/api/v1/namespaces/${ns}/events`,
    { query: { fieldSelector: "involvedObject.kind=Pod" } },
  );
  const out = new Map<string, KubeEvent[]>();
  for (const e of list.items) {
    const name = e.involvedObject.name;
    out.set(name, [...(out.get(name) ?? []), e]);
  }
  return out;
}

/** The live (not terminating) Pods of a namespace. */
async function livePods(client: KubeClient, ns: string): Promise<Pod[]> {
  return (await listPods(client, ns)).filter((p) => !p.metadata.deletionTimestamp);
}

const stateOf = (pod: Pod) => networkStatus(pod)?.currentNetworkState ?? "none";

function tally(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

const countStates = (pods: Pod[]) => tally(pods.map(stateOf));

/** A listener of the fake, with the CLB it is on. */
interface SeenListener {
  lb: string;
  vip: string;
  listenerId: string;
  name: string;
  protocol: string;
  port: number;
  /** `ip:port` of every target. */
  targets: string[];
}

function cloudListeners(cloud: FakeTencentCloud, lbs: readonly string[]): SeenListener[] {
  return lbs.flatMap((id) => {
    const lb = cloud.loadBalancer(id);
    assert.ok(lb, `the fake has ${id}`);
    return lb.listeners.map((l) => ({
      lb: id,
      vip: lb.vip,
      listenerId: l.listenerId,
      name: l.name,
      protocol: l.protocol,
      port: l.port,
      targets: l.targets.map((t) => `${t.eniIp ?? t.instanceId}:${t.port}`),
    }));
  });
}

/** `gamenet/{ns}/{pod}/{containerPort}/{TCP|UDP}`, parsed here independently of gamenet. */
function parseName(name: string) {
  const m = /^gamenet\/([^/]+)\/([^/]+)\/(\d+)\/(TCP|UDP)$/.exec(name);
  return m ? { ns: m[1], pod: m[2], containerPort: Number(m[3]), protocol: m[4] } : undefined;
}

/** What {@linkcode clbProblems} found, and the listeners it looked at. */
interface ClbReport {
  problems: string[];
  listeners: SeenListener[];
  states: Record<string, number>;
}

/**
 * Every check of the fake against the Pods of `ns` (all expected in the
 * listed CLBs): the problems found, as text, so that a poll can wait for
 * none and a failure can say which.
 *
 * - no listener port+protocol twice on one CLB, no external VIP:port twice
 *   among the statuses;
 * - every listener is gamenet's and belongs to a live Pod of `ns` (no orphan);
 * - every Ready Pod: per conf port exactly one listener, named after it,
 *   with exactly its Pod IP:containerPort as target, all on one CLB, and a
 *   status whose external address is that CLB's VIP and those ports and
 *   whose internal address is the Pod IP and its containerPorts;
 * - every Pod that is not Ready holds no listener.
 */
function clbProblems(
  cloud: FakeTencentCloud,
  lbs: readonly string[],
  ns: string,
  pods: Pod[],
  ports: ContainerPort[] = UDP_PORTS,
): ClbReport {
  const problems: string[] = [];
  const listeners = cloudListeners(cloud, lbs);
  const live = new Map(pods.map((p) => [p.metadata.name!, p]));
  const byPod = new Map<string, SeenListener[]>();
  const places = new Map<string, string>();
  for (const l of listeners) {
    const where = `${l.lb} ${l.port}/${l.protocol}`;
    if (places.has(where)) problems.push(`${where} held by ${places.get(where)} and ${l.name}`);
    places.set(where, l.name);
    const parsed = parseName(l.name);
    if (!parsed || parsed.ns !== ns) {
      problems.push(`unexpected listener ${l.listenerId} "${l.name}" on ${where}`);
      continue;
    }
    if (!live.has(parsed.pod)) {
      problems.push(`orphan listener ${l.listenerId} "${l.name}" on ${where}: no live Pod`);
      continue;
    }
    byPod.set(parsed.pod, [...(byPod.get(parsed.pod) ?? []), l]);
  }
  const addresses = new Map<string, string>();
  for (const pod of pods) {
    const name = pod.metadata.name!;
    const status = networkStatus(pod);
    const held = byPod.get(name) ?? [];
    if (status?.currentNetworkState !== "Ready") {
      if (held.length > 0 && status?.currentNetworkState === "NotReady") {
        problems.push(`${name} is NotReady but holds ${held.map((l) => l.name).join(", ")}`);
      }
      continue;
    }
    const ip = pod.status?.podIP;
    if (held.length !== ports.length) {
      problems.push(`${name} is Ready with ${held.length} listeners for ${ports.length} ports`);
    }
    const ext = status.externalAddresses ?? [];
    const int = status.internalAddresses ?? [];
    // OpenKruiseGame's shape for TencentCloud-CLB: one address entry per listener.
    if (ext.length !== ports.length || int.length !== ports.length) {
      problems.push(`${name}: ${ext.length} external and ${int.length} internal addresses`);
      continue;
    }
    if (int.some((a) => a.ip !== ip)) problems.push(`${name}: internal IP is not Pod IP ${ip}`);
    const extPorts = ext.flatMap((a) => a.ports ?? []);
    const intPorts = int.flatMap((a) => a.ports ?? []);
    for (const p of ports) {
      const mine = held.filter((l) =>
        l.name === `gamenet/${ns}/${name}/${p.containerPort}/${p.protocol}`
      );
      if (mine.length !== 1) {
        problems.push(`${name}: ${mine.length} listeners for ${p.containerPort}/${p.protocol}`);
        continue;
      }
      const l = mine[0];
      if (l.protocol !== p.protocol) problems.push(`${name}: listener ${l.name} is ${l.protocol}`);
      if (l.targets.join() !== `${ip}:${p.containerPort}`) {
        problems.push(`${name}: listener ${l.lb} ${l.port}/${l.protocol} targets [${l.targets}]`);
      }
      if (ext.some((a) => a.ip !== l.vip)) {
        problems.push(`${name}: external IP ${ext[0].ip}, its listener is on ${l.lb} (${l.vip})`);
      }
      const i = intPorts.findIndex((x) => x.port === p.containerPort && x.protocol === p.protocol);
      const e = extPorts[i];
      if (i < 0 || e?.port !== l.port || e?.protocol !== l.protocol) {
        problems.push(
          `${name}: status ${
            JSON.stringify(extPorts)
          } does not name ${l.lb} ${l.port}/${l.protocol}`,
        );
      }
    }
    for (const e of extPorts) {
      const key = `${ext[0].ip}:${e.port}/${e.protocol}`;
      if (addresses.has(key)) {
        problems.push(`${key} in the status of ${addresses.get(key)} and ${name}`);
      }
      addresses.set(key, name);
    }
  }
  return { problems, listeners, states: countStates(pods) };
}

/** Formats the first problems for an error message. */
function summary(report: ClbReport): string {
  const more = report.problems.length > 8 ? ` (+${report.problems.length - 8} more)` : "";
  return `states ${JSON.stringify(report.states)}, ${report.listeners.length} listeners, ` +
    `${report.problems.length} problems: ${report.problems.slice(0, 8).join("; ")}${more}`;
}

/** Starts gamenet against `cloud` and waits for it to lead. */
async function startGamenet(
  cp: ControlPlane,
  cloud: FakeTencentCloud,
  lbs: readonly string[],
  options: { webhookPort?: number; secretKey?: string; waitReady?: boolean } = {},
): Promise<GamenetProcess> {
  const { args, env } = cloud.gamenetFlags(lbs);
  const gamenet = await GamenetProcess.start(cp, {
    args: [...args, `--clb-sweep=${SWEEP_MS / 1000}s`],
    env: { ...env, TENCENTCLOUD_SECRET_KEY: options.secretKey ?? cloud.secretKey },
    webhookPort: options.webhookPort,
    registerWebhook: options.webhookPort === undefined,
  });
  if (options.waitReady === false) return gamenet;
  try {
    await gamenet.waitReady(60_000);
  } catch (err) {
    await gamenet.kill("SIGKILL");
    throw err;
  }
  return gamenet;
}

Deno.test("TencentCloud-CLB: gamenet process against the fake Tencent Cloud", async (t) => {
  await using cp = await ControlPlane.start();
  const admin = cp.client("admin");
  await using kubelet = new KubeletStandIn(admin, { concurrency: 16 });
  const nodes = await kubelet.addNodes(3, { prefix: "clb-node" });
  kubelet.start();
  const durations: Record<string, number> = {};

  await t.step("300 Pods × 2 UDP ports on 3 CLBs of 100 ports", async (s) => {
    const t0 = performance.now();
    const ns = "clb-capacity";
    const lbs = ["lb-e2e0001", "lb-e2e0002", "lb-e2e0003"];
    await createNamespace(admin, ns);
    await using cloud = await FakeTencentCloud.start({
      // 100 listeners per CLB: above the default quota of 50, raised as users do.
      loadBalancers: lbs.map((id, i) => ({ id, vip: `139.155.10.${11 + i}`, listenerQuota: 100 })),
      listenerQuota: 100,
      rateLimitPerSecond: 20,
      taskDurationMs: 100,
      seed: testSeedFor("step 1 cloud"),
    });
    let gamenet: GamenetProcess | undefined;
    try {
      gamenet = await startGamenet(cp, cloud, lbs);
      const conf = {
        ClbIds: lbs.join(","),
        PortProtocols: "7777/UDP,7778/UDP",
        MinPort: "501",
        MaxPort: "600",
      };
      const names = Array.from({ length: 300 }, (_, i) => `gs-${String(i).padStart(3, "0")}`);
      await forEachLimited(
        names,
        16,
        (name) =>
          createPod(
            admin,
            ns,
            podBody(name, nodes[Number(name.slice(3)) % nodes.length], CLB, conf),
          ),
      );
      console.log(`step 1: 300 Pods created after ${since(t0)} ms`);

      await s.step(
        "exactly 150 Ready matching the fake, 150 NotReady with ClbPortsExhausted",
        async () => {
          const pods = await eventually(
            "150 Pods Ready and 150 NotReady",
            async () => {
              const pods = await livePods(admin, ns);
              const states = countStates(pods);
              if (
                pods.length === 300 && states.Ready === 150 && states.NotReady === 150
              ) return pods;
              throw new Error(`${pods.length} Pods: ${JSON.stringify(states)}`);
            },
            180_000,
            500,
          );
          console.log(`step 1: 150 Ready / 150 NotReady after ${since(t0)} ms`);
          // Read again with the fake: still 150 and 150 (no 151st Pod got a port).
          const report = await eventually(
            "the fake to match the Pods",
            async () => {
              const r = clbProblems(cloud, lbs, ns, await livePods(admin, ns));
              if (r.problems.length === 0 && r.listeners.length === 300) return r;
              throw new Error(summary(r));
            },
            30_000,
            500,
          );
          assert.deepEqual(report.states, { Ready: 150, NotReady: 150 });
          assert.equal(report.listeners.length, 300, "the fake holds 300 listeners");
          for (const lb of lbs) {
            const on = report.listeners.filter((l) => l.lb === lb);
            assert.equal(on.length, 100, `${lb} holds 100 listeners`);
            assert.ok(on.every((l) => l.port >= 501 && l.port <= 600), `${lb}: ports in 501-600`);
          }
          const notReady = pods.filter((p) => stateOf(p) === "NotReady").map((p) =>
            p.metadata.name!
          );
          await eventually(
            "a ClbPortsExhausted Event on every NotReady Pod",
            async () => {
              const events = await podEvents(admin, ns);
              const missing = notReady.filter((n) =>
                !events.get(n)?.some((e) => e.reason === "ClbPortsExhausted")
              );
              if (missing.length === 0) return true;
              throw new Error(`${missing.length} without it, e.g. ${missing[0]}`);
            },
            30_000,
            500,
          );
          const ready = pods.filter((p) => stateOf(p) === "Ready").map((p) => p.metadata.name!);
          const events = await podEvents(admin, ns);
          const wrong = ready.filter((n) =>
            events.get(n)?.some((e) => e.reason === "ClbPortsExhausted")
          );
          console.log(
            `step 1: ${wrong.length} Ready Pods had a ClbPortsExhausted Event; ` +
              `cloud ${JSON.stringify(cloud.stats())}`,
          );
        },
      );

      await s.step(
        "30 Ready Pods deleted: their listeners go, 30 waiting Pods get Ready",
        async () => {
          const pods = await livePods(admin, ns);
          const ready = pods.filter((p) => stateOf(p) === "Ready");
          // Ten from each CLB.
          const victims = lbs.flatMap((_, i) =>
            ready.filter((p) =>
              networkStatus(p)!.externalAddresses[0].ip === `139.155.10.${11 + i}`
            )
              .slice(0, 10)
          ).map((p) => p.metadata.name!);
          assert.equal(victims.length, 30);
          const deletedAt = performance.now();
          await forEachLimited(victims, 10, async (name) => {
            await admin.request("DELETE", `/api/v1/namespaces/${ns}/pods/${name}`, {
              query: { gracePeriodSeconds: 0 },
            });
          });
          const report = await eventually(
            "270 Pods: 150 Ready, 120 NotReady, the fake matching them",
            async () => {
              const pods = await livePods(admin, ns);
              const r = clbProblems(cloud, lbs, ns, pods);
              if (
                pods.length === 270 && r.states.Ready === 150 && r.states.NotReady === 120 &&
                r.problems.length === 0 && r.listeners.length === 300
              ) return r;
              throw new Error(`${pods.length} Pods; ${summary(r)}`);
            },
            60_000,
            500,
          );
          console.log(`step 1: 30 deleted → 30 more Ready in ${since(deletedAt)} ms`);
          const left = report.listeners.filter((l) => victims.includes(parseName(l.name)!.pod));
          assert.deepEqual(left, [], "no listener of a deleted Pod");
        },
      );
      console.log(`step 1: cloud ${JSON.stringify(cloud.stats())}`);
      // The SDK's HTTP stack requires Node's deprecated punycode module: not on the user's log.
      assert.doesNotMatch(await gamenet!.logText(), /DeprecationWarning/);
    } catch (err) {
      if (gamenet) console.error(await gamenet.logTail(40));
      throw err;
    } finally {
      await deleteAllPods(admin, ns).catch((e) => console.error(`cleanup: ${e.message}`));
      await gamenet?.kill("SIGTERM");
      durations.step1 = since(t0);
      console.log(`step 1 took ${durations.step1} ms`);
    }
  });

  await t.step("faults and throttling, and SIGKILL mid-flight 5 times", async (s) => {
    const t0 = performance.now();
    const ns = "clb-chaos";
    const lbs = ["lb-e2e0101", "lb-e2e0102", "lb-e2e0103"];
    await createNamespace(admin, ns);
    // About one call in five fails: writes roll all three, reads the first two.
    const faults: Fault[] = [
      { kind: "http", status: 503, rate: 0.08 },
      { kind: "error", code: "InternalError", rate: 0.08 },
      { kind: "taskFailure", rate: 0.06 },
    ];
    await using cloud = await FakeTencentCloud.start({
      loadBalancers: lbs.map((id, i) => ({ id, vip: `139.155.20.${11 + i}`, listenerQuota: 100 })),
      listenerQuota: 100,
      rateLimitPerSecond: 10,
      // Batch(De)RegisterTargets are synchronous and polled no more: the
      // polls of CreateListener and DeleteLoadBalancerListeners alone stay
      // under 10/s, so they get a lower limit to keep throttling in play.
      rateLimits: { DescribeTaskStatus: 3 },
      taskDurationMs: 200,
      faults,
      seed: testSeedFor("step 2 cloud"),
    });
    let gamenet = await startGamenet(cp, cloud, lbs);
    const webhookPort = gamenet.webhookPort;
    try {
      await s.step(
        "100 Pods in 5 waves, a SIGKILL 1–4 s into each (a Pod deleted while down): all Ready, the fake consistent",
        async () => {
          const conf = {
            ClbIds: lbs.join(","),
            PortProtocols: "7777/UDP,7778/UDP",
            MinPort: "501",
            MaxPort: "600",
          };
          const deleted: string[] = [];
          // When each SIGKILL comes: this run's seed, printed, replays it.
          const killAt = testRandom("step 2 kills");
          for (let wave = 0; wave < 5; wave++) {
            // Each wave asks for 40 listeners; the kill comes while they are written.
            const names = Array.from(
              { length: 20 },
              (_, i) => `cs-${String(wave * 20 + i).padStart(3, "0")}`,
            );
            await forEachLimited(names, 10, (name) =>
              createPod(
                admin,
                ns,
                podBody(name, nodes[Number(name.slice(3)) % nodes.length], CLB, conf),
              ));
            const before = cloud.stats();
            await sleep(1_000 + killAt() * 3_000);
            const pods = await livePods(admin, ns);
            const listeners = cloudListeners(cloud, lbs);
            await gamenet.kill("SIGKILL");
            const after = cloud.stats();
            const written = WRITES.reduce(
              (n, a) => n + (after.calls[a] ?? 0) - (before.calls[a] ?? 0),
              0,
            );
            console.log(
              `step 2: SIGKILL ${wave + 1} at ${since(t0)} ms: ${pods.length} Pods ` +
                `${JSON.stringify(countStates(pods))}, ${listeners.length} listeners ` +
                `(${listeners.filter((l) => l.targets.length > 0).length} with a target), ` +
                `${written} write calls since the wave`,
            );
            // A Pod with listeners deleted while gamenet is down: the next
            // one never sees it go and must find its listeners orphaned.
            const owners = new Set(listeners.map((l) => parseName(l.name)?.pod));
            const victim = pods.map((p) => p.metadata.name!).find((n) =>
              owners.has(n) && !deleted.includes(n)
            );
            if (victim) {
              deleted.push(victim);
              await admin.request("DELETE", `/api/v1/namespaces/${ns}/pods/${victim}`, {
                query: { gracePeriodSeconds: 0 },
              });
              await eventually(
                `${victim} gone`,
                async () => {
                  const left = await listPods(admin, ns);
                  return left.every((p) => p.metadata.name !== victim) || undefined;
                },
                20_000,
                250,
              );
            }
            gamenet = await startGamenet(cp, cloud, lbs, { webhookPort });
          }
          const expected = 100 - deleted.length;
          console.log(`step 2: deleted while gamenet was down: ${deleted.join(", ")}`);
          const statsAtClear = cloud.stats();
          cloud.clearFaults();
          const clearedAt = performance.now();
          await eventually(
            `all ${expected} Pods Ready`,
            async () => {
              const pods = await livePods(admin, ns);
              const states = countStates(pods);
              if (pods.length === expected && states.Ready === expected) return true;
              throw new Error(`${pods.length} Pods: ${JSON.stringify(states)}`);
            },
            150_000,
            500,
          );
          console.log(`step 2: all Ready ${since(clearedAt)} ms after the faults were cleared`);
          const readyAt = performance.now();
          // Orphans made by a killed process go at the latest with the next sweep.
          const report = await eventually(
            "the fake to match the Pods (no orphan, no missing target)",
            async () => {
              const r = clbProblems(cloud, lbs, ns, await livePods(admin, ns));
              if (r.problems.length === 0) return r;
              throw new Error(summary(r));
            },
            SWEEP_MS * 2 + 5_000,
            500,
          );
          console.log(`step 2: the fake matched ${since(readyAt)} ms after all were Ready`);
          assert.equal(report.listeners.length, expected * 2);
          assert.deepEqual(report.states, { Ready: expected });
          assert.ok(deleted.length > 0, "Pods with listeners were deleted while gamenet was down");
          const left = report.listeners.filter((l) => deleted.includes(parseName(l.name)!.pod));
          assert.deepEqual(left, [], "no listener of a Pod deleted while gamenet was down");
          console.log(
            `step 2: cloud at clear ${JSON.stringify(statsAtClear)}; now ${
              JSON.stringify(cloud.stats())
            }`,
          );
          const reasons = [...(await podEvents(admin, ns)).values()].flat()
            .filter((e) => e.type === "Warning").map((e) => e.reason);
          console.log(`step 2: Warning Events by reason ${JSON.stringify(tally(reasons))}`);
          assert.ok(statsAtClear.faults > 0, "faults were injected");
          assert.ok(statsAtClear.throttled > 0, "calls were throttled");
        },
      );

      await s.step(
        "a restart with nothing to do: every Pod stays Ready, no cloud write",
        async () => {
          const before = cloud.stats();
          await gamenet.kill("SIGKILL");
          gamenet = await startGamenet(cp, cloud, lbs, { webhookPort });
          const restartedAt = performance.now();
          // Watch the statuses for three sweeps, and until every Pod is Ready again.
          const notReady = new Map<string, string>();
          let worst = 0;
          let allReadyAgainAt = 0;
          while (since(restartedAt) < 90_000) {
            const pods = await livePods(admin, ns);
            const off = pods.filter((p) => stateOf(p) !== "Ready");
            for (const p of off) {
              if (!notReady.has(p.metadata.name!)) notReady.set(p.metadata.name!, stateOf(p));
            }
            worst = Math.max(worst, off.length);
            if (off.length > 0) allReadyAgainAt = 0;
            else allReadyAgainAt ||= since(restartedAt);
            if (allReadyAgainAt > 0 && since(restartedAt) > SWEEP_MS * 3) break;
            await sleep(250);
          }
          const after = cloud.stats();
          const delta = (a: string) => (after.calls[a] ?? 0) - (before.calls[a] ?? 0);
          console.log(
            `step 2 restart: ${notReady.size} Pods left Ready (at most ${worst} at once, states ` +
              `${JSON.stringify(tally([...notReady.values()]))}` +
              `), all Ready again ${allReadyAgainAt || "never"} ms after ready; cloud calls ` +
              `${
                JSON.stringify(
                  Object.fromEntries(Object.keys(after.calls).map((a) => [a, delta(a)])),
                )
              }` +
              `, throttled ${after.throttled - before.throttled}`,
          );
          const r = clbProblems(cloud, lbs, ns, await livePods(admin, ns));
          assert.deepEqual(r.problems, [], summary(r));
          assert.deepEqual(
            Object.fromEntries(WRITES.map((a) => [a, delta(a)])),
            Object.fromEntries(WRITES.map((a) => [a, 0])),
            "no cloud write after a restart with nothing to do",
          );
          assert.deepEqual(
            [...notReady].slice(0, 5),
            [],
            `${notReady.size} Pods were rewritten from Ready to another state by a restart ` +
              "that had nothing to do",
          );
        },
      );
    } catch (err) {
      console.error(await gamenet.logTail(60));
      throw err;
    } finally {
      await deleteAllPods(admin, ns).catch((e) => console.error(`cleanup: ${e.message}`));
      await gamenet.kill("SIGTERM");
      durations.step2 = since(t0);
      console.log(`step 2 took ${durations.step2} ms`);
    }
  });

  await t.step("bad input", async (s) => {
    const t0 = performance.now();
    const ns = "clb-bad";
    const lb = "lb-e2e0201";
    await createNamespace(admin, ns);
    await using cloud = await FakeTencentCloud.start({
      loadBalancers: [{ id: lb, vip: "139.155.30.11" }],
      taskDurationMs: 50,
      seed: testSeedFor("step 3 cloud"),
    });
    let gamenet = await startGamenet(cp, cloud, [lb]);
    const webhookPort = gamenet.webhookPort;
    const good = { ClbIds: lb, PortProtocols: "7777/UDP", MinPort: "501", MaxPort: "600" };
    const podNamed = async (name: string) =>
      (await livePods(admin, ns)).find((p) => p.metadata.name === name);
    /** Waits for `name` to be NotReady with an Event of one of `reasons` whose message has `text`. */
    const notReadyWith = (name: string, reasons: string[], text: string) =>
      eventually(
        `${name} NotReady with an Event naming ${text}`,
        async () => {
          const pod = await podNamed(name);
          const events = (await podEvents(admin, ns)).get(name) ?? [];
          const event = events.find((e) => reasons.includes(e.reason) && e.message.includes(text));
          if (pod && stateOf(pod) === "NotReady" && event) return event;
          throw new Error(
            `state ${pod && stateOf(pod)}, events ${
              JSON.stringify(events.map((e) => [e.reason, e.message]))
            }`,
          );
        },
        30_000,
        500,
      );
    /** Creates a Pod that the webhook must refuse; returns the API server's error. */
    const refused = async (name: string, portProtocols: string) => {
      const err = await admin.request("POST", `/api/v1/namespaces/${ns}/pods`, {
        body: podBody(name, nodes[0], CLB, { ...good, PortProtocols: portProtocols }),
      }).then(() => undefined, (e) => e);
      assert.ok(err instanceof KubeApiError, `${portProtocols}: expected a refusal, got ${err}`);
      assert.ok(err.status >= 400 && err.status < 500, `${err.status}: ${err.message}`);
      assert.match(err.message, /denied/, err.message);
      assert.ok(
        err.message.includes(portProtocols),
        `message names "${portProtocols}": ${err.message}`,
      );
      assert.equal(await podNamed(name), undefined, `${name} was not created`);
      return err;
    };
    try {
      await s.step("a valid Pod on the fake's CLB gets Ready (the control case)", async () => {
        await createPod(admin, ns, podBody("valid", nodes[0], CLB, good, [UDP_PORTS[0]]));
        await eventually(
          "valid Ready",
          async () => {
            const pod = await podNamed("valid");
            return pod && stateOf(pod) === "Ready" || undefined;
          },
          30_000,
          500,
        );
        const r = clbProblems(cloud, [lb], ns, await livePods(admin, ns), [UDP_PORTS[0]]);
        assert.deepEqual(r.problems, []);
        assert.equal(r.listeners.length, 1);
      });

      await s.step(
        "(a) ClbIds naming a CLB the cloud does not have: NotReady, Event names it",
        async () => {
          await createPod(
            admin,
            ns,
            podBody("ghost-lb", nodes[0], CLB, { ...good, ClbIds: "lb-nothere1" }, [UDP_PORTS[0]]),
          );
          const event = await notReadyWith(
            "ghost-lb",
            ["ClbNotFound", "ClbRequestFailed"],
            "lb-nothere1",
          );
          console.log(`step 3a: ${event.reason}: ${event.message}`);
        },
      );

      await s.step(
        "(b) malformed PortProtocols: the webhook denies the Pod, naming the value",
        async () => {
          for (const [name, value] of [["bad-slash", "7777/UDP/x"], ["bad-abc", "abc"]]) {
            const err = await refused(name, value);
            console.log(`step 3b: ${value}: ${err.status} ${err.message}`);
          }
        },
      );

      await s.step(
        "(c) a protocol CLB does not offer (SCTP): the webhook denies the Pod",
        async () => {
          const err = await refused("bad-sctp", "7777/SCTP");
          console.log(`step 3c: ${err.status} ${err.message}`);
        },
      );

      await s.step(
        "(d) wrong credentials: AuthFailure.SignatureFailure Event, other types unaffected",
        async () => {
          await gamenet.kill("SIGTERM");
          const before = cloud.stats().authFailures;
          gamenet = await startGamenet(cp, cloud, [lb], {
            webhookPort,
            secretKey: "not-the-key-the-fake-knows-000000",
          });
          await createPod(admin, ns, podBody("wrong-key", nodes[1], CLB, good, [UDP_PORTS[0]]));
          await createPod(
            admin,
            ns,
            podBody("none-ok", nodes[1], "Kubernetes-None", { ContainerPorts: "gs:7777/UDP" }, [
              UDP_PORTS[0],
            ]),
          );
          const event = await notReadyWith(
            "wrong-key",
            ["ClbRequestFailed"],
            "AuthFailure.SignatureFailure",
          );
          console.log(`step 3d: ${event.reason}: ${event.message}`);
          assert.ok(!event.message.includes("not-the-key"), "the secret key is not in the Event");
          const none = await eventually(
            "none-ok Ready",
            async () => {
              const pod = await podNamed("none-ok");
              return pod && stateOf(pod) === "Ready" ? pod : undefined;
            },
            30_000,
            500,
          );
          const status = networkStatus(none)!;
          assert.equal(status.externalAddresses[0].ip, none.status!.podIP);
          assert.ok(cloud.stats().authFailures > before, "the fake refused the signature");
          const log = await Deno.readTextFile(gamenet.logFile);
          assert.ok(!log.includes("not-the-key"), "the secret key is not logged");
          console.log(`step 3d: states ${JSON.stringify(countStates(await livePods(admin, ns)))}`);
        },
      );
    } catch (err) {
      console.error(await gamenet.logTail(40));
      throw err;
    } finally {
      await deleteAllPods(admin, ns).catch((e) => console.error(`cleanup: ${e.message}`));
      await gamenet.kill("SIGTERM");
      durations.step3 = since(t0);
      console.log(`step 3 took ${durations.step3} ms; cloud ${JSON.stringify(cloud.stats())}`);
    }
  });
  console.log(`durations ${JSON.stringify(durations)}`);
});
