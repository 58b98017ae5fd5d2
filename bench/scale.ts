/**
 * One gamenet leader at scale, as a process with the shipped flags (the
 * V8 flags of the image, `--leader-elect=true --workers=8` of
 * `deploy/deployment.yaml`), on two back ends:
 *
 * - `real`: the real kube-apiserver (no scheduler and no
 *   controller-manager: Pods are created with `spec.nodeName` set, the
 *   kubelet stand-in marks them Running with IPs). `gamePods` game servers
 *   (60 % `Kubernetes-HostPort` with two ports, 30 % `Kubernetes-None`,
 *   10 % `TencentCloud-CLB` with one UDP port on the fake cloud) and
 *   `otherPods` plain Pods on `nodes` nodes, created while gamenet runs (its
 *   webhook admits them, it writes their status and the listeners); then
 *   the state is recorded (`.cache/scale/recording.json`) and gamenet is
 *   RESTARTED (SIGTERM, a new process) and measured.
 * - `stub`: the recording replicated `copies` times (renamed, see
 *   `scale/recording.ts`) behind `scale/api_stub.ts`, which serves LIST and
 *   WATCH of Pods and Nodes from those bytes and proxies everything else to
 *   a real API server; the fake cloud holds every copy's listeners.
 *
 * Measured on the restarted gamenet: start (spawn → Pods listed → handled
 * → Lease → `/readyz` 200, phases from its log), the first reconcile of
 * every Pod (until its CPU is quiet), VmHWM and the steady VmRSS, CPU per
 * Pod change (`touch` game-server Pods get a label: gamenet's utime+stime
 * delta ÷ Pods, idle rate subtracted), and admission p50/p99 from
 * `admission_load.ts` at `rate`/s straight to the webhook, once idle and
 * once while a full resync runs (`--resync` shortened to `resync` s), with
 * gamenet's own webhook histogram for the same windows.
 *
 * ```sh
 * deno run --allow-all bench/scale.ts real [gamePods=20000] [nodes=1000] [otherPods=4000]
 * deno run --allow-all bench/scale.ts stub [copies=5]
 * ```
 * Environment: `SCALE_TOUCH` Pods changed (default 2000), `SCALE_RATE`
 * admissions/s (default 200), `SCALE_RESYNC` seconds (default 150),
 * `SCALE_CPU_PROF=dir` runs the measured gamenet with `--cpu-prof`. gamenet
 * reaches the API server (or the stub, over HTTPS) as a shipped Pod does:
 * in-cluster, the service account's token and CA mounted where a Pod has
 * them (a mount namespace of its own; run as root); `SCALE_KUBECONFIG=1`
 * gives it a kubeconfig instead, which loads the kubeconfig library
 * (about 50 MiB more RSS).
 * @module
 */

import { log } from "./log.ts";
import { join } from "node:path";
import { ControlPlane } from "../tests/controlplane/control_plane.ts";
import { ensureControlPlaneAssets, REPO_ROOT } from "../tests/controlplane/assets.ts";
import { KubeletStandIn } from "../tests/controlplane/kubelet_standin.ts";
import { GamenetProcess, type InClusterAccess } from "../tests/e2e/gamenet_process.ts";
import { FakeTencentCloud } from "../tests/fakes/tencentcloud/fake_tencent_cloud.ts";
import { KubeClient } from "../controller/kube_client.ts";
import { type KubeObject, Reflector } from "../controller/reflector.ts";
import {
  NETWORK_CONF_ANNOTATION,
  NETWORK_STATUS_ANNOTATION,
  NETWORK_TYPE_ANNOTATION,
} from "../providers/types.ts";
import { admissionLoad, histogramBuckets, histogramQuantile } from "./admission_load.ts";
import { sample, startPhases, waitQuiet, waitReadyz } from "./scale/gamenet_probe.ts";
import { listItems, type Recording } from "./scale/recording.ts";
import {
  CLB_PODS_PER_LB,
  ensureNamespace,
  GS_NS,
  OTHER_NS,
  RECORDING,
  StubCluster,
} from "./scale/stub_cluster.ts";

