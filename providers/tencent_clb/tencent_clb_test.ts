// TencentCloud-CLB against the fake Tencent Cloud through the real SDK:
// the fake's listeners and targets are the truth.
import assert from "node:assert/strict";
import { FakeTencentCloud } from "../../tests/fakes/tencentcloud/fake_tencent_cloud.ts";
import { ClbWriter } from "./clb_writer.ts";
import { createTencentClbProvider, listenerName } from "./tencent_clb.ts";
import {
  ConfError,
  NETWORK_CONF_ANNOTATION,
  NETWORK_DISABLED_LABEL,
  NETWORK_TYPE_ANNOTATION,
  type Pod,
} from "../types.ts";
import { clbApiFor } from "../../tests/fakes/tencentcloud/clb_api_for.ts";

const STS = { apiVersion: "apps/v1", kind: "StatefulSet", name: "gs", uid: "sts-1" };

function pod(
  name: string,
  conf: Record<string, string>,
  opts: { ip?: string; disabled?: boolean } = {},
): Pod {
  return {
    metadata: {
      namespace: "default",
      name,
      ownerReferences: [{ ...STS, controller: true }],
      labels: opts.disabled ? { [NETWORK_DISABLED_LABEL]: "true" } : {},
      annotations: {
        [NETWORK_TYPE_ANNOTATION]: "TencentCloud-CLB",
        [NETWORK_CONF_ANNOTATION]: JSON.stringify(
          Object.entries(conf).map(([name, value]) => ({ name, value })),
        ),
      },
    },
    spec: { containers: [{ name: "gs" }] },
    status: opts.ip ? { podIP: opts.ip } : {},
  };
}

async function setup(lbs = [{ id: "lb-aaaa1", vip: "203.0.113.1" }]) {
  const cloud = await FakeTencentCloud.start({ loadBalancers: lbs, rateLimitPerSecond: Infinity });
  const api = clbApiFor(cloud);
  const make = () =>
    createTencentClbProvider({
      api,
      writer: new ClbWriter(api, { lingerMs: 5, retryInitialMs: 5, taskPollMs: 5 }),
    });
  return { cloud, api, provider: make(), make };
}

const ctxOf = (owner: string) => ({ owner, node: () => undefined });

Deno.test("reconcile() creates a listener per port with the Pod IP as target and reports the VIP", async () => {
  const { cloud, provider } = await setup();
  await using _ = cloud;
  const p = pod("gs-0", {
    ClbIds: "lb-aaaa1",
    PortProtocols: "7777/UDP,7778",
    MinPort: "501",
    MaxPort: "600",
  }, { ip: "10.0.0.9" });
  const outcome = await provider.reconcile(p, provider.parse(p), ctxOf("default/gs-0"));
  assert.equal(outcome.kind, "done");
  const listeners = cloud.loadBalancer("lb-aaaa1")!.listeners;
  assert.deepEqual(
    listeners.map((
      l,
    ) => [l.name, l.protocol, l.port, l.targets.map((t) => `${t.eniIp}:${t.port}`)]),
    [
      [listenerName("default", "gs-0", 7777, "UDP"), "UDP", 501, ["10.0.0.9:7777"]],
      // TCP and UDP are separate port spaces on a CLB.
      [listenerName("default", "gs-0", 7778, "TCP"), "TCP", 501, ["10.0.0.9:7778"]],
    ],
  );
  // OpenKruiseGame's manual: one entry per port, named by its number.
  assert.deepEqual(outcome.kind === "done" && outcome.report.externalAddresses, [
    { ip: "203.0.113.1", ports: [{ name: "7777", port: 501, protocol: "UDP" }] },
    { ip: "203.0.113.1", ports: [{ name: "7778", port: 501, protocol: "TCP" }] },
  ]);
  assert.deepEqual(outcome.kind === "done" && outcome.report.internalAddresses, [
    { ip: "10.0.0.9", ports: [{ name: "7777", port: 7777, protocol: "UDP" }] },
    { ip: "10.0.0.9", ports: [{ name: "7778", port: 7778, protocol: "TCP" }] },
  ]);
  // Level-based: once more changes nothing in the cloud.
  const calls = cloud.stats().totalCalls;
  await provider.reconcile(p, provider.parse(p), ctxOf("default/gs-0"));
  assert.equal(cloud.stats().totalCalls, calls);
});

