/**
 * A burst of `TencentCloud-CLB` Pods against the fake Tencent Cloud, in
 * process, no Kubernetes: `pods` Pods with two UDP ports each
 * (`PortProtocols` `7777/UDP,7778/UDP`) on `lbs` CLBs (`ClbIds` lists them
 * all, `MinPort` 501, `MaxPort` 700, listener quota 200 per CLB, so the
 * first-fit allocation fills the CLBs one after the other, 100 Pods each),
 * every write's task taking 200 ms and every action limited to 20 calls
 * per second.
 *
 * The provider is built as its network type builds it (the SDK client of
 * `createClbApi`, a `ClbWriter` with its default options) and driven by
 * the controller itself: the real `PodController` (its default 50 ms before
 * a slow reconcile goes on in the background, the key coming back when it
 * ends) under the real `WorkQueue` with gamenet's 8 workers. Its status
 * writes to the API server are not part of it: the writer here only notes
 * when each Pod is first Ready.
 *
 * Scenarios: `limit` (a fresh gamenet: the CLBs' VIPs, listeners and the
 * quota are read during the burst), `warm` (the same after one Pod on
 * these CLBs was reconciled and released, as in a running gamenet), and
 * `faults` (`limit` with 20 % of all calls answered HTTP 503 or
 * `InternalError`). Scenarios alternate within each run.
 *
 * Measured per scenario, each in a fresh process: wall time from the burst
 * (every key added at once) to the last Pod's first `done`, p50/p99 of the
 * Pods' time to `done`, cloud API calls as the fake counts them (every
 * answer, throttled ones included) split into writes and reads, the
 * throttled answers, `ClbWriter.stats.retries`, the batch sizes of the
 * accepted writes, and the process's RSS (the fake cloud runs in it too).
 * At the end the fake's listeners and targets are checked against the Pods.
 *
 * ```sh
 * deno run --allow-all bench/clb_burst.ts [pods=1000] [lbs=10] [scenarios=limit,warm,faults] [runs=1]
 * ```
 * @module
 */

import { FakeTencentCloud } from "../tests/fakes/tencentcloud/fake_tencent_cloud.ts";
import type { Fault } from "../tests/fakes/tencentcloud/fault_injector.ts";
import { WRITE_ACTIONS } from "../tests/fakes/tencentcloud/clb_state.ts";
import { type ClbApi, toClbError } from "../providers/tencent_clb/clb_api.ts";
import { ClbWriter } from "../providers/tencent_clb/clb_writer.ts";
import { createTencentClbProvider, listenerName } from "../providers/tencent_clb/mod.ts";
import { WorkQueue } from "../controller/work_queue.ts";
import { PodController } from "../controller/pod_controller.ts";
import type { StatusWriter } from "../controller/status_writer.ts";
import type { EventRecorder } from "../controller/event_recorder.ts";
import { ProviderRegistry } from "../providers/registry.ts";
import type { NetworkStatus } from "../providers/types.ts";
import { NETWORK_CONF_ANNOTATION, NETWORK_TYPE_ANNOTATION, type Pod } from "../providers/types.ts";
import { clbApiFor } from "../tests/fakes/tencentcloud/clb_api_for.ts";

const PODS = Number(Deno.args[0] ?? 1000);
const LBS = Number(Deno.args[1] ?? 10);
const SCENARIOS = (Deno.args[2] ?? "limit,warm,faults").split(",");
const RUNS = Number(Deno.args[3] ?? 1);
const PORTS_PER_POD = 2;
const MIN_PORT = 501;
const MAX_PORT = 700;
const TASK_MS = 200;
const RATE_LIMIT = 20;
const WORKERS = 8;
const FAULT_RATE = 0.2;
/** Gives up on a scenario after this. */
const DEADLINE_MS = 600_000;

interface Scenario {
  name: string;
  faults: Fault[];
  /** One Pod on the same CLBs reconciled and released before the burst (VIPs, scans, quota known). */
  warm?: boolean;
}

const SCENARIO: Record<string, Scenario> = {
  limit: { name: `${RATE_LIMIT}/s per action`, faults: [] },
  warm: { name: `${RATE_LIMIT}/s, provider warm`, faults: [], warm: true },
  faults: {
    name: `${RATE_LIMIT}/s + ${FAULT_RATE * 100} % faults`,
    // Half HTTP 503, half InternalError, on every action: each call rolls
    // the first (10 %), then the second (1/9 of the remaining 90 %).
    faults: [
      { kind: "http", status: 503, rate: FAULT_RATE / 2 },
      { kind: "error", code: "InternalError", rate: (FAULT_RATE / 2) / (1 - FAULT_RATE / 2) },
    ],
  },
};

