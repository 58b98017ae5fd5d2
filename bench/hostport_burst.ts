/**
 * A burst of game servers on the local control plane: `pods` Pods created
 * at once (`concurrency` POSTs in flight) on `nodes` fake nodes, first
 * plain (no gamenet, no webhook: the API server's, scheduler's and
 * kubelet stand-in's own cost), then as `Kubernetes-HostPort` Pods with
 * gamenet running (admission webhook, allocation, status write). Each run
 * has a fresh control plane; modes alternate so drift hits both alike.
 *
 * Measured per run: wall time from the first POST to the last Pod Ready
 * (with gamenet: its network status `Ready` too), p50/p99 of each Pod's
 * POST→Ready, and gamenet's peak RSS (`VmHWM` of its process). The
 * admission webhook's latency is read three ways: the POSTs' own answer
 * times (p50/p99), the API server's histogram of its calls to the webhook
 * (`apiserver_admission_webhook_admission_duration_seconds`: what the
 * caller waited, queueing in gamenet included) and gamenet's histogram of
 * its handler (`gamenet_webhook_duration_seconds`).
 *
 * ```sh
 * deno run --allow-all bench/hostport_burst.ts [pods=2000] [nodes=20] [runs=3] [modes=plain,gamenet]
 * # BURST_CPU_PROF=<dir>: gamenet writes a V8 CPU profile of the run there
 * # BURST_OFFERED=<reviews/s>: also offer AdmissionReviews straight to gamenet's webhook
 * #   while the Pods are POSTed (admission_load.ts): the admission curve under a burst
 * # BURST_APISERVER_PROF=<dir>:<seconds>: the API server's Go CPU profile of the first
 * #   <seconds> of the POSTs, to <dir>/kube-apiserver-<mode>.pprof (`go tool pprof -top`)
 * ```
 * @module
 */

import { ControlPlane } from "../tests/controlplane/control_plane.ts";
import { ensureControlPlaneAssets } from "../tests/controlplane/assets.ts";
import { KubeletStandIn } from "../tests/controlplane/kubelet_standin.ts";
import { GamenetProcess, registerWebhook, webhookFiles } from "../tests/e2e/gamenet_process.ts";
import { startEchoWebhook } from "./echo_webhook.ts";
import { createNamespace, networkStatus } from "../tests/e2e/helpers.ts";
import { Reflector } from "../controller/reflector.ts";
import {
  admissionLoad,
  type AdmissionLoadResult,
  histogramBuckets,
  histogramQuantile,
} from "./admission_load.ts";
import { NETWORK_CONF_ANNOTATION, NETWORK_TYPE_ANNOTATION, type Pod } from "../providers/types.ts";

const PODS = Number(Deno.args[0] ?? 2000);
const NODES = Number(Deno.args[1] ?? 20);
const RUNS = Number(Deno.args[2] ?? 3);
const MODES = (Deno.args[3] ?? "plain,gamenet").split(",") as RunResult["mode"][];
const step = (what: string) =>
  Deno.env.get("BURST_DEBUG") && console.error(`  ${new Date().toISOString()} ${what}`);
const CONCURRENCY = 50;
/** One kubelet per node in a real cluster: give the stand-in as many hands. */
const KUBELET_CONCURRENCY = 2 * NODES;
const NS = "burst";

interface RunResult {
  /**
   * `echo`: gamenet's Pods, admitted by {@link ./echo_webhook.ts} instead
   * (no gamenet); `mutate`: the same, answering with a patch shaped as
   * gamenet's.
   */
  mode: "plain" | "echo" | "mutate" | "gamenet";
  wallMs: number;
  /** From the first POST to the last answer. */
  postedMs: number;
  p50Ms: number;
  p99Ms: number;
  postP50Ms: number;
  postP99Ms: number;
  /** The API server's calls to the webhook, p50/p99 (ms). */
  callerP50Ms?: number;
  callerP99Ms?: number;
  /** gamenet's own webhook histogram, p50/p99 (ms). */
  handlerP50Ms?: number;
  handlerP99Ms?: number;
  peakRssMiB?: number;
  /** The machine's CPUs busy while the POSTs were answered, 0-1 (`/proc/stat`). */
  busyDuringPosts: number;
  /** gamenet's own CPU seconds while the POSTs were answered. */
  gamenetCpuDuringPosts?: number;
  /** CPU seconds of the control plane's processes (and the bench's own) during the POSTs. */
  cpuByProcess: string;
  /** The reviews offered straight to the webhook during the POSTs (`BURST_OFFERED`). */
  offered?: AdmissionLoadResult;
  /** The API server's requests during the run, by verb and resource, per Pod. */
  requestsPerPod: string;
}