Deno.test("reconcile() waits for a Pod IP, and refuses when every port is taken", async () => {
  const { cloud, provider } = await setup();
  await using _ = cloud;
  const conf = { ClbIds: "lb-aaaa1", PortProtocols: "7777/TCPUDP", MinPort: "501", MaxPort: "502" };
  const noIp = pod("gs-0", conf);
  const waiting = await provider.reconcile(noIp, provider.parse(noIp), ctxOf("default/gs-0"));
  assert.equal(waiting.kind, "requeueAfter");
  for (const name of ["gs-1", "gs-2"]) {
    const p = pod(name, conf, { ip: "10.0.0.1" });
    assert.equal(
      (await provider.reconcile(p, provider.parse(p), ctxOf(`default/${name}`))).kind,
      "done",
    );
  }
  const late = pod("gs-3", conf, { ip: "10.0.0.3" });
  const refused = await provider.reconcile(late, provider.parse(late), ctxOf("default/gs-3"));
  assert.equal(refused.kind, "failed");
  assert.equal(refused.kind === "failed" && refused.error.reason, "ClbPortsExhausted");
  assert.equal(
    cloud.loadBalancer("lb-aaaa1")!.listeners.length,
    4,
    "TCPUDP: a TCP and a UDP listener each",
  );
  // One released: the waiting Pod gets its ports.
  await provider.release("default/gs-1");
  assert.equal(cloud.loadBalancer("lb-aaaa1")!.listeners.length, 2);
  assert.equal(
    (await provider.reconcile(late, provider.parse(late), ctxOf("default/gs-3"))).kind,
    "done",
  );
});

Deno.test("reconcile() deregisters the target of a disabled Pod and keeps its listener", async () => {
  const { cloud, provider } = await setup();
  await using _ = cloud;
  const conf = { ClbIds: "lb-aaaa1", PortProtocols: "7777/UDP" };
  const on = pod("gs-0", conf, { ip: "10.0.0.9" });
  await provider.reconcile(on, provider.parse(on), ctxOf("default/gs-0"));
  const off = pod("gs-0", conf, { ip: "10.0.0.9", disabled: true });
  const outcome = await provider.reconcile(off, provider.parse(off), ctxOf("default/gs-0"));
  assert.equal(outcome.kind === "done" && outcome.report.currentNetworkState, "NotReady");
  const [listener] = cloud.loadBalancer("lb-aaaa1")!.listeners;
  assert.equal(listener.port, 700, "the default range starts at 700");
  assert.deepEqual(listener.targets, []);
  // A new Pod IP (re-created in place) is what gets registered next.
  const moved = pod("gs-0", conf, { ip: "10.0.0.10" });
  await provider.reconcile(moved, provider.parse(moved), ctxOf("default/gs-0"));
  assert.deepEqual(
    cloud.loadBalancer("lb-aaaa1")!.listeners[0].targets.map((t) => t.eniIp),
    ["10.0.0.10"],
  );
});

Deno.test("reconcile() reports an unknown CLB with the cloud's answer", async () => {
  const { cloud, provider } = await setup();
  await using _ = cloud;
  const p = pod("gs-0", { ClbIds: "lb-zzzz9", PortProtocols: "7777/UDP" }, { ip: "10.0.0.9" });
  const outcome = await provider.reconcile(p, provider.parse(p), ctxOf("default/gs-0"));
  assert.equal(outcome.kind, "failed");
  assert.match(outcome.kind === "failed" ? outcome.error.message : "", /lb-zzzz9/);
});