const MODE = Deno.args[0] ?? "real";
const TOUCH = Number(Deno.env.get("SCALE_TOUCH") ?? 2000);
const RATE = Number(Deno.env.get("SCALE_RATE") ?? 200);
const RESYNC_S = Number(Deno.env.get("SCALE_RESYNC") ?? 150);
const CPU_PROF = Deno.env.get("SCALE_CPU_PROF");

interface Measured {
  backEnd: string;
  gamePods: number;
  otherPods: number;
  nodes: number;
  readyMs: number;
  /** gamenet's CPU (utime + stime) from spawn to ready: the start's cost, whatever the load. */
  cpuAtReadyMs: number;
  phases: ReturnType<typeof startPhases>;
  firstPassMs: number;
  hwmAtReadyMiB: number;
  hwmMiB: number;
  steadyRssMiB: number;
  cpuPerEventMs: number;
  touched: number;
  idle: Admission;
  resync: Admission;
  stub?: unknown;
  /** Game-server Pods the first gamenet left without network Ready (real back end). */
  notReady?: number;
}

interface Admission {
  rate: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  failed: number;
  /** Reconciles gamenet finished in the window (a resync's are in it). */
  reconciles: number;
  /** gamenet's own histogram over the same window. */
  ownP50Ms: number;
  ownP99Ms: number;
}

