/**
 * What a Pod event costs the DedicatedCLB controllers with 10,000 cached
 * Pods, 1,000 `DedicatedCLBService`s and 20,000 `DedicatedCLBListener`s
 * (two ports per service, ten Pods per service, ten namespaces), through
 * the indexes (the real `ExtensionRunner` context and the extension's
 * `keysForPod`) and as it was before them: every lookup a filter over
 * every cached object (the old context's `list` and `pods`, and the old
 * `keysForPod`, kept here as the baseline). Also a service's reconcile
 * lookups (its Pods by selector, its listener objects by owner), and what
 * the indexes cost the store: a Pod update that changes no indexed value,
 * and a relist of the 10,000 Pods, against a plain `Map`.
 *
 * The caches are filled by the real `Reflector`s from a scripted API
 * server (one list, then a watch that sends nothing), stopped before the
 * benchmarks start.
 *
 * ```sh
 * deno bench --allow-all bench/indexer_bench.ts
 * ```
 * @module
 */

import type { KubeClient, RequestOptions } from "../controller/kube_client.ts";
import { type KubeObject, objectKey, Reflector } from "../controller/reflector.ts";
import { ExtensionRunner } from "../controller/extension_runner.ts";
import type { EventRecorder } from "../controller/event_recorder.ts";
import { byNamespace, Indexer, NAMESPACE_INDEX } from "../controller/indexer.ts";
import { PodSelectorIndex } from "../controller/pod_selector_index.ts";
import {
  type ExtensionContext,
  type ExtensionObject,
  OWNER_INDEX,
} from "../providers/extension.ts";
import type { Pod } from "../providers/types.ts";
import {
  CLB_API_VERSION,
  createDedicatedClbExtension,
  DCL_RESOURCE,
  dclName,
  DCS_LABEL,
  DCS_RESOURCE,
} from "../providers/tencent_clb/dedicated_clb.ts";
import { unconfiguredClbApi } from "../providers/tencent_clb/unconfigured_api.ts";
import { ClbWriter } from "../providers/tencent_clb/clb_writer.ts";
import { ClbPools } from "../providers/tencent_clb/clb_pools.ts";

const NAMESPACES = 10;
const SERVICES = 1_000;
const PODS_PER_SERVICE = 10;
const PORTS = [{ protocol: "TCP", targetPort: 9000 }, { protocol: "UDP", targetPort: 8000 }];

// The cluster: service i in namespace i % 10 selects app=gs-i, its ten Pods.
const services: ExtensionObject[] = [];
const pods: (Pod & KubeObject)[] = [];
const listeners: ExtensionObject[] = [];
for (let i = 0; i < SERVICES; i++) {
  const ns = `games-${i % NAMESPACES}`;
  const dcs: ExtensionObject = {
    metadata: { namespace: ns, name: `gs-${i}`, uid: `dcs-uid-${i}`, resourceVersion: "1" },
    spec: {
      selector: { app: `gs-${i}` },
      ports: PORTS,
      existedLbIds: ["lb-1"],
      minPort: 501,
      maxPort: 600,
    },
  };
  services.push(dcs);
  for (let p = 0; p < PODS_PER_SERVICE; p++) {
    const name = `gs-${i}-${p}`;
    pods.push(
      {
        metadata: {
          namespace: ns,
          name,
          uid: `pod-uid-${i}-${p}`,
          resourceVersion: "1",
          labels: {
            app: `gs-${i}`,
            "game.kruise.io/owner-gss": `gs-${i}`,
            "statefulset.kubernetes.io/pod-name": name,
            tier: "game",
          },
        },
        spec: { containers: [] },
        status: { phase: "Running", podIP: `10.${i % 250}.${p}.1` },
      } as unknown as Pod & KubeObject,
    );
    for (const port of PORTS) {
      listeners.push({
        metadata: {
          namespace: ns,
          name: dclName(name, port),
          uid: `dcl-uid-${i}-${p}-${port.targetPort}`,
          resourceVersion: "1",
          labels: { [DCS_LABEL]: dcs.metadata.name },
          ownerReferences: [{
            apiVersion: CLB_API_VERSION,
            kind: "DedicatedCLBService",
            name: dcs.metadata.name,
            uid: dcs.metadata.uid!,
          }],
        },
        spec: {
          lbId: "lb-1",
          lbPort: 501,
          protocol: port.protocol,
          backendPod: { podName: name, port: port.targetPort },
        },
      });
    }
  }
}