const WEBHOOK_HISTOGRAM = "gamenet_webhook_duration_seconds";
const APISERVER_WEBHOOK_HISTOGRAM = "apiserver_admission_webhook_admission_duration_seconds";

function podManifest(i: number, withGamenet: boolean) {
  return {
    metadata: {
      name: `gs-${i}`,
      labels: { app: "burst" },
      annotations: withGamenet
        ? {
          [NETWORK_TYPE_ANNOTATION]: "Kubernetes-HostPort",
          [NETWORK_CONF_ANNOTATION]: JSON.stringify([
            { name: "ContainerPorts", value: "gs:7777/UDP,7778/TCP" },
          ]),
        }
        : {},
    },
    spec: {
      terminationGracePeriodSeconds: 0,
      containers: [{
        name: "gs",
        image: "example.invalid/gs:1",
        ports: [{ containerPort: 7777, protocol: "UDP" }, {
          containerPort: 7778,
          protocol: "TCP",
        }],
      }],
    },
  };
}

function isReady(pod: Pod, withGamenet: boolean): boolean {
  const podReady = pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
  if (!podReady) return false;
  return !withGamenet || networkStatus(pod)?.currentNetworkState === "Ready";
}

/** Jiffies of all CPUs since boot: idle (with iowait) and total. */
function machineCpu(): { idle: number; total: number } {
  const fields = Deno.readTextFileSync("/proc/stat").split("\n")[0].split(/\s+/).slice(1)
    .map(Number);
  return { idle: fields[3] + fields[4], total: fields.reduce((a, b) => a + b, 0) };
}

/** A process's user + system CPU seconds (`/proc/<pid>/stat`, 100 ticks a second). */
function processCpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds so far of the control plane's processes and this bench (kubelet stand-in, watch). */
function controlPlaneCpu(): Map<string, number> {
  const names = ["etcd", "kube-apiserver", "kube-scheduler", "kube-controller-manager"];
  const out = new Map<string, number>([["bench", processCpuSeconds(Deno.pid)]]);
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const exe = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0")[0];
      const name = names.find((n) => exe.endsWith(`/${n}`));
      if (name) out.set(name, (out.get(name) ?? 0) + processCpuSeconds(Number(entry.name)));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function peakRssMiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]);
  return kb / 1024;
}

const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

/**
 * The API server's request counter summed by verb and resource (watch
 * streams and reads of the metrics themselves left out): how much work
 * each mode gives it.
 */
async function apiServerRequests(
  admin: ReturnType<ControlPlane["client"]>,
): Promise<Map<string, number>> {
  const text = await (await admin.fetch("GET", "/metrics")).text();
  const counts = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line.startsWith("apiserver_request_total{")) continue;
    const label = (name: string) => new RegExp(`${name}="([^"]*)"`).exec(line)?.[1] ?? "";
    if (label("verb") === "WATCH" || label("resource") === "") continue;
    const sub = label("subresource");
    const what = `${label("verb")} ${label("resource")}${sub ? `/${sub}` : ""}`;
    counts.set(what, (counts.get(what) ?? 0) + Number(line.slice(line.lastIndexOf(" ") + 1)));
  }
  return counts;
}