/** Runs `fn` over `items`, `limit` at a time. */
async function forEach<T>(items: T[], limit: number, fn: (t: T) => Promise<unknown>) {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

/** Pod `i` of the mix: 60 % HostPort, 30 % None, 10 % CLB by `i % 10`. */
function gamePod(i: number, node: string, lbs: string[]) {
  const kind = i % 10;
  const id = String(i).padStart(6, "0");
  const [type, name, conf, ports] = kind < 6
    ? ["Kubernetes-HostPort", `hp-${id}`, [{
      name: "ContainerPorts",
      value: "gs:7777/UDP,7778/TCP",
    }], [
      { containerPort: 7777, protocol: "UDP" },
      { containerPort: 7778, protocol: "TCP" },
    ]]
    : kind < 9
    ? ["Kubernetes-None", `none-${id}`, undefined, [{ containerPort: 7777, protocol: "UDP" }]]
    : ["TencentCloud-CLB", `clb-${id}`, [
      { name: "ClbIds", value: lbs.join(",") },
      { name: "PortProtocols", value: "7777/UDP" },
      { name: "MinPort", value: "501" },
      { name: "MaxPort", value: String(500 + CLB_PODS_PER_LB) },
    ], [{ containerPort: 7777, protocol: "UDP" }]];
  return {
    metadata: {
      name,
      labels: { app: "gs", type: String(type).toLowerCase() },
      annotations: {
        [NETWORK_TYPE_ANNOTATION]: type,
        ...(conf ? { [NETWORK_CONF_ANNOTATION]: JSON.stringify(conf) } : {}),
      },
    },
    spec: {
      nodeName: node,
      terminationGracePeriodSeconds: 0,
      containers: [{ name: "gs", image: "example.invalid/gs:1", ports }],
    },
  };
}

function otherPod(i: number, node: string) {
  return {
    metadata: { name: `other-${String(i).padStart(6, "0")}`, labels: { app: "other" } },
    spec: {
      nodeName: node,
      terminationGracePeriodSeconds: 0,
      containers: [{ name: "app", image: "example.invalid/app:1", ports: [{ containerPort: 80 }] }],
    },
  };
}

/** How gamenet reaches the API server: as a Pod does, or by a kubeconfig (`SCALE_KUBECONFIG`). */
type Access = { kubeconfig: string; inCluster: InClusterAccess };

const BY_KUBECONFIG = Deno.env.get("SCALE_KUBECONFIG") === "1";
const ACCESS_NAME = BY_KUBECONFIG ? "by a kubeconfig" : "in-cluster";

/** The real API server as gamenet's kubeconfig or a Pod reaches it. */
function realAccess(cp: ControlPlane): Access {
  return {
    kubeconfig: cp.kubeconfigPath("gamenet"),
    inCluster: { server: cp.server, token: cp.token("gamenet"), caPem: cp.ca.certPem },
  };
}

/** gamenet as `GamenetProcess` runs it, with `deploy/`'s flags, reaching the API server by `access`. */
async function startGamenet(
  cp: ControlPlane,
  access: Access,
  args: string[],
  env: Record<string, string>,
): Promise<GamenetProcess> {
  return await GamenetProcess.start(cp, {
    ...(BY_KUBECONFIG ? { kubeconfig: access.kubeconfig } : { inCluster: access.inCluster }),
    denoFlags: CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${CPU_PROF}`] : [],
    args: ["--leader-elect=true", "--workers=8", "--log-level=info", ...args],
    env,
  });
}

async function admission(gamenet: GamenetProcess, durationMs: number): Promise<Admission> {
  const name = "gamenet_webhook_duration_seconds";
  // Two scrapes only, around the window: each costs gamenet a walk of every
  // allocation (over 5 s at 120,000 Pods), which would load what is measured.
  const scrape = async () => {
    const res = await fetch(`http://127.0.0.1:${gamenet.httpPort}/metrics`, {
      signal: AbortSignal.timeout(120_000),
    });
    return await res.text();
  };
  const reconciles = (m: string) =>
    [...m.matchAll(/^gamenet_reconcile_duration_seconds_count\{[^}]*\} (\S+)/gm)]
      .reduce((n, x) => n + Number(x[1]), 0);
  const m0 = await scrape();
  const before = histogramBuckets(m0, name);
  const r = await admissionLoad({
    ...gamenet.webhookTarget(),
    rate: RATE,
    durationMs,
    namespace: GS_NS,
  });
  const m1 = await scrape();
  const after = histogramBuckets(m1, name);
  return {
    rate: r.achievedRate,
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms,
    maxMs: r.maxMs,
    failed: r.failed + r.refused,
    ownP50Ms: histogramQuantile(before, after, 0.5) * 1000,
    ownP99Ms: histogramQuantile(before, after, 0.99) * 1000,
    reconciles: reconciles(m1) - reconciles(m0),
  };
}

/**
 * Starts gamenet and measures it (see the module documentation); `touch`
 * changes that many game-server Pods' labels.
 */