/** An API server that lists the objects above once and then watches quietly. */
const client = {
  request(_method: string, path: string) {
    if (path === `/apis/${CLB_API_VERSION}`) {
      return Promise.resolve({ resources: [{ name: DCS_RESOURCE }, { name: DCL_RESOURCE }] });
    }
    const items = path === "/api/v1/pods"
      ? pods
      : path.endsWith(`/${DCS_RESOURCE}`)
      ? services
      : listeners;
    return Promise.resolve({ metadata: { resourceVersion: "1" }, items: structuredClone(items) });
  },
  fetch(_method: string, _path: string, options: RequestOptions = {}) {
    if (options.signal?.aborted) return Promise.reject(options.signal.reason);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        options.signal?.addEventListener("abort", () => controller.error(options.signal!.reason));
      },
    });
    return Promise.resolve(new Response(body));
  },
  resetConnections() {},
} as unknown as KubeClient;

const podCache = new Reflector<Pod & KubeObject>(client, { path: "/api/v1/pods", log: () => {} });
const api = unconfiguredClbApi("bench: no cloud");
const extension = createDedicatedClbExtension({
  api,
  writer: new ClbWriter(api),
  pools: new ClbPools(),
});
const runner = new ExtensionRunner({
  client,
  extension,
  events: {} as EventRecorder,
  pods: podCache,
  log: () => {},
});
podCache.start();
runner.start();
await Promise.all([podCache.synced, runner.synced]);
// Filled: no watch keeps the process (or the timers) going.
await Promise.all([runner.stop(), podCache.stop()]);

const indexed: ExtensionContext = runner.ctx;

/** The context as it was before the indexes: every read a filter over the whole cache. */
const scanning: ExtensionContext = {
  ...indexed,
  list: (resource, namespace) => {
    // Without a namespace, list() still copies the whole store, as it did.
    const all = indexed.list(resource);
    return namespace === undefined ? all : all.filter((o) => o.metadata.namespace === namespace);
  },
  pods: (namespace) =>
    [...podCache.store.values()].filter((p) => p.metadata.namespace === namespace),
};

const keyOf = (o: { metadata: { namespace?: string; name?: string } }) =>
  `${o.metadata.namespace ?? ""}/${o.metadata.name ?? ""}`;

function selects(selector: Record<string, string> | undefined, pod: Pod): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  const labels = pod.metadata.labels ?? {};
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** The two controllers' `keysForPod` before the indexes. */
function scanKeysForPod(pod: Pod, ctx: ExtensionContext): string[] {
  const ns = pod.metadata.namespace ?? "";
  const keys = ctx.list(DCS_RESOURCE, ns).filter((s) => selects(s.spec?.selector, pod))
    .map(keyOf);
  for (const l of ctx.list(DCL_RESOURCE, ns)) {
    const dcs = l.metadata.labels?.[DCS_LABEL];
    if (dcs && l.spec?.backendPod?.podName === pod.metadata.name) keys.push(`${ns}/${dcs}`);
  }
  keys.push(
    ...ctx.list(DCL_RESOURCE, ns)
      .filter((l) => l.spec?.backendPod?.podName === pod.metadata.name).map(keyOf),
  );
  return keys;
}

function indexKeysForPod(pod: Pod, ctx: ExtensionContext): string[] {
  return extension.controllers.flatMap((c) => c.keysForPod!(pod, ctx));
}

// A Pod of the last service, so no scan ends early by luck of order.
const pod = podCache.get(`games-${(SERVICES - 1) % NAMESPACES}/gs-${SERVICES - 1}-3`)!;
const service = indexed.get(
  DCS_RESOURCE,
  `games-${(SERVICES - 1) % NAMESPACES}/gs-${SERVICES - 1}`,
)!;

