/**
 * What the Pod cache's indexes hold in memory: 10,000 Pods of five labels
 * (app, owner, Pod name, revision hash, tier; 1,000 apps in 10
 * namespaces) in a plain `Map`, in an `Indexer` keeping the namespace
 * index, with the `PodSelectorIndex` Pod index of selectors on `app`, and
 * with every label pair indexed (the alternative the selector index does
 * not take). Heap used after a full GC, each store built in a fresh
 * process.
 *
 * ```sh
 * deno run --v8-flags=--expose-gc --allow-run --allow-read bench/indexer_memory.ts
 * ```
 * @module
 */

import { byNamespace, Indexer, type Indexers, NAMESPACE_INDEX } from "../controller/indexer.ts";
import { labelPair, PodSelectorIndex } from "../controller/pod_selector_index.ts";

const PODS = 10_000;

interface Pod {
  metadata: { namespace: string; name: string; labels: Record<string, string> };
}
interface Service {
  metadata: { namespace: string };
  spec: { selector: Record<string, string> };
}

function pods(): [string, Pod][] {
  const out: [string, Pod][] = [];
  for (let i = 0; i < PODS; i++) {
    const ns = `games-${i % 10}`;
    const name = `gs-${i}`;
    const app = `gs-${i % 1_000}`;
    out.push([`${ns}/${name}`, {
      metadata: {
        namespace: ns,
        name,
        labels: {
          app,
          "game.kruise.io/owner-gss": app,
          "statefulset.kubernetes.io/pod-name": name,
          "controller-revision-hash": `${app}-7f9c5d`,
          tier: "game",
        },
      },
    }]);
  }
  return out;
}

const STORES = ["Map", "namespace", "namespace + selector key (app)", "namespace + every label"];

/** Builds one store and prints the heap it holds, in MiB. */
function measure(which: string): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("Run with --v8-flags=--expose-gc");
  const data = pods();
  gc();
  const before = Deno.memoryUsage().heapUsed;
  let store: unknown;
  if (which === "Map") store = new Map(data);
  else {
    const indexers: Indexers<Pod> = { [NAMESPACE_INDEX]: byNamespace };
    const selectors = new PodSelectorIndex<Service>("bench", (s) => s.spec.selector);
    if (which.includes("selector")) Object.assign(indexers, selectors.podIndexers());
    if (which.includes("every")) {
      indexers.labels = (p) =>
        Object.entries(p.metadata.labels).map(([k, v]) => labelPair(p.metadata.namespace, k, v));
    }
    const indexer = new Indexer<Pod>(indexers);
    indexer.replace(data);
    if (which.includes("selector")) {
      // One service selecting on app: its first lookup files the Pods under app.
      const service = { metadata: { namespace: "games-1" }, spec: { selector: { app: "gs-1" } } };
      const services = new Indexer<Service>(selectors.selectorIndexers());
      services.set("games-1/s", service);
      const cache = { store: indexer, reindex: (i: string) => indexer.reindex(i) };
      if (selectors.selectedPods(cache, services, service).length !== 10) {
        throw new Error("selector");
      }
    }
    store = indexer;
  }
  gc();
  const after = Deno.memoryUsage().heapUsed;
  console.log(
    JSON.stringify({
      which,
      mib: (after - before) / 2 ** 20,
      size: (store as Map<unknown, unknown>).size,
    }),
  );
}

if (Deno.args[0]) {
  measure(Deno.args[0]);
} else {
  console.log(`| store (${PODS.toLocaleString("en")} Pods, 5 labels) | heap held | over Map |`);
  console.log("| --- | --- | --- |");
  let map = 0;
  for (const which of STORES) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--v8-flags=--expose-gc", "--allow-read", import.meta.filename!, which],
    }).output();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
    const { mib } = JSON.parse(new TextDecoder().decode(out.stdout));
    if (which === "Map") map = mib;
    console.log(`| ${which} | ${mib.toFixed(2)} MiB | +${(mib - map).toFixed(2)} MiB |`);
  }
}