async function measure(
  cp: ControlPlane,
  access: Access,
  cloud: { args: string[]; env: Record<string, string> },
  touch: (n: number) => Promise<number>,
): Promise<Omit<Measured, "backEnd" | "gamePods" | "otherPods" | "nodes">> {
  // The log file is the identity's, appended to by every start: read this start's part only.
  const logFile = join(cp.dir, "gamenet-gamenet-0.log");
  const logFrom = await Deno.stat(logFile).then((s) => s.size, () => 0);
  const spawnWall = Date.now();
  const t0 = performance.now();
  const gamenet = await startGamenet(
    cp,
    access,
    [...cloud.args, `--resync=${RESYNC_S}s`],
    cloud.env,
  );
  try {
    await waitReadyz(gamenet.httpPort, 600_000);
    const readyMs = performance.now() - t0;
    const atReady = sample(gamenet.pid);
    log(
      `ready after ${(readyMs / 1000).toFixed(1)} s (CPU ${
        (atReady.cpuMs / 1000).toFixed(1)
      } s), ` +
        `VmHWM ${atReady.hwmMiB.toFixed(0)} MiB`,
    );
    const quiet = await waitQuiet(gamenet.pid);
    const firstPassMs = quiet.at - t0 - readyMs;
    const phases = startPhases(
      new TextDecoder().decode((await Deno.readFile(logFile)).subarray(logFrom)),
      spawnWall,
    );
    log(
      `first pass over every Pod done ${(firstPassMs / 1000).toFixed(1)} s after ready; ${
        JSON.stringify(phases)
      }`,
    );
    const idle = await admission(gamenet, 10_000);
    log(`admission idle: ${JSON.stringify(idle)}`);
    await waitQuiet(gamenet.pid);
    // CPU per change: idle rate measured first, then subtracted.
    const i0 = sample(gamenet.pid);
    await new Promise((r) => setTimeout(r, 5_000));
    const i1 = sample(gamenet.pid);
    const idleRate = (i1.cpuMs - i0.cpuMs) / (i1.at - i0.at);
    const touched = await touch(TOUCH);
    const q = await waitQuiet(gamenet.pid, { share: Math.max(0.05, idleRate * 2) });
    const cpuPerEventMs = (q.cpuMs - i1.cpuMs - idleRate * (q.at - i1.at)) / touched;
    log(
      `CPU per Pod change: ${cpuPerEventMs.toFixed(3)} ms (${touched} Pods, idle ${
        (idleRate * 100).toFixed(1)
      } % of a core)`,
    );
    const steady = sample(gamenet.pid);
    // The resync fires every RESYNC_S after the lead: load from 8 s before the next one.
    const leadAt = t0 + (phases.leaderMs ?? readyMs);
    const period = RESYNC_S * 1000;
    let next = leadAt + period;
    while (next - 8_000 < performance.now()) next += period;
    log(`waiting ${((next - 8_000 - performance.now()) / 1000).toFixed(0)} s for the resync`);
    await new Promise((r) => setTimeout(r, next - 8_000 - performance.now()));
    const resync = await admission(gamenet, 30_000);
    log(`admission during resync: ${JSON.stringify(resync)}`);
    return {
      readyMs,
      cpuAtReadyMs: atReady.cpuMs,
      phases,
      firstPassMs,
      hwmAtReadyMiB: atReady.hwmMiB,
      hwmMiB: sample(gamenet.pid).hwmMiB,
      steadyRssMiB: steady.rssMiB,
      cpuPerEventMs,
      touched,
      idle,
      resync,
    };
  } finally {
    await gamenet.kill("SIGTERM");
  }
}