// Both ways give the same answer before anything is measured.
const same = (a: string[], b: string[]) =>
  JSON.stringify([...new Set(a)].sort()) === JSON.stringify([...new Set(b)].sort());
if (!same(scanKeysForPod(pod, scanning), indexKeysForPod(pod, indexed))) {
  throw new Error("keysForPod: the scan and the index disagree");
}

Deno.bench({
  name: "scan: every service and listener object (as before)",
  group: "Pod event: keysForPod of both controllers",
  baseline: true,
  fn() {
    scanKeysForPod(pod, scanning);
  },
});
Deno.bench({
  name: "index: selecting() + byIndex(backendPod)",
  group: "Pod event: keysForPod of both controllers",
  fn() {
    indexKeysForPod(pod, indexed);
  },
});

function scanServiceLookups(ctx: ExtensionContext) {
  const ns = service.metadata.namespace!;
  const selected = ctx.pods(ns).filter((p) => selects(service.spec.selector, p));
  const children = ctx.list(DCL_RESOURCE, ns).filter((l) =>
    l.metadata.ownerReferences?.some((r) => r.uid === service.metadata.uid)
  );
  return [selected.length, children.length];
}
function indexServiceLookups(ctx: ExtensionContext) {
  const selected = ctx.selectedPods(DCS_RESOURCE, service);
  const children = ctx.byIndex(DCL_RESOURCE, OWNER_INDEX, service.metadata.uid!);
  return [selected.length, children.length];
}
if (!same(scanServiceLookups(scanning).map(String), indexServiceLookups(indexed).map(String))) {
  throw new Error("service lookups: the scan and the index disagree");
}

Deno.bench({
  name: "scan: Pods of the namespace by selector, listener objects by owner (as before)",
  group: "Service reconcile: its Pods and its listener objects",
  baseline: true,
  fn() {
    scanServiceLookups(scanning);
  },
});
Deno.bench({
  name: "index: selectedPods() + byIndex(owner)",
  group: "Service reconcile: its Pods and its listener objects",
  fn() {
    indexServiceLookups(indexed);
  },
});

// What the indexes cost the store itself: the Pod cache's, namespace and
// the services' selector key (app).
const podEntries = pods.map((p) => [objectKey(p), p] as [string, Pod & KubeObject]);
const plain = new Map(podEntries);
const selectorIndex = new PodSelectorIndex<ExtensionObject>("bench", (s) => s.spec?.selector);
const store = new Indexer<Pod & KubeObject>({
  [NAMESPACE_INDEX]: byNamespace,
  ...selectorIndex.podIndexers(),
});
store.replace(podEntries);
const serviceStore = new Indexer(selectorIndex.selectorIndexers());
for (const s of services) serviceStore.set(objectKey(s as KubeObject), s);
// The first lookup files the Pods under the selectors' key.
selectorIndex.selectedPods({ store, reindex: (i) => store.reindex(i) }, serviceStore, services[0]);
const [updateKey, updated] = podEntries[4_321];
const statusUpdate = { ...updated, metadata: { ...updated.metadata, resourceVersion: "2" } };

Deno.bench({
  name: "Map.set",
  group: "Pod update, no indexed value changed",
  baseline: true,
  fn() {
    plain.set(updateKey, statusUpdate);
  },
});
Deno.bench({
  name: "Indexer.set (namespace + selector key)",
  group: "Pod update, no indexed value changed",
  fn() {
    store.set(updateKey, statusUpdate);
  },
});
Deno.bench({
  name: "Map: clear + set × 10,000",
  group: "relist of 10,000 Pods",
  baseline: true,
  fn() {
    plain.clear();
    for (const [k, p] of podEntries) plain.set(k, p);
  },
});
Deno.bench({
  name: "Indexer.replace (namespace + selector key)",
  group: "relist of 10,000 Pods",
  fn() {
    store.replace(podEntries);
  },
});