/** The API server's CPU profile over the POSTs' first seconds, when `BURST_APISERVER_PROF` asks. */
async function profileApiServer(
  admin: ReturnType<ControlPlane["client"]>,
  mode: string,
): Promise<void> {
  const spec = Deno.env.get("BURST_APISERVER_PROF");
  if (!spec) return;
  const [dir, seconds] = [
    spec.slice(0, spec.lastIndexOf(":")),
    spec.slice(spec.lastIndexOf(":") + 1),
  ];
  const res = await admin.fetch("GET", `/debug/pprof/profile?seconds=${Number(seconds)}`, {
    signal: AbortSignal.timeout(Number(seconds) * 1000 + 30_000),
  });
  if (!res.ok) throw new Error(`the API server's profile: ${res.status} ${await res.text()}`);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeFile(
    `${dir}/kube-apiserver-${mode}.pprof`,
    new Uint8Array(await res.arrayBuffer()),
  );
}

/** The echo webhook, registered as gamenet's webhook would be. */
async function startEcho(cp: ControlPlane, mutate: boolean): Promise<AsyncDisposable> {
  const files = await webhookFiles(cp);
  const echo = await startEchoWebhook(files.certFile, files.keyFile, { mutate });
  await registerWebhook(cp, echo.port);
  return echo;
}