async function real(gamePods: number, nodes: number, otherPods: number): Promise<Measured> {
  await using cp = await ControlPlane.start({ scheduler: false, controllerManager: false });
  const admin = cp.client("admin");
  const lbs = Array.from(
    { length: Math.max(1, Math.ceil(gamePods / 10 / CLB_PODS_PER_LB)) },
    (_, i) => `lb-scale${String(i + 1).padStart(2, "0")}`,
  );
  await using cloud = await FakeTencentCloud.start({
    loadBalancers: lbs.map((id, i) => ({
      id,
      vip: `139.155.20.${11 + i}`,
      listenerQuota: CLB_PODS_PER_LB,
    })),
    listenerQuota: CLB_PODS_PER_LB,
    rateLimitPerSecond: 1000,
    taskDurationMs: 20,
  });
  const c = cloud.gamenetFlags(lbs);
  // No controller-manager watches the heartbeats: one Lease each is enough.
  // Connections of their own: on the POSTs' connection, the watches fell behind the
  // burst and the API server closed them as unresponsive (then every relist cost it 20,000 Pods).
  const own = () =>
    new KubeClient({ server: cp.server, token: cp.token("admin"), caPem: cp.ca.certPem });
  await using kubelet = new KubeletStandIn(own(), { concurrency: 32, heartbeatMs: 3_600_000 });
  let t = performance.now();
  const names = Array.from({ length: nodes }, (_, i) => `node-${i + 1}`);
  await forEach(names, 16, (name) => kubelet.addNode({ name }));
  kubelet.start();
  log(`${nodes} nodes in ${((performance.now() - t) / 1000).toFixed(0)} s`);
  await ensureNamespace(admin, GS_NS);
  await ensureNamespace(admin, OTHER_NS);

  const first = await startGamenet(cp, realAccess(cp), c.args, c.env);
  await waitReadyz(first.httpPort, 60_000);
  let ready = 0;
  const readyNames = new Set<string>();
  type Slim = KubeObject & { metadata: { name?: string; annotations?: Record<string, string> } };
  const watcher = new Reflector<Slim>(own(), {
    path: `/api/v1/namespaces/${GS_NS}/pods`,
    transform: (p) =>
      ({
        metadata: {
          name: p.metadata.name,
          resourceVersion: p.metadata.resourceVersion,
          annotations: { s: p.metadata.annotations?.[NETWORK_STATUS_ANNOTATION] ?? "" },
        },
      }) as Slim,
    log: () => {},
  }, {
    onAdd: (p) => seen(p),
    onUpdate: (_o, p) => seen(p),
  });
  const seen = (p: Slim) => {
    if (readyNames.has(p.metadata.name!)) return;
    if (!p.metadata.annotations?.s.includes('"currentNetworkState":"Ready"')) return;
    readyNames.add(p.metadata.name!);
    ready++;
  };
  watcher.start();
  t = performance.now();
  const work = [
    ...Array.from(
      { length: gamePods },
      (_, i) => () =>
        admin.request("POST", `/api/v1/namespaces/${GS_NS}/pods`, {
          body: gamePod(i, names[i % nodes], lbs),
        }),
    ),
    ...Array.from(
      { length: otherPods },
      (_, i) => () =>
        admin.request("POST", `/api/v1/namespaces/${OTHER_NS}/pods`, {
          body: otherPod(i, names[(i * 7) % nodes]),
        }),
    ),
  ];
  let failures = 0;
  const progress = setInterval(
    () => log(`created … ${ready} of ${gamePods} game servers Ready`),
    15_000,
  );
  await forEach(work, 50, (w) =>
    w().catch((err) => {
      if (failures++ < 5) log(`POST failed: ${err.message}`);
    }));
  log(
    `${gamePods + otherPods} POSTs answered in ${
      ((performance.now() - t) / 1000).toFixed(0)
    } s (${failures} failed)`,
  );
  // Until all are Ready, or none became Ready for a minute (the rest are reported).
  let last = -1;
  let lastChange = performance.now();
  while (ready < gamePods - failures && performance.now() - lastChange < 60_000) {
    await new Promise((r) => setTimeout(r, 1_000));
    if (ready !== last) [last, lastChange] = [ready, performance.now()];
  }
  clearInterval(progress);
  await kubelet.idle();
  log(
    `${ready} of ${gamePods} game servers Ready after ${
      ((performance.now() - t) / 1000).toFixed(0)
    } s; first gamenet VmHWM ${sample(first.pid).hwmMiB.toFixed(0)} MiB`,
  );
  await watcher.stop();

  // The recording, for the stub run.
  const rec: Recording = {
    nodes,
    pods: [
      ...await listItems(admin, `/api/v1/namespaces/${GS_NS}/pods`),
      ...await listItems(admin, `/api/v1/namespaces/${OTHER_NS}/pods`),
    ],
    nodeItems: await listItems(admin, "/api/v1/nodes"),
    loadBalancers: cloud.loadBalancers().map((lb) => ({
      id: lb.id,
      vip: lb.vip,
      listenerQuota: lb.listenerQuota,
      listeners: lb.listeners.map((l) => ({
        name: l.name,
        protocol: l.protocol,
        port: l.port,
        targets: l.targets.map((t) => ({ eniIp: t.eniIp, port: t.port, weight: t.weight })),
      })),
    })),
  };
  await Deno.mkdir(join(REPO_ROOT, ".cache", "scale"), { recursive: true });
  await Deno.writeTextFile(RECORDING, JSON.stringify(rec));
  log(
    `recorded ${rec.pods.length} Pods, ${rec.nodeItems.length} nodes, ${
      rec.loadBalancers.reduce((n, lb) => n + lb.listeners.length, 0)
    } listeners`,
  );
  await first.kill("SIGTERM");

  const gsKeys = rec.pods.map((p) => JSON.parse(p).metadata).filter((m) => m.namespace === GS_NS)
    .map((m) => m.name as string);
  let round = 0;
  const m = await measure(cp, realAccess(cp), c, async (n) => {
    round++;
    const some = gsKeys.slice(0, n);
    await forEach(
      some,
      20,
      (name) =>
        admin.request("PATCH", `/api/v1/namespaces/${GS_NS}/pods/${name}`, {
          contentType: "application/merge-patch+json",
          body: { metadata: { labels: { "bench/touch": String(round) } } },
        }),
    );
    return some.length;
  });
  return {
    backEnd: `kube-apiserver, gamenet ${ACCESS_NAME}`,
    gamePods,
    otherPods,
    nodes,
    notReady: gamePods - ready,
    ...m,
  };
}