Deno.test("parse() refuses bad conf with a message naming the value", async () => {
  const { cloud, provider } = await setup();
  await using _ = cloud;
  const cases: [Record<string, string>, RegExp][] = [
    [{ PortProtocols: "7777" }, /needs ClbIds/],
    [{ ClbIds: "abc", PortProtocols: "7777" }, /"abc" is not a CLB id/],
    [{ ClbIds: "lb-aaaa1" }, /needs PortProtocols/],
    [{ ClbIds: "lb-aaaa1", PortProtocols: "7777/SCTP" }, /TCP, UDP or TCPUDP/],
    [{ ClbIds: "lb-aaaa1", PortProtocols: "x/UDP" }, /a port is a whole number/],
    [{ ClbIds: "lb-aaaa1", PortProtocols: "7777,7777/UDP" }, /port 7777 is asked twice/],
    [
      { ClbIds: "lb-aaaa1", PortProtocols: "7777", MinPort: "900", MaxPort: "800" },
      /above MaxPort/,
    ],
    [
      { ClbIds: "lb-aaaa1", PortProtocols: "7777", Fixed: "yes" },
      /Fixed "yes": write true or false/,
    ],
  ];
  for (const [conf, message] of cases) {
    assert.throws(() => provider.parse(pod("gs-0", conf)), (err: Error) => {
      assert.ok(err instanceof ConfError, String(err));
      assert.match(err.message, message);
      return true;
    });
  }
});

const UDP_CONF = { ClbIds: "lb-aaaa1", PortProtocols: "7777/UDP", MinPort: "501", MaxPort: "600" };

/** A sweep context whose workloads exist unless named in `gone`. */
function sweepCtx(gone: string[] = []) {
  const requeued: string[] = [];
  return {
    requeued,
    workloadExists: (_ns: string, ref: { name: string }) =>
      Promise.resolve(!gone.includes(ref.name)),
    requeue: (key: string) => requeued.push(key),
  };
}

Deno.test("restore() takes back live Pods' listeners and deletes those whose Pod is gone", async () => {
  const { cloud, provider, make } = await setup();
  await using _ = cloud;
  for (const name of ["gs-0", "gs-1", "gs-2"]) {
    const p = pod(name, UDP_CONF, { ip: "10.0.0.1" });
    assert.equal((await provider.reconcile(p, provider.parse(p), ctxOf(`a/${name}`))).kind, "done");
  }
  const before = cloud.loadBalancer("lb-aaaa1")!.listeners.map((l) => [l.name, l.port]);
  // A new gamenet: gs-1 was deleted while none ran.
  const next = make();
  const live = ["gs-0", "gs-2"].map((name) => ({
    pod: pod(name, UDP_CONF, { ip: "10.0.0.1" }),
    owner: `b/${name}`,
  }));
  for (const { pod: p } of live) next.observe!(`default/${p.metadata.name}`, p);
  assert.deepEqual(await next.restore!(live, { node: () => undefined }), []);
  const after = cloud.loadBalancer("lb-aaaa1")!.listeners.map((l) => [l.name, l.port]);
  assert.deepEqual(after, before.filter(([name]) => !String(name).includes("gs-1")));
  // Taken back, not made again: the same ports, and no write for them.
  const calls = cloud.stats().totalCalls;
  for (const { pod: p, owner } of live) {
    const outcome = await next.reconcile(p, next.parse(p), ctxOf(owner));
    assert.equal(outcome.kind, "done");
  }
  assert.equal(
    cloud.stats().totalCalls,
    calls + 2,
    "DescribeLoadBalancers (VIP) and DescribeQuota",
  );
  // gs-1's port 502 is free again, for a new Pod.
  const newcomer = pod("gs-3", UDP_CONF, { ip: "10.0.0.3" });
  await next.reconcile(newcomer, next.parse(newcomer), ctxOf("b/gs-3"));
  assert.deepEqual(
    cloud.loadBalancer("lb-aaaa1")!.listeners.map((l) => l.port).sort(),
    [501, 502, 503],
  );
});