/** What one scenario's child process prints as its last line. */
interface Measured {
  scenario: string;
  run?: number;
  pods: number;
  ports: number;
  lbs: number;
  done: number;
  wallMs: number;
  p50Ms: number;
  p99Ms: number;
  /** Requests the fake received per action (all outcomes). */
  calls: Record<string, number>;
  writes: number;
  reads: number;
  throttled: number;
  faults: number;
  errors: Record<string, number>;
  retries: number;
  /** Answers per action: "ok" or the error code. */
  answers: Record<string, Record<string, number>>;
  /** Per CLB, when its last Pod was done. */
  lbDoneMs: Record<string, number>;
  /** When the last Pod was first handed to a worker. */
  lastStartMs: number;
  /** When the first Pod was done. */
  firstDoneMs: number;
  /** Per action, its last answer. */
  lastAnswerMs: Record<string, number>;
  /** Sizes of the accepted batch writes. */
  createBatches: number[];
  registerBatches: number[];
  reconciles: number;
  outcomes: Record<string, number>;
  listenersOk: number;
  listenersTotal: number;
  rssMiB: number;
  peakRssMiB: number;
  heapMiB: number;
}

const lbId = (i: number) => `lb-bench${String(i).padStart(3, "0")}`;

function podOf(i: number, clbIds: string): Pod {
  return {
    metadata: {
      namespace: "burst",
      name: `gs-${i}`,
      uid: `uid-${i}`,
      annotations: {
        [NETWORK_TYPE_ANNOTATION]: "TencentCloud-CLB",
        [NETWORK_CONF_ANNOTATION]: JSON.stringify([
          { name: "ClbIds", value: clbIds },
          { name: "PortProtocols", value: "7777/UDP,7778/UDP" },
          { name: "MinPort", value: String(MIN_PORT) },
          { name: "MaxPort", value: String(MAX_PORT) },
        ]),
      },
    },
    spec: { containers: [{ name: "gs" }] },
    status: { phase: "Running", podIP: `10.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}` },
  };
}

/** What the wrapped SDK client saw. */
interface Tally {
  answers: Record<string, Record<string, number>>;
  /** `performance.now()` of each action's last answer. */
  lastAt: Record<string, number>;
  createBatches: number[];
  registerBatches: number[];
}

/** The SDK client with every answer and the accepted batch sizes noted. */
function noting(api: ClbApi, tally: Tally): ClbApi {
  return new Proxy(api, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function" || typeof prop !== "string") return value;
      const note = (code: string) => {
        const of = tally.answers[prop] ??= {};
        of[code] = (of[code] ?? 0) + 1;
        tally.lastAt[prop] = performance.now();
      };
      return async (...args: unknown[]) => {
        let res;
        try {
          res = await value.apply(target, args);
        } catch (err) {
          note(toClbError(prop, err).code);
          throw err;
        }
        note("ok");
        const req = args[0] as { Ports?: unknown[]; Targets?: unknown[] };
        if (prop === "CreateListener") tally.createBatches.push(req.Ports?.length ?? 0);
        if (prop === "BatchRegisterTargets") tally.registerBatches.push(req.Targets?.length ?? 0);
        return res;
      };
    },
  });
}

const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

function peakRssMiB(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
}