async function run(mode: RunResult["mode"]): Promise<RunResult> {
  const withGamenet = mode === "gamenet";
  const annotated = mode !== "plain";
  await using cp = await ControlPlane.start(
    Deno.env.get("BURST_APISERVER_PROF") ? { apiServerArgs: ["--profiling=true"] } : {},
  );
  const admin = cp.client("admin");
  await using kubelet = new KubeletStandIn(admin, { concurrency: KUBELET_CONCURRENCY });
  await kubelet.addNodes(NODES);
  kubelet.start();
  await createNamespace(admin, NS);
  const profileDir = Deno.env.get("BURST_CPU_PROF");
  await using gamenet = withGamenet
    ? await GamenetProcess.start(cp, {
      denoFlags: profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [],
    })
    : undefined;
  await gamenet?.waitReady();
  await using _echo = mode === "echo" || mode === "mutate"
    ? await startEcho(cp, mode === "mutate")
    : undefined;
  const apiServerMetrics = async () =>
    histogramBuckets(
      await (await admin.fetch("GET", "/metrics")).text(),
      APISERVER_WEBHOOK_HISTOGRAM,
    );
  const callerBefore = await apiServerMetrics();
  const requestsBefore = await apiServerRequests(admin);
  const handlerBefore = gamenet && histogramBuckets(await gamenet.metrics(), WEBHOOK_HISTOGRAM);

  const postedAt = new Map<string, number>();
  const readyAt = new Map<string, number>();
  let allReady!: () => void;
  const done = new Promise<void>((resolve) => allReady = resolve);
  const seen = (pod: Pod) => {
    const name = pod.metadata.name!;
    if (readyAt.has(name) || !isReady(pod, withGamenet)) return;
    readyAt.set(name, performance.now());
    if (readyAt.size === PODS) allReady();
  };
  // A cluster-wide client of its own: the watch must not queue behind the burst's POSTs.
  const watcher = new Reflector<Pod>(
    cp.client("admin"),
    { path: `/api/v1/namespaces/${NS}/pods` },
    {
      onAdd: seen,
      onUpdate: (_old, pod) => seen(pod),
    },
  );
  watcher.start();
  await watcher.synced;

  const sampler = gamenet && Deno.env.get("BURST_DEBUG")
    ? setInterval(async () => {
      try {
        const rss = /VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${gamenet.pid}/status`))
          ?.[1];
        const metrics = await (await gamenet.get("/metrics")).text();
        const heap = (name: string) =>
          Number(new RegExp(`^${name} (\\S+)`, "m").exec(metrics)?.[1]) / 2 ** 20;
        step(
          `gamenet RSS ${(Number(rss) / 1024).toFixed(0)} MiB, heap used ${
            heap("nodejs_heap_size_used_bytes").toFixed(0)
          } of ${heap("nodejs_heap_size_total_bytes").toFixed(0)} MiB, external ${
            heap("nodejs_external_memory_bytes").toFixed(0)
          } MiB`,
        );
      } catch {
        // gamenet busy
      }
    }, 2_000)
    : undefined;
  const cpuBefore = machineCpu();
  const processesBefore = controlPlaneCpu();
  const gamenetCpuBefore = gamenet && processCpuSeconds(gamenet.pid);
  const t0 = performance.now();
  const offeredRate = Number(Deno.env.get("BURST_OFFERED") ?? 0);
  // Offered for about as long as the API server takes to answer the POSTs with gamenet.
  const offered = gamenet && offeredRate > 0
    ? admissionLoad({
      ...gamenet.webhookTarget(),
      rate: offeredRate,
      durationMs: Math.min(PODS * 5, 120_000),
    })
    : undefined;
  const apiServerProfile = profileApiServer(admin, mode);
  let next = 0;
  const failures: string[] = [];
  const postMs: number[] = [];
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < PODS) {
      const i = next++;
      const at = performance.now();
      postedAt.set(`gs-${i}`, at);
      await admin.request("POST", `/api/v1/namespaces/${NS}/pods`, {
        body: podManifest(i, annotated),
      }).catch((err) => failures.push(`gs-${i}: ${err.message}`));
      postMs.push(performance.now() - at);
    }
  }));
  const postedMs = performance.now() - t0;
  const cpuAfter = machineCpu();
  const processesAfter = controlPlaneCpu();
  const cpuByProcess = [...processesAfter]
    .map(([name, s]) => `${name} ${(s - (processesBefore.get(name) ?? 0)).toFixed(1)} s`)
    .join(", ");
  const busyDuringPosts = 1 - (cpuAfter.idle - cpuBefore.idle) / (cpuAfter.total - cpuBefore.total);
  const gamenetCpuDuringPosts = gamenet && processCpuSeconds(gamenet.pid) - gamenetCpuBefore!;
  const offeredResult = await offered;
  await apiServerProfile;
  const callerAfter = await apiServerMetrics();
  const handlerAfter = gamenet && histogramBuckets(await gamenet.metrics(), WEBHOOK_HISTOGRAM);
  if (failures.length > 0) throw new Error(`${failures.length} POSTs failed: ${failures[0]}`);
  const timeout = setTimeout(() => allReady(), 600_000);
  const progress = setInterval(
    () => console.error(`  ${mode}: ${readyAt.size} of ${PODS} Ready`),
    10_000,
  );
  await done;
  clearTimeout(timeout);
  clearInterval(progress);
  clearInterval(sampler);
  step("all ready; stopping the watcher");
  await watcher.stop();
  step("watcher stopped");
  if (readyAt.size < PODS) throw new Error(`only ${readyAt.size} of ${PODS} Pods Ready in 10 min`);
  const wallMs = Math.max(...readyAt.values()) - t0;
  const requestsAfter = await apiServerRequests(admin);
  const requestsPerPod = [...requestsAfter]
    .map(([what, n]) => [what, (n - (requestsBefore.get(what) ?? 0)) / PODS] as const)
    .filter(([, n]) => n >= 0.05)
    .sort((a, b) => b[1] - a[1])
    .map(([what, n]) => `${what} ${n.toFixed(2)}`)
    .join(", ");
  const latencies = [...readyAt].map(([name, at]) => at - postedAt.get(name)!);
  step("returning: kubelet and control plane stop next");
  return {
    mode,
    wallMs,
    postedMs,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    postP50Ms: quantile(postMs, 0.5),
    postP99Ms: quantile(postMs, 0.99),
    ...(annotated && {
      callerP50Ms: histogramQuantile(callerBefore, callerAfter, 0.5) * 1000,
      callerP99Ms: histogramQuantile(callerBefore, callerAfter, 0.99) * 1000,
    }),
    ...(withGamenet && {
      handlerP50Ms: histogramQuantile(handlerBefore!, handlerAfter!, 0.5) * 1000,
      handlerP99Ms: histogramQuantile(handlerBefore!, handlerAfter!, 0.99) * 1000,
    }),
    peakRssMiB: gamenet ? peakRssMiB(gamenet.pid) : undefined,
    requestsPerPod,
    busyDuringPosts,
    gamenetCpuDuringPosts,
    cpuByProcess,
    offered: offeredResult,
  };
}

await ensureControlPlaneAssets();
const results: RunResult[] = [];
for (let r = 0; r < RUNS; r++) {
  for (const mode of MODES) {
    const res = await run(mode);
    results.push(res);
    console.log(
      `run ${r + 1} ${mode.padEnd(7)}: ${PODS} Pods on ${NODES} nodes all Ready in ${
        (res.wallMs / 1000).toFixed(1)
      } s (POSTs answered in ${(res.postedMs / 1000).toFixed(1)} s, each p50 ${
        res.postP50Ms.toFixed(0)
      } / p99 ${res.postP99Ms.toFixed(0)} ms${
        res.callerP50Ms === undefined
          ? ""
          : `; webhook as the API server waited p50 ${res.callerP50Ms.toFixed(1)} / p99 ${
            res.callerP99Ms!.toFixed(1)
          } ms`
      }${
        res.handlerP50Ms === undefined
          ? ""
          : `, gamenet's handler p50 ${res.handlerP50Ms.toFixed(1)} / p99 ${
            res.handlerP99Ms!.toFixed(1)
          } ms`
      }); create→Ready p50 ${(res.p50Ms / 1000).toFixed(2)} s, p99 ${
        (res.p99Ms / 1000).toFixed(2)
      } s${res.peakRssMiB ? `; gamenet peak RSS ${res.peakRssMiB.toFixed(0)} MiB` : ""}`,
    );
    console.log(`  API requests per Pod: ${res.requestsPerPod}`);
    console.log(
      `  while the POSTs were answered: CPUs ${(100 * res.busyDuringPosts).toFixed(0)} % busy${
        res.gamenetCpuDuringPosts === undefined
          ? ""
          : `, gamenet ${res.gamenetCpuDuringPosts.toFixed(1)} s of CPU (${
            (1000 * res.gamenetCpuDuringPosts / PODS).toFixed(2)
          } ms per Pod)`
      }; ${res.cpuByProcess}`,
    );
    if (res.offered) {
      const o = res.offered;
      console.log(
        `  offered straight to the webhook: ${o.offered} at ${
          o.achievedRate.toFixed(0)
        }/s answered, p50 ${o.p50Ms.toFixed(1)} / p99 ${o.p99Ms.toFixed(1)} / max ${
          o.maxMs.toFixed(1)
        } ms, ${o.failed} failed`,
      );
    }
  }
}
const median = (xs: number[]) => quantile(xs, 0.5);
const of = (mode: string) => results.filter((r) => r.mode === mode);
for (const mode of MODES) {
  const runs = of(mode);
  console.log(
    `${mode.padEnd(7)} medians of ${runs.length}: all Ready ${
      (median(runs.map((r) => r.wallMs)) / 1000).toFixed(1)
    } s, POSTs answered in ${(median(runs.map((r) => r.postedMs)) / 1000).toFixed(1)} s${
      runs[0].callerP50Ms === undefined
        ? ""
        : `, webhook as the API server waited p50 ${
          median(runs.map((r) => r.callerP50Ms!)).toFixed(1)
        } ms`
    }${
      runs[0].peakRssMiB === undefined
        ? ""
        : `; peak RSS max ${Math.max(...runs.map((r) => r.peakRssMiB!)).toFixed(0)} MiB`
    }`,
  );
}
if (of("plain").length > 0) {
  const plainPosts = median(of("plain").map((r) => r.postedMs));
  const plainWall = median(of("plain").map((r) => r.wallMs));
  for (const mode of MODES.filter((m) => m !== "plain")) {
    const runs = of(mode);
    console.log(
      `${mode} against plain: all Ready ${
        (median(runs.map((r) => r.wallMs)) / plainWall).toFixed(2)
      }x, POSTs answered ${(median(runs.map((r) => r.postedMs)) / plainPosts).toFixed(2)}x`,
    );
  }
}
