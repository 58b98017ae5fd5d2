/**
 * Benchmark 4: memory of 10,000 pools × 1,001 ports × 2 protocols.
 * Target: ≤ 6 MiB of heap growth (the bits alone are 2.4 MiB).
 *
 * Measures `Deno.memoryUsage()` `heapUsed + external` (external holds the
 * typed arrays' backing stores) after a full GC, before and after making
 * the pools, with the pools kept alive. The key strings are made before
 * the first measurement: they are the caller's (node names, LB ids).
 * Each case runs in a fresh isolate so one does not skew the next.
 *
 * ```sh
 * deno run --v8-flags=--expose-gc --allow-run --allow-read bench/allocator_memory.ts
 * ```
 * @module
 */

import { HostPortChooser, PoolSet, PortPool } from "../allocator/mod.ts";

const POOLS = 10_000;
const [MIN, MAX] = [7000, 8000];
const CASES = {
  "PoolSet, 10,000 empty pools": (keys: string[]) => {
    const set = new PoolSet(MIN, MAX);
    for (const k of keys) set.ensure(k);
    return set;
  },
  "PoolSet, 10,000 pools with 1 owner × 2 UDP ports each": (keys: string[]) => {
    const set = new PoolSet(MIN, MAX);
    for (const k of keys) set.ensure(k).allocate(`${k}/gs`, { count: 2, protocol: "UDP" });
    return set;
  },
  "HostPortChooser, 10,000 empty nodes": (keys: string[]) => {
    const chooser = new HostPortChooser(MIN, MAX);
    for (const k of keys) chooser.addNode(k);
    return chooser;
  },
  "10,000 standalone PortPools (a typed array each, no slab)": (keys: string[]) =>
    keys.map(() => new PortPool(MIN, MAX)),
} as const;

type Gc = () => void;

function measure(): { heap: number; external: number } {
  const gc = (globalThis as { gc?: Gc }).gc;
  if (!gc) throw new Error("Run with --v8-flags=--expose-gc");
  for (let i = 0; i < 3; i++) gc();
  const m = Deno.memoryUsage();
  return { heap: m.heapUsed, external: m.external };
}

const name = Deno.args[0] as keyof typeof CASES | undefined;
if (name !== undefined) {
  // One case, in this isolate.
  const keys = Array.from({ length: POOLS }, (_, i) => `node-${String(i).padStart(5, "0")}`);
  const before = measure();
  const kept = CASES[name](keys);
  const after = measure();
  const heap = after.heap - before.heap;
  const external = after.external - before.external;
  console.log(JSON.stringify({ name, heap, external, total: heap + external, kept: !!kept }));
} else {
  const bits = POOLS * (MAX - MIN + 1) * 2 / 8;
  console.log(`bits alone: ${(bits / 2 ** 20).toFixed(2)} MiB`);
  console.log("| case | heapUsed | external | total | per pool |");
  console.log("| --- | ---: | ---: | ---: | ---: |");
  for (const c of Object.keys(CASES)) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--v8-flags=--expose-gc", "--allow-read", new URL(import.meta.url).pathname, c],
    }).output();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
    const r = JSON.parse(new TextDecoder().decode(out.stdout));
    const mib = (n: number) => `${(n / 2 ** 20).toFixed(2)} MiB`;
    console.log(
      `| ${c} | ${mib(r.heap)} | ${mib(r.external)} | ${mib(r.total)} | ${
        Math.round(r.total / POOLS)
      } B |`,
    );
  }
}