async function runScenario(key: string): Promise<Measured> {
  const scenario = SCENARIO[key];
  if (!scenario) throw new Error(`unknown scenario ${key}; known: ${Object.keys(SCENARIO)}`);
  const ids = Array.from({ length: LBS }, (_, i) => lbId(i));
  // One UDP listener per port of the range: 200, i.e. 100 Pods per CLB.
  const quota = MAX_PORT - MIN_PORT + 1;
  await using cloud = await FakeTencentCloud.start({
    loadBalancers: ids.map((id, i) => ({ id, vip: `203.0.113.${i + 1}`, listenerQuota: quota })),
    listenerQuota: quota, // what DescribeQuota answers
    rateLimitPerSecond: RATE_LIMIT,
    taskDurationMs: TASK_MS,
    faults: scenario.faults,
  });
  const tally: Tally = { answers: {}, lastAt: {}, createBatches: [], registerBatches: [] };
  // As main.ts's tencentCloudApi: the SDK client on an http:// endpoint.
  const api = noting(
    clbApiFor(cloud),
    tally,
  );
  let writerLogs = 0;
  const clbWriter = new ClbWriter(api, { log: () => writerLogs++ });
  const provider = createTencentClbProvider({ api, writer: clbWriter, log: () => {} });
  await provider.restore?.([], { node: () => undefined });

  const clbIds = ids.join(",");
  let retriesBefore = 0;
  if (scenario.warm) {
    // gamenet has served a Pod on these CLBs before: their VIPs, listeners
    // and the quota are known. Its listeners are deleted again.
    const pod = { ...podOf(PODS, clbIds), metadata: { ...podOf(PODS, clbIds).metadata } };
    pod.metadata.name = "warm-up";
    const k = "burst/warm-up";
    provider.observe?.(k, pod);
    // Run to its end: the provider writes, then reports.
    const outcome = await provider.reconcile(pod, provider.parse(pod), {
      owner: k,
      node: () => undefined,
    });
    if (outcome.kind !== "done") throw new Error(`warm-up: ${JSON.stringify(outcome)}`);
    provider.observe?.(k, undefined);
    await provider.release(k);
    if (cloud.loadBalancers().some((lb) => lb.listeners.length > 0)) {
      throw new Error("warm-up: its listeners were not deleted");
    }
    await new Promise((r) => setTimeout(r, 1_100)); // a fresh rate-limit window
    cloud.resetStats();
    tally.answers = {};
    tally.lastAt = {};
    tally.createBatches.length = 0;
    tally.registerBatches.length = 0;
    retriesBefore = clbWriter.stats.retries;
  }
  const pods = new Map<string, Pod>();
  for (let i = 0; i < PODS; i++) {
    const pod = podOf(i, clbIds);
    const k = `${pod.metadata.namespace}/${pod.metadata.name}`;
    pods.set(k, pod);
    provider.observe?.(k, pod);
  }

  const doneAt = new Map<string, number>();
  const lbDoneMs: Record<string, number> = {};
  const vipToLb = new Map(ids.map((id, i) => [`203.0.113.${i + 1}`, id]));
  const started = new Set<string>();
  let lastStartMs = 0;
  const outcomes: Record<string, number> = {};
  const failures = new Map<string, string>();
  let reconciles = 0;
  let allDone!: () => void;
  const finished = new Promise<void>((resolve) => allDone = resolve);
  let t0 = 0;
  // The controller's status writes stop here: the first Ready is what is timed.
  const writer = {
    writePod: (pod: Pod, status: NetworkStatus) => {
      const k = `${pod.metadata.namespace}/${pod.metadata.name}`;
      if (status.currentNetworkState === "Ready" && !doneAt.has(k)) {
        const at = performance.now() - t0;
        doneAt.set(k, at);
        const lb = vipToLb.get(status.externalAddresses[0]?.ip ?? "") ?? "?";
        lbDoneMs[lb] = Math.max(lbDoneMs[lb] ?? 0, at);
        if (doneAt.size === PODS) allDone();
      }
      return Promise.resolve(true);
    },
  } as unknown as StatusWriter;
  const events = {
    warning: (_ref: unknown, reason: string, message: string) => {
      failures.set(reason, message);
      return Promise.resolve();
    },
  } as unknown as EventRecorder;
  const controller = new PodController({
    registry: new ProviderRegistry([provider]),
    cache: { pod: (k) => pods.get(k), node: () => undefined },
    writer,
    events,
    metrics: { reconciled: (result) => outcomes[result] = (outcomes[result] ?? 0) + 1 },
    log: (m) => failures.set("log", m),
    requeue: (k) => queue.add(k),
  });
  const queue: WorkQueue = new WorkQueue((k) => {
    reconciles++;
    if (!started.has(k)) {
      started.add(k);
      lastStartMs = performance.now() - t0;
    }
    return controller.reconcile(k);
  }, { workers: WORKERS, onError: (k, err) => failures.set(k, String(err)) });

  const progress = setInterval(() => {
    const s = cloud.stats();
    console.error(
      `  ${key}: ${doneAt.size} of ${PODS} done at ${
        ((performance.now() - t0) / 1000).toFixed(0)
      } s; queue ${queue.depth} ready, ${queue.inProgress} in progress, ${queue.scheduled} ` +
        `scheduled; ${s.totalCalls} calls, ${s.throttled} throttled, ${clbWriter.stats.retries} retries`,
    );
  }, 5_000);
  const deadline = setTimeout(allDone, DEADLINE_MS);
  t0 = performance.now();
  queue.start();
  for (const k of pods.keys()) queue.add(k);
  await finished;
  const wallMs = performance.now() - t0;
  clearTimeout(deadline);
  clearInterval(progress);
  await queue.stop();
  if (doneAt.size < PODS) {
    const [k, why] = [...failures][0] ?? ["-", "no failure recorded"];
    console.error(`  ${key}: only ${doneAt.size} of ${PODS} done; e.g. ${k}: ${why}`);
  }

  // The truth: every Pod port has its listener with the Pod IP:port behind it.
  const listeners = cloud.loadBalancers().flatMap((lb) => lb.listeners);
  const byName = new Map(listeners.map((l) => [l.name, l]));
  let listenersOk = 0;
  for (const pod of pods.values()) {
    for (const port of [7777, 7778]) {
      const l = byName.get(listenerName("burst", pod.metadata.name!, port, "UDP"));
      if (
        l?.targets.length === 1 && l.targets[0].eniIp === pod.status!.podIP &&
        l.targets[0].port === port
      ) listenersOk++;
    }
  }
  const stats = cloud.stats();
  const writes = Object.entries(stats.calls).filter(([a]) => WRITE_ACTIONS.has(a))
    .reduce((n, [, c]) => n + c, 0);
  const times = [...doneAt.values()];
  const mem = Deno.memoryUsage();
  return {
    scenario: scenario.name,
    pods: PODS,
    ports: PODS * PORTS_PER_POD,
    lbs: LBS,
    done: doneAt.size,
    wallMs,
    p50Ms: quantile(times, 0.5),
    p99Ms: quantile(times, 0.99),
    calls: stats.calls,
    writes,
    reads: stats.totalCalls - writes,
    throttled: stats.throttled,
    faults: stats.faults,
    errors: stats.errors,
    retries: clbWriter.stats.retries - retriesBefore,
    answers: tally.answers,
    lbDoneMs,
    lastStartMs,
    firstDoneMs: Math.min(...times),
    lastAnswerMs: Object.fromEntries(
      Object.entries(tally.lastAt).map(([a, at]) => [a, at - t0]),
    ),
    createBatches: tally.createBatches,
    registerBatches: tally.registerBatches,
    reconciles,
    outcomes,
    listenersOk,
    listenersTotal: listeners.length,
    rssMiB: mem.rss / 2 ** 20,
    peakRssMiB: peakRssMiB(),
    heapMiB: mem.heapUsed / 2 ** 20,
  };
}

