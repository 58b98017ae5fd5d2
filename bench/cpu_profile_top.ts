/**
 * Where a V8 CPU profile's time went: the functions with the most self
 * time, and the heaviest call paths into gamenet's own code (total time
 * per gamenet function). Reads the `.cpuprofile` that `deno run
 * --cpu-prof` writes (the benchmarks pass it to gamenet on request, e.g.
 * `BURST_CPU_PROF=<dir>` of `hostport_burst.ts`).
 *
 * ```sh
 * deno run --allow-read bench/cpu_profile_top.ts <file.cpuprofile> [top=25]
 * ```
 * @module
 */

/** A node of V8's `.cpuprofile` format. */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** The parts of a `.cpuprofile` read here. */
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** One row of {@linkcode summarize}: a function and its time in milliseconds. */
export interface ProfileRow {
  name: string;
  ms: number;
}

/** Self and total (inclusive) time per function of `profile`, heaviest first. */
export function summarize(profile: CpuProfile): {
  wallMs: number;
  idleMs: number;
  self: ProfileRow[];
  total: ProfileRow[];
} {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (n: ProfileNode) => {
    const f = n.callFrame;
    const file = f.url.replace(/^.*\/(main|gamenet|x)\//, "").replace(/^file:\/\//, "");
    return `${f.functionName || "(anonymous)"} ${file}:${f.lineNumber + 1}`;
  };
  const selfMs = new Map<string, number>();
  const totalMs = new Map<string, number>();
  let idleMs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    const leaf = byId.get(profile.samples[i])!;
    if (leaf.callFrame.functionName === "(idle)") {
      idleMs += ms;
      continue;
    }
    selfMs.set(label(leaf), (selfMs.get(label(leaf)) ?? 0) + ms);
    // Inclusive time counts a function once per sample, however deep it recurses.
    const onStack = new Set<string>();
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      onStack.add(label(byId.get(id)!));
    }
    for (const name of onStack) totalMs.set(name, (totalMs.get(name) ?? 0) + ms);
  }
  const rows = (m: Map<string, number>) =>
    [...m].map(([name, ms]) => ({ name, ms })).sort((a, b) => b.ms - a.ms);
  return {
    wallMs: (profile.endTime - profile.startTime) / 1000,
    idleMs,
    self: rows(selfMs),
    total: rows(totalMs),
  };
}

if (import.meta.main) {
  const [file, topArg] = Deno.args;
  if (!file) throw new Error("usage: cpu_profile_top.ts <file.cpuprofile> [top]");
  const top = Number(topArg ?? 25);
  const s = summarize(JSON.parse(await Deno.readTextFile(file)));
  const busy = s.wallMs - s.idleMs;
  console.log(
    `wall ${(s.wallMs / 1000).toFixed(1)} s, busy ${(busy / 1000).toFixed(1)} s (${
      (100 * busy / s.wallMs).toFixed(0)
    } %)`,
  );
  const show = (title: string, rows: ProfileRow[]) => {
    console.log(`\n${title}`);
    for (const r of rows.slice(0, top)) {
      console.log(
        `${r.ms.toFixed(0).padStart(8)} ms ${
          (100 * r.ms / busy).toFixed(1).padStart(5)
        } %  ${r.name}`,
      );
    }
  };
  show("self time", s.self);
  show(
    "total time, gamenet's own functions",
    s.total.filter((r) => !/node_modules|ext:|node:|^\(/.test(r.name) && /\.ts:/.test(r.name)),
  );
}
