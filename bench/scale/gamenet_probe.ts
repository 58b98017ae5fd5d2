/**
 * What `bench/scale.ts` reads of a running gamenet: its CPU time and memory
 * from `/proc/<pid>` (utime + stime, VmRSS, VmHWM), when it has gone quiet,
 * and its start-up phases from its own log lines (the Pod and Node lists
 * with their handlers, the Lease won).
 *
 * ```sh
 * deno run --allow-all bench/scale.ts real   # uses these on every gamenet it starts
 * ```
 * @module
 */

/** One reading of a process. */
export interface ProcSample {
  /** utime + stime, ms. */
  cpuMs: number;
  rssMiB: number;
  hwmMiB: number;
  at: number;
}

const CLK_TCK = 100;

/** Reads `/proc/<pid>/stat` and `/proc/<pid>/status`. */
export function sample(pid: number): ProcSample {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // Fields after the command name (which may hold spaces): state is 3rd, utime 14th, stime 15th.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const cpuMs = (Number(f[11]) + Number(f[12])) * 1000 / CLK_TCK;
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1]);
  return { cpuMs, rssMiB: kb("VmRSS") / 1024, hwmMiB: kb("VmHWM") / 1024, at: performance.now() };
}

/** Options of {@linkcode waitQuiet}. */
export interface WaitQuietOptions {
  /** Quiet means below this share of one core… @default {0.05} */
  share?: number;
  /** …for this long. @default {3_000} */
  forMs?: number;
  /** @default {600_000} */
  timeoutMs?: number;
}

/** Waits until `pid` uses less than `share` of a core for `forMs`; returns the last sample. */
export async function waitQuiet(pid: number, options: WaitQuietOptions = {}): Promise<ProcSample> {
  const { share = 0.05, forMs = 3_000, timeoutMs = 600_000 } = options;
  const deadline = performance.now() + timeoutMs;
  let quietSince = sample(pid);
  let last = quietSince;
  while (performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    const now = sample(pid);
    if ((now.cpuMs - last.cpuMs) > share * (now.at - last.at)) quietSince = now;
    last = now;
    if (now.at - quietSince.at >= forMs) return quietSince;
  }
  throw new Error(`gamenet ${pid} never went quiet in ${timeoutMs} ms`);
}

/** Start-up phases as gamenet logged them, ms after `spawnWallMs`. */
export interface StartPhases {
  podsListedMs?: number;
  podsListMs?: number;
  podsHandledMs?: number;
  podsPages?: number;
  nodesListMs?: number;
  leaderMs?: number;
}

/** Reads the reflectors' `listed N in X ms (P pages), handled in Y ms` lines and the Lease line. */
export function startPhases(log: string, spawnWallMs: number): StartPhases {
  const out: StartPhases = {};
  for (const line of log.split("\n")) {
    const at = Date.parse(line.slice(0, 24)) - spawnWallMs;
    const listed =
      /(\/api\/v1\/(pods|nodes)): listed (\d+) in (\d+) ms \((\d+) pages\), handled in (\d+) ms/
        .exec(line);
    if (listed?.[2] === "pods" && out.podsListedMs === undefined) {
      out.podsListedMs = at;
      out.podsListMs = Number(listed[4]);
      out.podsPages = Number(listed[5]);
      out.podsHandledMs = Number(listed[6]);
    } else if (listed?.[2] === "nodes" && out.nodesListMs === undefined) {
      out.nodesListMs = Number(listed[4]);
    } else if (/is the leader/.test(line) && out.leaderMs === undefined) {
      out.leaderMs = at;
    }
  }
  return out;
}

/** Polls `/readyz` every 50 ms; returns when it answers 200. */
export async function waitReadyz(httpPort: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${httpPort}/readyz`, {
        signal: AbortSignal.timeout(2_000),
      });
      await res.body?.cancel();
      if (res.ok) return;
    } catch {
      // not listening yet, or busy
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`/readyz not 200 within ${timeoutMs} ms`);
}