function summary(xs: number[]): string {
  if (xs.length === 0) return "none";
  const sum = xs.reduce((a, b) => a + b, 0);
  return `${xs.length} calls, ${(sum / xs.length).toFixed(1)} avg, ${Math.min(...xs)}-${
    Math.max(...xs)
  }`;
}

function report(results: Measured[]): void {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const header = [
    "run",
    "scenario",
    "Pods",
    "ports",
    "LBs",
    "all done",
    "p50",
    "p99",
    "writes/port",
    "calls/Pod",
    "throttled",
    "retries",
    "RSS after",
    "peak RSS",
  ];
  const rows = results.map((r) => [
    String(r.run ?? 1),
    r.scenario,
    `${r.done === r.pods ? r.pods : `${r.done}/${r.pods}`}`,
    String(r.ports),
    String(r.lbs),
    r.done === r.pods ? s(r.wallMs) : `> ${s(r.wallMs)}`,
    s(r.p50Ms),
    s(r.p99Ms),
    (r.writes / r.ports).toFixed(3),
    ((r.writes + r.reads) / r.pods).toFixed(2),
    String(r.throttled),
    String(r.retries),
    `${r.rssMiB.toFixed(0)} MiB`,
    `${r.peakRssMiB.toFixed(0)} MiB`,
  ]);
  console.log(`| ${header.join(" | ")} |`);
  console.log(`|${header.map(() => " --- ").join("|")}|`);
  for (const row of rows) console.log(`| ${row.join(" | ")} |`);
  if (results.some((r) => (r.run ?? 1) > 1)) {
    for (const name of new Set(results.map((r) => r.scenario))) {
      const of = results.filter((r) => r.scenario === name);
      const med = (f: (r: Measured) => number) => quantile(of.map(f), 0.5);
      console.log(
        `median of ${of.length}, ${name}: all done ${s(med((r) => r.wallMs))}, p50 ${
          s(med((r) => r.p50Ms))
        }, p99 ${s(med((r) => r.p99Ms))}, ${
          med((r) => r.writes / r.ports).toFixed(3)
        } writes/port, ${med((r) => (r.writes + r.reads) / r.pods).toFixed(2)} calls/Pod, ${
          med((r) => r.throttled)
        } throttled, ${med((r) => r.retries)} retries`,
      );
    }
  }
  for (const r of results) {
    const calls = Object.entries(r.calls).sort(([a], [b]) => a.localeCompare(b))
      .map(([a, n]) => `${a} ${n}`).join(", ");
    console.log(`\nrun ${r.run ?? 1}, ${r.scenario}:`);
    console.log(`  calls (fake, all answers): ${calls}`);
    console.log(
      `  writes ${r.writes} (${(r.writes / r.pods).toFixed(3)}/Pod, ${
        (r.writes / r.ports).toFixed(3)
      }/port), reads ${r.reads} (${(r.reads / r.pods).toFixed(2)}/Pod, ${
        (r.reads / r.ports).toFixed(2)
      }/port); throttled ${r.throttled}, injected faults ${r.faults}, writer retries ${r.retries}`,
    );
    console.log(`  errors: ${JSON.stringify(r.errors)}`);
    const answers = Object.entries(r.answers).sort(([a], [b]) => a.localeCompare(b))
      .map(([a, codes]) =>
        `${a} ${
          Object.entries(codes).map(([c, n]) =>
            `${c === "RequestLimitExceeded" ? "throttled" : c} ${n}`
          )
            .join(" ")
        }`
      ).join("; ");
    console.log(`  answers per action (client side): ${answers}`);
    console.log(
      `  last Pod first handled at ${s(r.lastStartMs)}, first Pod done at ${
        s(r.firstDoneMs)
      }; each CLB's last Pod done at ${
        Object.entries(r.lbDoneMs).sort(([a], [b]) => a.localeCompare(b)).map(([, ms]) => s(ms))
          .join(", ")
      }`,
    );
    console.log(
      `  last answer per action: ${
        Object.entries(r.lastAnswerMs).sort(([a], [b]) => a.localeCompare(b))
          .map(([a, ms]) => `${a} ${s(ms)}`).join(", ")
      }`,
    );
    console.log(`  accepted CreateListener ports per call: ${summary(r.createBatches)}`);
    console.log(`  accepted BatchRegisterTargets targets per call: ${summary(r.registerBatches)}`);
    console.log(
      `  reconciles ${r.reconciles} (${JSON.stringify(r.outcomes)}); listeners with the right ` +
        `target ${r.listenersOk} of ${r.ports} (fake holds ${r.listenersTotal})`,
    );
    console.log(
      `  RSS after ${r.rssMiB.toFixed(0)} MiB, peak ${r.peakRssMiB.toFixed(0)} MiB, heap used ${
        r.heapMiB.toFixed(0)
      } MiB (the fake cloud and the SDK in the same process)`,
    );
  }
}

if (Deno.env.get("CLB_BURST_CHILD")) {
  console.log(JSON.stringify(await runScenario(Deno.env.get("CLB_BURST_CHILD")!)));
} else {
  const results: Measured[] = [];
  for (let run = 1; run <= RUNS; run++) {
    for (const key of SCENARIOS) {
      console.error(`run ${run} ${key}: ${PODS} Pods × ${PORTS_PER_POD} UDP ports on ${LBS} CLBs`);
      // A process per scenario, so that RSS and the event loop are its own.
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", import.meta.filename!, ...Deno.args],
        env: { CLB_BURST_CHILD: key },
        stdout: "piped",
        stderr: "inherit",
      }).output();
      if (!out.success) throw new Error(`scenario ${key} failed (exit ${out.code})`);
      const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
      results.push({ ...JSON.parse(lines[lines.length - 1]), run });
    }
  }
  report(results);
}