Deno.test("release() of a Fixed Pod keeps its listener without target; the next Pod of that name gets it", async () => {
  const { cloud, provider } = await setup();
  await using _ = cloud;
  const conf = { ...UDP_CONF, Fixed: "true" };
  const first = pod("gs-0", conf, { ip: "10.0.0.1" });
  const done = await provider.reconcile(first, provider.parse(first), ctxOf("admission/1"));
  assert.equal(done.kind, "done");
  const other = pod("gs-1", UDP_CONF, { ip: "10.0.0.2" });
  await provider.reconcile(other, provider.parse(other), ctxOf("admission/2"));
  await provider.release("admission/1");
  const parked = cloud.loadBalancer("lb-aaaa1")!.listeners.find((l) => l.name.includes("gs-0"))!;
  assert.equal(parked.port, 501);
  assert.deepEqual(parked.targets, [], "no target while the Pod is away");
  // Meanwhile nobody else gets 501.
  const third = pod("gs-2", UDP_CONF, { ip: "10.0.0.3" });
  await provider.reconcile(third, provider.parse(third), ctxOf("admission/3"));
  assert.deepEqual(
    cloud.loadBalancer("lb-aaaa1")!.listeners.map((l) => l.port).sort(),
    [501, 502, 503],
  );
  const again = pod("gs-0", conf, { ip: "10.0.0.9" });
  const outcome = await provider.reconcile(again, provider.parse(again), ctxOf("admission/4"));
  assert.equal(outcome.kind === "done" && outcome.report.externalAddresses[0].ports[0].port, 501);
  const back = cloud.loadBalancer("lb-aaaa1")!.listeners.find((l) => l.name.includes("gs-0"))!;
  assert.equal(back.listenerId, parked.listenerId, "the same listener");
  assert.deepEqual(back.targets.map((t) => `${t.eniIp}:${t.port}`), ["10.0.0.9:7777"]);
});

Deno.test("sweep() deletes a parked Fixed listener once its workload is gone, also after a restart", async () => {
  const { cloud, api, provider } = await setup();
  await using _ = cloud;
  const conf = { ...UDP_CONF, Fixed: "true" };
  const p = pod("gs-0", conf, { ip: "10.0.0.1" });
  await provider.reconcile(p, provider.parse(p), ctxOf("admission/1"));
  await provider.release("admission/1");
  // A restarted gamenet that only knows the CLB from its flags keeps the listener...
  const next = createTencentClbProvider({
    api,
    writer: new ClbWriter(api, { lingerMs: 5, retryInitialMs: 5 }),
    loadBalancers: ["lb-aaaa1"],
  });
  await next.restore!([], { node: () => undefined });
  await next.sweep!(sweepCtx());
  assert.equal(cloud.loadBalancer("lb-aaaa1")!.listeners.length, 1, "kept: the StatefulSet lives");
  assert.deepEqual(next.view!().holdings.map((h) => h.owner), ["default/gs-0"]);
  // ...until the StatefulSet is deleted.
  await next.sweep!(sweepCtx(["gs"]));
  assert.equal(cloud.loadBalancer("lb-aaaa1")!.listeners.length, 0);
  assert.deepEqual(next.view!().holdings, []);
});

Deno.test("sweep() makes again a listener deleted by hand and re-registers a removed target", async () => {
  const { cloud, api, provider } = await setup();
  await using _ = cloud;
  const p = pod("gs-0", { ...UDP_CONF, PortProtocols: "7777/UDP,7778/TCP" }, { ip: "10.0.0.1" });
  provider.observe!("default/gs-0", p);
  await provider.reconcile(p, provider.parse(p), ctxOf("admission/1"));
  const [udp, tcp] = cloud.loadBalancer("lb-aaaa1")!.listeners;
  // By hand: the UDP listener deleted, the TCP one's target removed.
  const hand = new ClbWriter(api, { lingerMs: 1, retryInitialMs: 5, taskPollMs: 5 });
  await hand.deleteListener("lb-aaaa1", udp.listenerId);
  await hand.deregisterTarget("lb-aaaa1", {
    listenerId: tcp.listenerId,
    ip: "10.0.0.1",
    port: 7778,
  });
  const ctx = sweepCtx();
  await provider.sweep!(ctx);
  assert.deepEqual([...new Set(ctx.requeued)], ["default/gs-0"]);
  await provider.reconcile(p, provider.parse(p), ctxOf("admission/1"));
  const now = cloud.loadBalancer("lb-aaaa1")!.listeners;
  assert.deepEqual(
    now.map((l) => [l.protocol, l.port, l.targets.map((t) => `${t.eniIp}:${t.port}`)]).sort(),
    [["TCP", 501, ["10.0.0.1:7778"]], ["UDP", 501, ["10.0.0.1:7777"]]],
  );
});

