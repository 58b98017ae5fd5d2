// DedicatedCLBService / DedicatedCLBListener controllers against an
// in-memory object store (the core's part is tested on the control plane)
// and the fake Tencent Cloud through the real SDK.
import assert from "node:assert/strict";
import { FakeTencentCloud } from "../../tests/fakes/tencentcloud/fake_tencent_cloud.ts";
import {
  type ExtensionContext,
  type ExtensionKind,
  type ExtensionObject,
  OWNER_INDEX,
} from "../extension.ts";
import type { Pod } from "../types.ts";
import { ClbPools } from "./clb_pools.ts";
import { ClbWriter } from "./clb_writer.ts";
import {
  BACKEND_POD_INDEX,
  createDedicatedClbExtension,
  DCL_FINALIZER,
  DCL_RESOURCE,
  DCS_RESOURCE,
} from "./dedicated_clb.ts";
import { dclListenerName } from "./listener_name.ts";
import { clbApiFor } from "../../tests/fakes/tencentcloud/clb_api_for.ts";

/** Equality selector, empty selects nothing: what the core's selector index answers. */
function matches(
  selector: Record<string, string> | undefined,
  labels = {} as Record<string, string>,
) {
  const pairs = Object.entries(selector ?? {});
  return pairs.length > 0 && pairs.every(([k, v]) => labels[k] === v);
}

/**
 * A store that behaves like the API server for what the controllers do.
 * Its index reads scan with the kinds' own index functions: the answers
 * the core's indexes must give, whatever their cost.
 */
class Store {
  readonly #kinds: ExtensionKind[];
  objects = new Map<string, Map<string, ExtensionObject>>([
    [DCS_RESOURCE, new Map()],
    [DCL_RESOURCE, new Map()],
  ]);
  pods = new Map<string, Pod>();
  events: string[] = [];
  #uid = 0;

  constructor(kinds: ExtensionKind[]) {
    this.#kinds = kinds;
  }

