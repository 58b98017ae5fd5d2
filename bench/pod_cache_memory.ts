/**
 * Heap per cached Pod: the Pods of the scale recording (the real API
 * server's bytes, `.cache/scale/recording.json`, written by
 * `bench/scale.ts real`) read as the reflector reads them
 * (`withoutManagedFields`, `JSON.parse`) and kept as the manager keeps
 * them (`slimPod`), or whole with `full`. Heap used after full
 * collections, before and after.
 *
 * ```sh
 * deno run --v8-flags=--expose-gc --allow-read bench/pod_cache_memory.ts [slim|full]
 * ```
 * @module
 */

import { withoutManagedFields } from "../controller/kube_client.ts";
import { slimPod } from "../controller/manager.ts";
import type { Pod } from "../providers/types.ts";

const RECORDING = new URL("../.cache/scale/recording.json", import.meta.url);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("Run with --v8-flags=--expose-gc");

/** Heap used once collections have nothing left to free. */
async function settledHeap(): Promise<number> {
  for (let i = 0; i < 6; i++) {
    gc!();
    await new Promise((r) => setTimeout(r, 20));
  }
  return Deno.memoryUsage().heapUsed;
}

const mode = Deno.args[0] ?? "slim";
const texts = (JSON.parse(Deno.readTextFileSync(RECORDING)) as { pods: string[] }).pods;
const kept: Pod[] = new Array(texts.length);
// The recording's own text goes only after a few rounds of collections.
await settledHeap();
const before = await settledHeap();
for (let i = 0; i < texts.length; i++) {
  const pod = JSON.parse(withoutManagedFields(texts[i])) as Pod;
  kept[i] = mode === "full" ? pod : slimPod(pod);
}
const after = await settledHeap();
// `texts` is read again here so that it is alive for both measures.
console.log(
  `${mode}: ${kept.length} of ${texts.length} Pods, ${
    Math.round((after - before) / kept.length)
  } B of heap each`,
);