Deno.test("sweep() deletes a duplicate listener of a Pod and leaves other people's listeners alone", async () => {
  const { cloud, api, provider } = await setup();
  await using _ = cloud;
  const p = pod("gs-0", UDP_CONF, { ip: "10.0.0.1" });
  provider.observe!("default/gs-0", p);
  await provider.reconcile(p, provider.parse(p), ctxOf("admission/1"));
  const hand = new ClbWriter(api, { lingerMs: 1, retryInitialMs: 5, taskPollMs: 5 });
  // A lost answer's leftover (same name, another port) and a web listener of someone else.
  await hand.createListener("lb-aaaa1", {
    port: 590,
    protocol: "UDP",
    name: listenerName("default", "gs-0", 7777, "UDP"),
  });
  await hand.createListener("lb-aaaa1", { port: 443, protocol: "TCP", name: "web-443" });
  await provider.sweep!(sweepCtx());
  assert.deepEqual(
    cloud.loadBalancer("lb-aaaa1")!.listeners.map((l) => [l.name, l.port]).sort(),
    [[listenerName("default", "gs-0", 7777, "UDP"), 501], ["web-443", 443]],
  );
});

Deno.test("release() of a Pod object whose name a newer Pod holds leaves the newer one's listener", async () => {
  const { cloud, provider } = await setup();
  await using _ = cloud;
  const conf = { ClbIds: "lb-aaaa1", PortProtocols: "7777/UDP", MinPort: "501", MaxPort: "600" };
  const old = pod("gs-0", conf, { ip: "10.0.0.1" });
  await provider.reconcile(old, provider.parse(old), ctxOf("uid-old"));
  // Re-created under the same name before the old object's release came through.
  const newer = pod("gs-0", conf, { ip: "10.0.0.2" });
  assert.equal(
    (await provider.reconcile(newer, provider.parse(newer), ctxOf("uid-new"))).kind,
    "done",
  );
  await provider.release("uid-old");
  const listeners = cloud.loadBalancer("lb-aaaa1")!.listeners;
  assert.equal(listeners.length, 1, "the newer Pod's listener stays");
  assert.deepEqual(listeners[0].targets.map((t) => t.eniIp), ["10.0.0.2"]);
  await provider.release("uid-new");
  assert.equal(cloud.loadBalancer("lb-aaaa1")!.listeners.length, 0, "then it goes with it");
});

Deno.test("reconcile() takes ListenerQuota as the CLBs' own quota (OpenKruiseGame's conf)", async () => {
  // The account's quota is 50; these CLBs were raised to 2 each, one by one.
  const { cloud, provider } = await setup([
    { id: "lb-aaaa1", vip: "203.0.113.1" },
    { id: "lb-bbbb1", vip: "203.0.113.2" },
  ]);
  await using _ = cloud;
  const conf = {
    ClbIds: "lb-aaaa1,lb-bbbb1",
    PortProtocols: "7777/TCPUDP",
    ListenerQuota: "2",
  };
  const where: string[] = [];
  for (const name of ["gs-0", "gs-1"]) {
    const p = pod(name, conf, { ip: "10.0.0.9" });
    const outcome = await provider.reconcile(p, provider.parse(p), ctxOf(`default/${name}`));
    assert.equal(outcome.kind, "done");
    where.push(outcome.kind === "done" ? outcome.report.externalAddresses[0].ip : "");
  }
  // A TCPUDP port is two listeners: one Pod fills a CLB of quota 2.
  assert.deepEqual(where, ["203.0.113.1", "203.0.113.2"]);
  // A third finds both full, and is told it is the quota, not the range.
  const third = pod("gs-2", conf, { ip: "10.0.0.9" });
  const outcome = await provider.reconcile(third, provider.parse(third), ctxOf("default/gs-2"));
  assert.equal(outcome.kind, "failed");
  assert.match(
    outcome.kind === "failed" ? outcome.error.message : "",
    /Every CLB of lb-aaaa1, lb-bbbb1 holds its quota of 2 listeners/,
  );
  assert.throws(
    () => provider.parse(pod("gs-2", { ...conf, ListenerQuota: "lots" })),
    (err: Error) => err instanceof ConfError && /ListenerQuota "lots"/.test(err.message),
  );
});
