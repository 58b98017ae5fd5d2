/**
 * gamenet's side of the peer comparison: the states of `states.ts` built
 * with gamenet's allocator and timed the way the peers' Go benchmarks are
 * (three runs of at least half a second each; the median run is the one
 * compared). `run.ts` calls it with `--json`; alone it prints a table.
 *
 * - `alloc`: `HostPortChooser.choose` of one UDP port for a Pod not yet
 *   scheduled, then `release` — what Agones' `Allocate` + `DeAllocate` and
 *   OpenKruiseGame's `allocatePorts` + `deallocatePorts` do. Each node's used
 *   ports are bound to one owner (as the peers get one GameServer or Pod per
 *   node): no timed path depends on how many owners there are. On 1 node,
 *   also `PortPool.allocate` + `release` (bench 1's way, one owner a port).
 * - `restore`: a new chooser and one `bind` per owner, as bench/restore_bench.ts.
 * - `memory`: `heapUsed + external` added by the chooser after forced GCs,
 *   the owner names made before the first measure, in a fresh isolate each
 *   (as bench/allocator_memory.ts); one owner per used port.
 *
 * ```sh
 * deno run --v8-flags=--expose-gc --allow-read --allow-run bench/peers/gamenet_side.ts
 * ```
 * @module
 */

import { HostPortChooser, PortPool } from "../../allocator/mod.ts";
import { type PeerState, STATES, usedPorts } from "./states.ts";

/** One result line of this side. */
export interface SideResult {
  id: string;
  /** `HostPortChooser` or `PortPool`. */
  what: string;
  /** Median of the runs, ns per operation (`alloc`, `restore`). */
  ns?: number;
  runs?: number[];
  /** Live heap added (`memory`). */
  bytes?: number;
}

/** ns per call of `fn`: three runs of ≥ `minMs` (and ≥ 3 calls) after a warm-up; median and all runs. */
export function timeIt(fn: () => void, minMs = 500): { ns: number; runs: number[] } {
  const run = (ms: number) => {
    let calls = 0;
    let batch = 1;
    const start = performance.now();
    let elapsed = 0;
    // Batches grow so the clock is read rarely on fast operations.
    while (elapsed < ms || calls < 3) {
      for (let i = 0; i < batch; i++) fn();
      calls += batch;
      elapsed = performance.now() - start;
      if (elapsed < ms / 20) batch *= 2;
    }
    return (elapsed * 1e6) / calls;
  };
  run(minMs / 5);
  const runs = [run(minMs), run(minMs), run(minMs)];
  return { ns: [...runs].sort((a, b) => a - b)[1], runs };
}

function chooserOf(s: PeerState): HostPortChooser {
  const chooser = new HostPortChooser(s.min, s.max);
  for (let n = 0; n < s.nodes; n++) {
    const node = `node-${n}`;
    chooser.addNode(node);
    const used = usedPorts(s, n);
    if (used.length > 0) {
      chooser.bind(`default/gs-${n}`, node, used.map((port) => ({ port, protocol: "UDP" })));
    }
  }
  return chooser;
}

function alloc(s: PeerState): SideResult[] {
  const chooser = chooserOf(s);
  const out: SideResult[] = [{
    id: s.id,
    what: "HostPortChooser",
    ...timeIt(() => {
      chooser.choose("default/bench", ["UDP"]);
      chooser.release("default/bench");
    }),
  }];
  if (s.nodes === 1) {
    const pool = new PortPool(s.min, s.max);
    usedPorts(s, 0).forEach((port, i) => pool.reserve(port, "UDP", `default/fill-${i}`));
    const request = { count: 1, protocol: "UDP" as const };
    out.push({
      id: s.id,
      what: "PortPool",
      ...timeIt(() => {
        pool.allocate("default/bench", request);
        pool.release("default/bench");
      }),
    });
  }
  return out;
}

function restore(s: PeerState): SideResult[] {
  const plan: { owner: string; node: string; ports: { port: number; protocol: "UDP" }[] }[] = [];
  const next = new Int32Array(s.nodes);
  for (let i = 0; i < s.owners; i++) {
    const n = i % s.nodes;
    const p = s.min + next[n];
    next[n] += 2;
    plan.push({
      owner: `default/gs-${i}`,
      node: `node-${n}`,
      ports: [{ port: p, protocol: "UDP" }, { port: p + 1, protocol: "UDP" }],
    });
  }
  return [{
    id: s.id,
    what: "HostPortChooser",
    ...timeIt(() => {
      const chooser = new HostPortChooser(s.min, s.max);
      for (const { owner, node, ports } of plan) chooser.bind(owner, node, ports);
    }, 2_000),
  }];
}

type Gc = () => void;

/** In this isolate: the heap one memory state adds. */
function memoryHere(s: PeerState): SideResult {
  const gc = (globalThis as { gc?: Gc }).gc;
  if (!gc) throw new Error("Run with --v8-flags=--expose-gc");
  const heap = () => {
    for (let i = 0; i < 3; i++) gc();
    const m = Deno.memoryUsage();
    return m.heapUsed + m.external;
  };
  // The caller's: node names, owner names and the ports each holds.
  const nodes = Array.from({ length: s.nodes }, (_, n) => `node-${n}`);
  const owners = nodes.map((_, n) =>
    usedPorts(s, n).map((port, k) => ({
      owner: `default/gs-${n}-${k}`,
      ports: [{ port, protocol: "UDP" as const }],
    }))
  );
  const before = heap();
  const chooser = new HostPortChooser(s.min, s.max);
  nodes.forEach((node, n) => {
    chooser.addNode(node);
    for (const { owner, ports } of owners[n]) chooser.bind(owner, node, ports);
  });
  const bytes = heap() - before;
  if (chooser.nodeCount !== s.nodes || owners.length !== s.nodes) throw new Error("lost state");
  return { id: s.id, what: "HostPortChooser", bytes };
}

async function memory(s: PeerState): Promise<SideResult[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--v8-flags=--expose-gc",
      "--allow-read",
      new URL(import.meta.url).pathname,
      "--memory-here",
      s.id,
    ],
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return [JSON.parse(new TextDecoder().decode(out.stdout))];
}

/** gamenet's results for `states`, one state after the other. */
export async function measureGamenet(
  states: PeerState[],
  onResult: (r: SideResult) => void = () => {},
): Promise<SideResult[]> {
  const all: SideResult[] = [];
  for (const s of states) {
    const rs = s.kind === "alloc" ? alloc(s) : s.kind === "restore" ? restore(s) : await memory(s);
    for (const r of rs) onResult(r);
    all.push(...rs);
  }
  return all;
}

if (import.meta.main) {
  const [flag, id] = Deno.args;
  if (flag === "--memory-here") {
    console.log(JSON.stringify(memoryHere(STATES.find((s) => s.id === id)!)));
  } else {
    const json = flag === "--json";
    const ids = Deno.args.filter((a) => !a.startsWith("--"));
    const states = ids.length ? STATES.filter((s) => ids.includes(s.id)) : STATES;
    await measureGamenet(states, (r) => {
      if (json) console.log(JSON.stringify(r));
      else {
        const label = STATES.find((s) => s.id === r.id)!.label;
        const value = r.bytes !== undefined
          ? `${(r.bytes / 2 ** 20).toFixed(2)} MiB`
          : `${r.ns!.toFixed(0)} ns (runs ${r.runs!.map((x) => x.toFixed(0)).join(" / ")})`;
        console.log(`${label} — ${r.what}: ${value}`);
      }
    });
  }
}