  #kind(resource: string): ExtensionKind {
    return this.#kinds.find((k) => k.resource === resource)!;
  }

  ctx(): ExtensionContext {
    const key = (ns: string, name: string) => `${ns}/${name}`;
    const owners = (o: ExtensionObject) => (o.metadata.ownerReferences ?? []).map((r) => r.uid);
    return {
      byIndex: (r, index, value) => {
        const fn = index === OWNER_INDEX ? owners : this.#kind(r).indexes?.[index];
        if (!fn) throw new Error(`${r}: no index "${index}"`);
        return [...this.objects.get(r)!.values()].filter((o) => fn(o).includes(value));
      },
      selecting: (r, pod) =>
        [...this.objects.get(r)!.values()].filter((o) =>
          o.metadata.namespace === pod.metadata.namespace &&
          matches(this.#kind(r).podSelector!(o), pod.metadata.labels)
        ),
      selectedPods: (r, obj) =>
        [...this.pods.values()].filter((p) =>
          p.metadata.namespace === obj.metadata.namespace &&
          matches(this.#kind(r).podSelector!(obj), p.metadata.labels)
        ),
      get: (r, k) => this.objects.get(r)!.get(k),
      list: (r, ns) =>
        [...this.objects.get(r)!.values()].filter((o) =>
          ns === undefined || o.metadata.namespace === ns
        ),
      pod: (k) => this.pods.get(k),
      pods: (ns) => [...this.pods.values()].filter((p) => p.metadata.namespace === ns),
      create: (r, ns, obj) => {
        const k = key(ns, obj.metadata.name);
        if (this.objects.get(r)!.has(k)) {
          return Promise.reject(Object.assign(new Error("exists"), { status: 409 }));
        }
        const made = structuredClone(obj);
        made.metadata.uid = `uid-${++this.#uid}`;
        this.objects.get(r)!.set(k, made);
        return Promise.resolve(made);
      },
      patch: (r, ns, name, patch) => {
        const o = this.objects.get(r)!.get(key(ns, name))!;
        const p = patch as { status?: object; metadata?: { finalizers?: string[] } };
        if (p.status) o.status = { ...o.status, ...p.status };
        if (p.metadata?.finalizers) {
          o.metadata.finalizers = p.metadata.finalizers;
          // The API server removes an object whose last finalizer goes.
          if (o.metadata.deletionTimestamp && o.metadata.finalizers.length === 0) {
            this.objects.get(r)!.delete(key(ns, name));
          }
        }
        return Promise.resolve();
      },
      delete: (r, ns, name) => {
        const o = this.objects.get(r)!.get(key(ns, name));
        if (o) {
          if (o.metadata.finalizers?.length) o.metadata.deletionTimestamp = "2026-11-22T00:00:00Z";
          else this.objects.get(r)!.delete(key(ns, name));
        }
        return Promise.resolve();
      },
      patchPod: (ns, name, patch) => {
        const pod = this.pods.get(key(ns, name))!;
        const annotations = (patch as { metadata: { annotations: Record<string, string> } })
          .metadata.annotations;
        pod.metadata.annotations = { ...pod.metadata.annotations, ...annotations };
        return Promise.resolve();
      },
      event: (_r, obj, type, reason, message) => {
        this.events.push(`${obj.metadata.name} ${type} ${reason}: ${message}`);
        return Promise.resolve();
      },
      enqueue: () => {},
      requeuePod: () => {},
      warnings: () => Promise.resolve([]),
      listLive: () => Promise.resolve([]),
    };
  }
}

const SEED_SERVICE: ExtensionObject = {
  metadata: { namespace: "demo", name: "gameserver", uid: "dcs-1", generation: 1 },
  spec: {
    lbRegion: "ap-chengdu",
    minPort: 501,
    maxPort: 600,
    selector: { app: "gameserver" },
    ports: [
      {
        protocol: "TCP",
        targetPort: 9000,
        addressPodAnnotation: "networking.cloud.tencent.com/external-address-9000",
      },
      {
        protocol: "UDP",
        targetPort: 8000,
        addressPodAnnotation: "networking.cloud.tencent.com/external-address-8080",
      },
    ],
    existedLbIds: ["lb-xxx", "lb-yyy", "lb-zzz"],
  },
};

function gamePod(i: number): Pod {
  return {
    metadata: { namespace: "demo", name: `gameserver-${i}`, labels: { app: "gameserver" } },
    status: { phase: "Running", podIP: `10.2.0.${i + 1}` },
  };
}

async function setup() {
  const cloud = await FakeTencentCloud.start({
    loadBalancers: ["lb-xxx", "lb-yyy", "lb-zzz"].map((id, i) => ({
      id,
      vip: `198.51.100.${i + 1}`,
    })),
    rateLimitPerSecond: Infinity,
  });
  const api = clbApiFor(cloud);
  const pools = new ClbPools();
  const writer = new ClbWriter(api, { lingerMs: 5, retryInitialMs: 5, taskPollMs: 5 });
  const extension = createDedicatedClbExtension({ api, writer, pools });
  const store = new Store(extension.kinds);
  const ctx = store.ctx();
  const [services, listeners] = extension.controllers;
  /** Reconciles everything until nothing changes (what the queues do). */
  const settle = async () => {
    for (let round = 0; round < 6; round++) {
      for (const k of store.objects.get(DCS_RESOURCE)!.keys()) await services.reconcile(k, ctx);
      await Promise.all(
        [...store.objects.get(DCL_RESOURCE)!.keys()].map((k) => listeners.reconcile(k, ctx)),
      );
    }
  };
  return { cloud, api, pools, store, ctx, extension, settle };
}

Deno.test("the seed's DedicatedCLBService makes one Bound listener per Pod and port, with the address on the Pod", async () => {
  const { cloud, store, settle } = await setup();
  await using _ = cloud;
  store.objects.get(DCS_RESOURCE)!.set("demo/gameserver", structuredClone(SEED_SERVICE));
  for (let i = 0; i < 6; i++) store.pods.set(`demo/gameserver-${i}`, gamePod(i));
  await settle();
  const dcls = [...store.objects.get(DCL_RESOURCE)!.values()];
  assert.equal(dcls.length, 12);
  for (const dcl of dcls) {
    assert.equal(dcl.status?.state, "Bound", dcl.metadata.name);
    assert.deepEqual(dcl.metadata.finalizers, [DCL_FINALIZER]);
    const l = cloud.loadBalancer(dcl.spec.lbId)!.listeners.find((x) =>
      x.listenerId === dcl.status.listenerId
    )!;
    assert.equal(l.name, dclListenerName("demo", dcl.metadata.name));
    assert.equal(l.port, dcl.spec.lbPort);
    assert.equal(l.protocol, dcl.spec.protocol);
    const pod = store.pods.get(`demo/${dcl.spec.backendPod.podName}`)!;
    assert.deepEqual(l.targets.map((t) => `${t.eniIp}:${t.port}`), [
      `${pod.status!.podIP}:${dcl.spec.backendPod.port}`,
    ]);
    const annotation = dcl.spec.protocol === "TCP"
      ? "networking.cloud.tencent.com/external-address-9000"
      : "networking.cloud.tencent.com/external-address-8080";
    assert.equal(pod.metadata.annotations?.[annotation], dcl.status.address);
    assert.match(dcl.status.address, /^198\.51\.100\.\d:(5\d\d|600)$/);
  }
  const status = store.objects.get(DCS_RESOURCE)!.get("demo/gameserver")!.status;
  assert.deepEqual([status.allocated, status.bound], [12, 12]);
});

Deno.test("a Pod that goes takes its listener objects and cloud listeners with it", async () => {
  const { cloud, store, settle } = await setup();
  await using _ = cloud;
  store.objects.get(DCS_RESOURCE)!.set("demo/gameserver", structuredClone(SEED_SERVICE));
  for (let i = 0; i < 4; i++) store.pods.set(`demo/gameserver-${i}`, gamePod(i));
  await settle();
  store.pods.delete("demo/gameserver-3");
  store.pods.delete("demo/gameserver-2");
  await settle();
  const names = [...store.objects.get(DCL_RESOURCE)!.values()].map((d) => d.metadata.name).sort();
  assert.deepEqual(names, [
    "gameserver-0-tcp-9000",
    "gameserver-0-udp-8000",
    "gameserver-1-tcp-9000",
    "gameserver-1-udp-8000",
  ]);
  const inCloud = ["lb-xxx", "lb-yyy", "lb-zzz"].flatMap((lb) =>
    cloud.loadBalancer(lb)!.listeners.map((l) => l.name)
  ).sort();
  assert.deepEqual(inCloud, names.map((n) => dclListenerName("demo", n)).sort());
});

Deno.test("restore() takes the objects' ports back and deletes listeners whose object is gone", async () => {
  const { cloud, api, store, settle } = await setup();
  await using _ = cloud;
  store.objects.get(DCS_RESOURCE)!.set("demo/gameserver", structuredClone(SEED_SERVICE));
  for (let i = 0; i < 2; i++) store.pods.set(`demo/gameserver-${i}`, gamePod(i));
  await settle();
  // gamenet restarts; meanwhile one object vanished without its finalizer running.
  store.objects.get(DCL_RESOURCE)!.delete("demo/gameserver-1-udp-8000");
  store.pods.delete("demo/gameserver-1");
  const pools = new ClbPools();
  const writer = new ClbWriter(api, { lingerMs: 5, retryInitialMs: 5, taskPollMs: 5 });
  const next = createDedicatedClbExtension({ api, writer, pools });
  await next.restore!(store.ctx());
  const names = ["lb-xxx", "lb-yyy", "lb-zzz"].flatMap((lb) =>
    cloud.loadBalancer(lb)!.listeners.map((l) => l.name)
  );
  assert.ok(!names.includes(dclListenerName("demo", "gameserver-1-udp-8000")));
  assert.equal(names.length, 3);
  // The remaining objects' ports are held: a new Pod gets other ports.
  store.pods.set("demo/gameserver-5", gamePod(5));
  const ctx = store.ctx();
  const [services] = next.controllers;
  await services.reconcile("demo/gameserver", ctx);
  const fresh = [...store.objects.get(DCL_RESOURCE)!.values()]
    .filter((d) => d.spec.backendPod.podName === "gameserver-5")
    .map((d) => `${d.spec.lbId}:${d.spec.lbPort}/${d.spec.protocol}`);
  const remaining = [...store.objects.get(DCL_RESOURCE)!.values()]
    .filter((d) => d.spec.backendPod.podName !== "gameserver-5")
    .map((d) => `${d.spec.lbId}:${d.spec.lbPort}/${d.spec.protocol}`);
  assert.equal(remaining.length, 3);
  assert.equal(fresh.length, 2);
  for (const p of fresh) assert.ok(!remaining.includes(p), `${p} handed out twice`);
});

Deno.test("a listener object on an unknown CLB is Failed with the reason, others go on", async () => {
  const { cloud, store, ctx, extension } = await setup();
  await using _ = cloud;
  const [, listeners] = extension.controllers;
  for (const [name, lbId] of [["bad", "lb-nope"], ["good", "lb-xxx"]]) {
    store.objects.get(DCL_RESOURCE)!.set(`demo/${name}`, {
      metadata: { namespace: "demo", name, finalizers: [DCL_FINALIZER] },
      spec: { lbId, lbPort: 520, protocol: "UDP" },
    });
  }
  await listeners.reconcile("demo/bad", ctx);
  await listeners.reconcile("demo/good", ctx);
  const bad = store.objects.get(DCL_RESOURCE)!.get("demo/bad")!;
  assert.equal(bad.status.state, "Failed");
  assert.match(bad.status.message, /lb-nope/);
  assert.ok(store.events.some((e) => e.startsWith("bad Warning ClbRequestFailed")));
  const good = store.objects.get(DCL_RESOURCE)!.get("demo/good")!;
  assert.equal(good.status.state, "Available", "no backend Pod: created, not bound");
  assert.equal(good.status.address, "198.51.100.1:520");
});

Deno.test("keysForPod() finds the services selecting a Pod, and those its listener objects name", async () => {
  const { cloud, store, ctx, settle, extension } = await setup();
  await using _ = cloud;
  const [services, listeners] = extension.controllers;
  store.objects.get(DCS_RESOURCE)!.set("demo/gameserver", structuredClone(SEED_SERVICE));
  store.objects.get(DCS_RESOURCE)!.set("demo/other", {
    metadata: { namespace: "demo", name: "other", uid: "dcs-2" },
    spec: { ...SEED_SERVICE.spec, selector: { app: "other" } },
  });
  store.pods.set("demo/gameserver-0", gamePod(0));
  await settle();
  const pod = store.pods.get("demo/gameserver-0")!;
  assert.deepEqual(services.keysForPod!(pod, ctx), ["demo/gameserver"]);
  assert.deepEqual(listeners.keysForPod!(pod, ctx).sort(), [
    "demo/gameserver-0-tcp-9000",
    "demo/gameserver-0-udp-8000",
  ]);
  // Relabelled: the new service selects it, the old one still owns its listeners.
  pod.metadata.labels = { app: "other" };
  assert.deepEqual(services.keysForPod!(pod, ctx), ["demo/other", "demo/gameserver"]);
  await settle();
  assert.deepEqual(
    ctx.byIndex(DCL_RESOURCE, BACKEND_POD_INDEX, "demo/gameserver-0")
      .map((l) => l.metadata.labels?.["networking.cloud.tencent.com/dedicatedclbservice"]),
    ["other", "other"],
  );
});
