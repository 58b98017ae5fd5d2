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
import { ClbVips } from "./clb_vips.ts";
import { ClbRegions } from "./clb_regions.ts";
import type { ClbApi } from "./clb_api.ts";
import { WorkQueue } from "../../controller/work_queue.ts";
import { eventually } from "../../tests/e2e/helpers.ts";
import {
  BACKEND_POD_INDEX,
  createDedicatedClbExtension,
  DCL_FINALIZER,
  DCL_RESOURCE,
  DCS_RESOURCE,
  listenerParameters,
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
  /** Keys the controllers asked to see again (`ctx.enqueue`). */
  enqueued: string[] = [];
  #wake: (() => void)[] = [];
  /** Called on every write to an object, as a watch would (a test's work queue adds the key). */
  onChange: (resource: string, key: string) => void = () => {};
  /** Called on `ctx.enqueue` (a test's work queue adds the key). */
  onEnqueue: (controller: string, key: string) => void = () => {};
  #uid = 0;
  #version = 0;

  /** Resolves at the next `ctx.enqueue`, or after `ms`. */
  nextEnqueue(ms = 5_000): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

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
      // A copy, as a cache hands out: what a reconcile read does not change under it.
      get: (r, k) => structuredClone(this.objects.get(r)!.get(k)),
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
        made.metadata.resourceVersion = String(++this.#version);
        this.objects.get(r)!.set(k, made);
        this.onChange(r, k);
        return Promise.resolve(made);
      },
      patch: (r, ns, name, patch) => {
        const o = this.objects.get(r)!.get(key(ns, name));
        if (!o) return Promise.reject(Object.assign(new Error("not found"), { status: 404 }));
        const p = patch as {
          status?: object;
          metadata?: { finalizers?: string[]; resourceVersion?: string };
        };
        const expected = p.metadata?.resourceVersion;
        if (expected !== undefined && expected !== o.metadata.resourceVersion) {
          return Promise.reject(Object.assign(new Error("conflict"), { status: 409 }));
        }
        o.metadata.resourceVersion = String(++this.#version);
        if (p.status) o.status = { ...o.status, ...p.status };
        if (p.metadata?.finalizers) {
          o.metadata.finalizers = p.metadata.finalizers;
          // The API server removes an object whose last finalizer goes.
          if (o.metadata.deletionTimestamp && o.metadata.finalizers.length === 0) {
            this.objects.get(r)!.delete(key(ns, name));
          }
        }
        this.onChange(r, key(ns, name));
        return Promise.resolve();
      },
      delete: (r, ns, name) => {
        const o = this.objects.get(r)!.get(key(ns, name));
        if (o) {
          if (o.metadata.finalizers?.length) {
            o.metadata.deletionTimestamp = "2026-11-22T00:00:00Z";
            o.metadata.resourceVersion = String(++this.#version);
          } else this.objects.get(r)!.delete(key(ns, name));
          this.onChange(r, key(ns, name));
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
      enqueue: (controller, k) => {
        this.enqueued.push(k);
        this.onEnqueue(controller, k);
        for (const wake of this.#wake.splice(0)) wake();
      },
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

interface SetupOptions {
  /** The fake's listener quota per CLB. @default {50} */
  listenerQuota?: number;
  /** How long each write's task runs in the fake. @default {0} */
  taskDurationMs?: number;
  /** CLBs of the fake, in its home region unless they say. @default {lb-xxx, lb-yyy, lb-zzz} */
  loadBalancers?: { id: string; vip?: string; region?: string }[];
  /** Other regions get their own client of the fake (`lbRegion`). @default {false} */
  regional?: boolean;
}

async function setup(options: SetupOptions = {}) {
  const cloud = await FakeTencentCloud.start({
    loadBalancers: options.loadBalancers ?? ["lb-xxx", "lb-yyy", "lb-zzz"].map((id, i) => ({
      id,
      vip: `198.51.100.${i + 1}`,
    })),
    rateLimitPerSecond: Infinity,
    listenerQuota: options.listenerQuota,
    taskDurationMs: options.taskDurationMs,
  });
  const sent: { region: string; action: string; request: Record<string, unknown> }[] = [];
  /** The fake's client of `region`, noting every request sent. */
  const client = (region: string): ClbApi =>
    new Proxy(clbApiFor(cloud, { region }), {
      get(target, action, receiver) {
        const call = Reflect.get(target, action, receiver);
        return (request: Record<string, unknown>) => {
          sent.push({ region, action: String(action), request });
          return call(request);
        };
      },
    });
  const api = client(cloud.region);
  const pools = new ClbPools();
  const writerOptions = { lingerMs: 5, retryInitialMs: 5, taskPollMs: 5 };
  const writer = new ClbWriter(api, writerOptions);
  const regions = options.regional
    ? new ClbRegions({
      region: cloud.region,
      home: { api, writer, vips: new ClbVips(api, writer) },
      connect: client,
      writerOptions,
    })
    : undefined;
  const extension = createDedicatedClbExtension({
    api,
    writer,
    pools,
    regions,
    targetsLingerMs: 5,
  });
  const store = new Store(extension.kinds);
  const ctx = store.ctx();
  const [services, listeners] = extension.controllers;
  /**
   * Reconciles everything until nothing changes (what the queues do),
   * waiting for the creates a reconcile handed to the writer.
   */
  const settle = async () => {
    let last = "";
    for (let round = 0; round < 40; round++) {
      for (const k of store.objects.get(DCS_RESOURCE)!.keys()) await services.reconcile(k, ctx);
      await Promise.all(
        [...store.objects.get(DCL_RESOURCE)!.keys()].map((k) => listeners.reconcile(k, ctx)),
      );
      const dcls = [...store.objects.get(DCL_RESOURCE)!.values()];
      if (dcls.some((d) => d.status?.state === "Pending")) {
        if (store.enqueued.length === 0) await store.nextEnqueue();
        store.enqueued = [];
        continue;
      }
      const now = JSON.stringify([...store.objects.values()].map((m) => [...m.values()]));
      if (now === last) return;
      last = now;
    }
  };
  return { cloud, api, pools, store, ctx, extension, settle, sent };
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
  await store.nextEnqueue(); // the create handed to the writer is answered
  await listeners.reconcile("demo/good", ctx);
  const bad = store.objects.get(DCL_RESOURCE)!.get("demo/bad")!;
  assert.equal(bad.status.state, "Failed");
  assert.match(bad.status.message, /lb-nope/);
  assert.ok(store.events.some((e) => e.startsWith("bad Warning ClbGone")));
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

/** The seed's service on `lbs` only, with `spec` changes. */
function service(lbs: string[], spec: Record<string, unknown> = {}): ExtensionObject {
  const dcs = structuredClone(SEED_SERVICE);
  dcs.spec.existedLbIds = lbs;
  Object.assign(dcs.spec, spec);
  return dcs;
}

const cloudNames = (cloud: FakeTencentCloud, lbs: string[]) =>
  lbs.flatMap((lb) => cloud.loadBalancer(lb)?.listeners.map((l) => l.name) ?? []);

Deno.test("reconcile() lets listener objects go whose CLB was deleted by hand", async () => {
  const { cloud, store, settle } = await setup();
  await using _ = cloud;
  store.objects.get(DCS_RESOURCE)!.set("demo/gameserver", service(["lb-xxx"]));
  for (let i = 0; i < 2; i++) store.pods.set(`demo/gameserver-${i}`, gamePod(i));
  await settle();
  assert.equal(store.objects.get(DCL_RESOURCE)!.size, 4);
  cloud.removeLoadBalancer("lb-xxx");
  store.pods.clear();
  await settle();
  // The cloud answers InvalidParameter.LBIdNotFound: nothing left to delete there.
  assert.deepEqual([...store.objects.get(DCL_RESOURCE)!.keys()], []);
});

Deno.test("sweep() finds a CLB deleted by hand; its listener objects move to another CLB of their service", async () => {
  const { cloud, store, ctx, settle, extension } = await setup();
  await using _ = cloud;
  store.objects.get(DCS_RESOURCE)!.set("demo/gameserver", structuredClone(SEED_SERVICE));
  for (let i = 0; i < 3; i++) store.pods.set(`demo/gameserver-${i}`, gamePod(i));
  await settle();
  const before = [...store.objects.get(DCL_RESOURCE)!.values()];
  assert.ok(before.every((d) => d.spec.lbId === "lb-xxx" && d.status.state === "Bound"));
  cloud.removeLoadBalancer("lb-xxx");
  await extension.sweep!(ctx);
  await settle();
  const after = [...store.objects.get(DCL_RESOURCE)!.values()];
  assert.equal(after.length, 6);
  for (const dcl of after) {
    assert.equal(dcl.spec.lbId, "lb-yyy", dcl.metadata.name);
    assert.equal(dcl.status.state, "Bound", dcl.metadata.name);
    assert.match(dcl.status.address, /^198\.51\.100\.2:/);
    const pod = store.pods.get(`demo/${dcl.spec.backendPod.podName}`)!;
    assert.ok(Object.values(pod.metadata.annotations ?? {}).includes(dcl.status.address));
  }
  assert.equal(cloudNames(cloud, ["lb-yyy"]).length, 6);
  assert.ok(store.events.some((e) => e.startsWith("gameserver Warning ClbGone: CLB lb-xxx")));
});

Deno.test("sweep() finds a CLB deleted by hand; listener objects of a service naming no other are Failed", async () => {
  const { cloud, store, ctx, settle, extension } = await setup();
  await using _ = cloud;
  store.objects.get(DCS_RESOURCE)!.set("demo/gameserver", service(["lb-xxx"]));
  store.pods.set("demo/gameserver-0", gamePod(0));
  await settle();
  cloud.removeLoadBalancer("lb-xxx");
  await extension.sweep!(ctx);
  await settle();
  const dcls = [...store.objects.get(DCL_RESOURCE)!.values()];
  assert.equal(dcls.length, 2);
  for (const dcl of dcls) {
    assert.equal(dcl.status.state, "Failed");
    assert.match(dcl.status.message, /CLB lb-xxx does not exist.*names no other CLB/);
    assert.ok(store.events.some((e) => e.startsWith(`${dcl.metadata.name} Warning ClbGone`)));
  }
  const status = store.objects.get(DCS_RESOURCE)!.get("demo/gameserver")!.status;
  assert.match(status.message, /None of the CLBs lb-xxx exists/);
});

Deno.test("reconcile() of a deleted listener object deletes its listener once, whatever else is deleted with it", async () => {
  const { cloud, store, ctx, settle, extension } = await setup();
  await using _ = cloud;
  const [, listeners] = extension.controllers;
  store.objects.get(DCS_RESOURCE)!.set("demo/gameserver", service(["lb-xxx"]));
  for (let i = 0; i < 2; i++) store.pods.set(`demo/gameserver-${i}`, gamePod(i));
  await settle();
  // TCP and UDP listeners share port numbers: 501 and 502 of each.
  assert.deepEqual(
    cloud.loadBalancer("lb-xxx")!.listeners.map((l) => `${l.port}/${l.protocol}`).sort(),
    ["501/TCP", "501/UDP", "502/TCP", "502/UDP"],
  );
  store.pods.clear(); // the service makes no listener object again
  const [first, ...rest] = [...store.objects.get(DCL_RESOURCE)!.values()].map((d) =>
    d.metadata.name
  );
  // The first pass writes "Deleting", so its finalizer patch (on the version it read) conflicts.
  await ctx.delete(DCL_RESOURCE, "demo", first);
  await listeners.reconcile(`demo/${first}`, ctx);
  for (const name of rest) {
    // An earlier pass of theirs wrote "Deleting" and stopped (a throttled read, say): this one
    // patches the finalizer on the version it read.
    store.objects.get(DCL_RESOURCE)!.get(`demo/${name}`)!.status.state = "Deleting";
    await ctx.delete(DCL_RESOURCE, "demo", name);
  }
  // Its second pass and the others' first share the writer's batch.
  await Promise.all(
    [first, ...rest].map((name) => listeners.reconcile(`demo/${name}`, ctx)),
  );
  await settle();
  assert.deepEqual([...store.objects.get(DCL_RESOURCE)!.keys()], []);
  assert.deepEqual(cloudNames(cloud, ["lb-xxx"]), []);
});

Deno.test("reconcile() of a listener object deleted while its create is under way deletes the listener made", async () => {
  const { cloud, store, ctx, extension } = await setup();
  await using _ = cloud;
  const [, listeners] = extension.controllers;
  store.objects.get(DCL_RESOURCE)!.set("demo/lone", {
    metadata: { namespace: "demo", name: "lone", uid: "u-1", finalizers: [DCL_FINALIZER] },
    spec: { lbId: "lb-xxx", lbPort: 530, protocol: "UDP" },
  });
  await listeners.reconcile("demo/lone", ctx); // hands the create to the writer
  await ctx.delete(DCL_RESOURCE, "demo", "lone");
  // Again while it asks for it (its own "Deleting" conflicts with its first finalizer patch).
  for (let pass = 0; pass < 3 && (await listeners.reconcile("demo/lone", ctx)).retry;) pass++;
  assert.deepEqual([...store.objects.get(DCL_RESOURCE)!.keys()], []);
  assert.deepEqual(cloudNames(cloud, ["lb-xxx"]), []);
});

Deno.test("reconcile() calls the CLBs' lbRegion, with the service's listenerExtensiveParameters", async () => {
  const { cloud, store, settle, sent } = await setup({
    regional: true,
    loadBalancers: ["lb-xxx", "lb-yyy", "lb-zzz"].map((id, i) => ({
      id,
      vip: `198.51.100.${i + 1}`,
      region: "ap-chengdu",
    })),
  });
  await using _ = cloud;
  const parameters = { Scheduler: "LEAST_CONN", SessionExpireTime: 30 };
  store.objects.get(DCS_RESOURCE)!.set(
    "demo/gameserver",
    service(["lb-xxx", "lb-yyy", "lb-zzz"], {
      listenerExtensiveParameters: JSON.stringify(parameters),
    }),
  );
  for (let i = 0; i < 2; i++) store.pods.set(`demo/gameserver-${i}`, gamePod(i));
  await settle();
  const dcls = [...store.objects.get(DCL_RESOURCE)!.values()];
  assert.equal(dcls.length, 4);
  for (const dcl of dcls) assert.equal(dcl.status?.state, "Bound", JSON.stringify(dcl.status));
  assert.equal(cloudNames(cloud, ["lb-xxx"]).length, 4);
  const aboutLbs = sent.filter((s) => s.request?.LoadBalancerId || s.request?.LoadBalancerIds);
  assert.ok(aboutLbs.length > 0);
  assert.deepEqual([...new Set(aboutLbs.map((s) => s.region))], ["ap-chengdu"]);
  const creates = sent.filter((s) => s.action === "CreateListener");
  assert.ok(creates.length > 0);
  for (const c of creates) assert.deepEqual(c.request, { ...c.request, ...parameters });
});

Deno.test("reconcile() refuses a listenerConfig: gamenet has no CLBListenerConfig", async () => {
  const { cloud, store, settle } = await setup();
  await using _ = cloud;
  store.objects.get(DCS_RESOURCE)!.set(
    "demo/gameserver",
    service(["lb-xxx"], { listenerConfig: "clblistenerconfig-sample" }),
  );
  store.pods.set("demo/gameserver-0", gamePod(0));
  await settle();
  const dcls = [...store.objects.get(DCL_RESOURCE)!.values()];
  assert.equal(dcls.length, 2);
  for (const dcl of dcls) {
    assert.equal(dcl.status?.state, "Failed");
    assert.match(
      dcl.status.message,
      /listenerConfig "clblistenerconfig-sample" names a CLBListenerConfig/,
    );
    assert.ok(
      store.events.some((e) =>
        e.startsWith(`${dcl.metadata.name} Warning ListenerConfigUnsupported`)
      ),
    );
  }
  assert.deepEqual(cloudNames(cloud, ["lb-xxx"]), []);
});

Deno.test("listenerParameters() refuses JSON that is not an object of CreateListener fields of its own", () => {
  const dcl = (extensiveParameters: string): ExtensionObject => ({
    metadata: { namespace: "demo", name: "gs-0-udp-7777" },
    spec: { extensiveParameters },
  });
  assert.deepEqual(listenerParameters(dcl('{"Scheduler":"WRR"}')), { Scheduler: "WRR" });
  assert.deepEqual(listenerParameters(dcl("")), {});
  assert.throws(() => listenerParameters(dcl("{Scheduler")), /demo\/gs-0-udp-7777: .* is not JSON/);
  assert.throws(() => listenerParameters(dcl("[1]")), /must be a JSON object/);
  assert.throws(() => listenerParameters(dcl('{"Ports":[80]}')), /sets Ports, which gamenet sets/);
});

Deno.test("240 listener objects on one CLB share a handful of CreateListener calls (64 workers)", async () => {
  const { cloud, store, ctx, extension } = await setup({
    loadBalancers: [{ id: "lb-xxx", vip: "198.51.100.1" }],
    listenerQuota: 300,
    taskDurationMs: 50,
  });
  await using _ = cloud;
  const [services, listeners] = extension.controllers;
  // What the extension runner does: a queue of 64 workers; every write to
  // a listener object brings its key back, as its watch would.
  const queue = new WorkQueue((key) => listeners.reconcile(key, ctx), { workers: 64 });
  store.onChange = (resource, key) => resource === DCL_RESOURCE && queue.add(key);
  store.onEnqueue = (controller, key) => controller === "dedicatedclblisteners" && queue.add(key);
  store.objects.get(DCS_RESOURCE)!.set(
    "demo/gameserver",
    service(["lb-xxx"], { minPort: 501, maxPort: 700 }),
  );
  for (let i = 0; i < 120; i++) store.pods.set(`demo/gameserver-${i}`, gamePod(i));
  queue.start();
  try {
    await services.reconcile("demo/gameserver", ctx);
    await eventually(
      "240 Bound listener objects",
      () => {
        const dcls = [...store.objects.get(DCL_RESOURCE)!.values()];
        return (dcls.length === 240 && dcls.every((d) => d.status?.state === "Bound")) || undefined;
      },
      60_000,
      50,
    );
  } finally {
    await queue.stop();
  }
  const calls = cloud.stats().calls;
  console.log(`240 listeners: ${JSON.stringify(calls)}`);
  assert.equal(cloudNames(cloud, ["lb-xxx"]).length, 240);
  // 240 / 49 ports per call: 5 at best.
  assert.ok(calls.CreateListener <= 10, `${calls.CreateListener} CreateListener calls`);
});