async function stub(copies: number): Promise<Measured> {
  await using cluster = await StubCluster.start(copies);
  const { api, gameServerKeys } = cluster;
  let round = 0;
  const m = await measure(cluster.cp, cluster, cluster.cloudArgs, (n) => {
    round++;
    const some = gameServerKeys.slice(0, n);
    api.touchPods(some, "bench/touch", String(round));
    return Promise.resolve(some.length);
  });
  return {
    backEnd: `stub (recorded bytes), gamenet ${ACCESS_NAME}`,
    gamePods: gameServerKeys.length,
    otherPods: cluster.otherPods,
    nodes: cluster.nodes,
    ...m,
    stub: api.stats,
  };
}

await ensureControlPlaneAssets();
const result = MODE === "stub" ? await stub(Number(Deno.args[1] ?? 5)) : await real(
  Number(Deno.args[1] ?? 20_000),
  Number(Deno.args[2] ?? 1_000),
  Number(Deno.args[3] ?? 4_000),
);
const r = result;
console.log(
  `${r.backEnd}: ${r.gamePods} game-server Pods + ${r.otherPods} others on ${r.nodes} nodes: ` +
    `ready ${(r.readyMs / 1000).toFixed(1)} s (Pods listed at ${
      ((r.phases.podsListedMs ?? NaN) / 1000).toFixed(1)
    } s: ` +
    `list ${r.phases.podsListMs} ms in ${r.phases.podsPages} pages, handlers ${r.phases.podsHandledMs} ms; Lease at ${
      ((r.phases.leaderMs ?? NaN) / 1000).toFixed(1)
    } s), ` +
    `first pass ${(r.firstPassMs / 1000).toFixed(1)} s; VmHWM ${
      r.hwmAtReadyMiB.toFixed(0)
    } MiB at ready, ${r.hwmMiB.toFixed(0)} MiB at end, VmRSS steady ${
      r.steadyRssMiB.toFixed(0)
    } MiB; ` +
    `CPU per Pod change ${r.cpuPerEventMs.toFixed(3)} ms; admission at ${RATE}/s idle p50/p99 ${
      r.idle.p50Ms.toFixed(1)
    }/${r.idle.p99Ms.toFixed(1)} ms ` +
    `(own ${r.idle.ownP50Ms.toFixed(1)}/${r.idle.ownP99Ms.toFixed(1)}), during the resync ${
      r.resync.p50Ms.toFixed(1)
    }/${r.resync.p99Ms.toFixed(1)} ms ` +
    `(own ${r.resync.ownP50Ms.toFixed(1)}/${r.resync.ownP99Ms.toFixed(1)}, max ${
      r.resync.maxMs.toFixed(0)
    } ms, ${r.resync.reconciles} reconciles in the window)`,
);
console.log(JSON.stringify(result));
