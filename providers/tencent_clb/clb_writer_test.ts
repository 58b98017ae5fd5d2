// The writer on the real SDK client against the fake Tencent Cloud: what
// the fake holds at the end is the truth, not what the writer says.
import assert from "node:assert/strict";
import { FakeTencentCloud } from "../../tests/fakes/tencentcloud/fake_tencent_cloud.ts";
import type { ClbError } from "./clb_api.ts";
import { ClbWriter, type ClbWriterOptions } from "./clb_writer.ts";
import { clbApiFor } from "../../tests/fakes/tencentcloud/clb_api_for.ts";
import { testSeedFor } from "../../tests/test_seed.ts";

const fast: ClbWriterOptions = {
  lingerMs: 5,
  retryInitialMs: 5,
  retryMaxMs: 40,
  taskPollMs: 5,
  attempts: 12,
};

function writerFor(cloud: FakeTencentCloud, options: ClbWriterOptions = {}): ClbWriter {
  const api = clbApiFor(cloud, { timeoutSeconds: 2 });
  return new ClbWriter(api, { ...fast, ...options });
}

function listenersOf(cloud: FakeTencentCloud, lb: string) {
  return cloud.loadBalancer(lb)!.listeners;
}

Deno.test("createListener() merges a burst into one CreateListener per 49 ports and protocol", async () => {
  await using cloud = await FakeTencentCloud.start({
    loadBalancers: [{ id: "lb-a", listenerQuota: 500 }],
    rateLimitPerSecond: Infinity,
  });
  const writer = writerFor(cloud);
  const ids = await Promise.all([
    ...Array.from(
      { length: 100 },
      (_, i) => writer.createListener("lb-a", { port: 501 + i, protocol: "UDP", name: `gn-u${i}` }),
    ),
    ...Array.from(
      { length: 30 },
      (_, i) => writer.createListener("lb-a", { port: 501 + i, protocol: "TCP", name: `gn-t${i}` }),
    ),
  ]);
  assert.equal(new Set(ids).size, 130);
  const held = listenersOf(cloud, "lb-a");
  assert.equal(held.length, 130);
  const byName = new Map(held.map((l) => [l.name, l]));
  assert.equal(byName.get("gn-u7")?.port, 508);
  assert.equal(byName.get("gn-u7")?.listenerId, ids[7]);
  assert.equal(byName.get("gn-t0")?.protocol, "TCP");
  // 100 UDP = 3 calls (49, 49, 2: the API refuses 50), 30 TCP = 1.
  assert.equal(cloud.stats().calls.CreateListener, 4);
  assert.equal(cloud.stats().errors["InvalidParameterValue.Length"], undefined);
  assert.equal(writer.stats.calls.CreateListener, 4);
});

Deno.test("createListener() sends the parameters and merges only creates whose parameters are equal", async () => {
  await using cloud = await FakeTencentCloud.start({
    loadBalancers: [{ id: "lb-a" }],
    rateLimitPerSecond: Infinity,
  });
  const writer = writerFor(cloud);
  const quiet = (port: number, parameters?: Record<string, unknown>) =>
    writer.createListener("lb-a", { port, protocol: "UDP", name: `gn-${port}`, parameters });
  await Promise.all([
    // Equal, whatever the order of their keys: one call.
    quiet(501, { Scheduler: "LEAST_CONN", HealthCheck: { HealthSwitch: 0, SourceIpType: 1 } }),
    quiet(502, { HealthCheck: { SourceIpType: 1, HealthSwitch: 0 }, Scheduler: "LEAST_CONN" }),
    quiet(503),
    quiet(504, {}),
    quiet(505, { SessionExpireTime: 60 }),
  ]);
  assert.equal(cloud.stats().calls.CreateListener, 3);
  const byPort = new Map(listenersOf(cloud, "lb-a").map((l) => [l.port, l]));
  for (const port of [501, 502]) {
    assert.equal(byPort.get(port)?.scheduler, "LEAST_CONN");
    assert.equal(byPort.get(port)?.healthCheck?.HealthSwitch, 0);
  }
  for (const port of [503, 504]) {
    assert.equal(byPort.get(port)?.scheduler, "WRR");
    assert.equal(byPort.get(port)?.healthCheck?.HealthSwitch, 1);
  }
  assert.equal(byPort.get(505)?.sessionExpireTime, 60);
  assert.equal(byPort.get(505)?.scheduler, "WRR");
});

Deno.test("registerTarget() sends 500 targets in one call and polls no task for it", async () => {
  await using cloud = await FakeTencentCloud.start({
    loadBalancers: [{ id: "lb-a", listenerQuota: 600 }],
    rateLimitPerSecond: Infinity,
    taskDurationMs: 20,
  });
  const writer = writerFor(cloud);
  const ids = await Promise.all(
    Array.from(
      { length: 501 },
      (_, i) => writer.createListener("lb-a", { port: 600 + i, protocol: "UDP", name: `gn-${i}` }),
    ),
  );
  const polls = cloud.stats().calls.DescribeTaskStatus;
  assert.ok(polls > 0, "CreateListener's task is polled");
  const ip = (i: number) => `10.0.${Math.floor(i / 250)}.${(i % 250) + 1}`;
  await Promise.all(
    ids.map((listenerId, i) =>
      writer.registerTarget("lb-a", { listenerId, ip: ip(i), port: 7777 })
    ),
  );
  for (const [i, l] of listenersOf(cloud, "lb-a").entries()) {
    assert.deepEqual(l.targets.map((t) => [t.eniIp, t.port]), [[ip(i), 7777]]);
  }
  // 501 targets: 500 and 1; synchronous, so no DescribeTaskStatus after them.
  assert.equal(cloud.stats().calls.BatchRegisterTargets, 2);
  assert.equal(cloud.stats().calls.DescribeTaskStatus, polls);
  await writer.deregisterTarget("lb-a", { listenerId: ids[0], ip: ip(0), port: 7777 });
  assert.deepEqual(listenersOf(cloud, "lb-a")[0].targets, []);
  assert.equal(cloud.stats().calls.DescribeTaskStatus, polls);
  // The writer counts what the fake received, polls included.
  assert.equal(writer.stats.calls.DescribeTaskStatus, polls);
  assert.equal(writer.stats.calls.BatchDeregisterTargets, 1);
});

Deno.test("writes converge through throttling, busy instances, 5xx and failed tasks", async () => {
  await using cloud = await FakeTencentCloud.start({
    loadBalancers: [{ id: "lb-a", listenerQuota: 200 }, { id: "lb-b", listenerQuota: 200 }],
    rateLimitPerSecond: 5,
    taskDurationMs: 30,
    seed: testSeedFor("writes converge through faults"),
    faults: [
      { kind: "http", status: 503, rate: 0.15 },
      { kind: "error", code: "InternalError", rate: 0.1 },
      // BatchRegisterTargets starts no task, so a task cannot fail it.
      { kind: "taskFailure", actions: ["CreateListener"], rate: 0.2 },
    ],
  });
  const writer = writerFor(cloud, { attempts: 40 });
  await Promise.all(["lb-a", "lb-b"].flatMap((lb) =>
    Array.from({ length: 60 }, async (_, i) => {
      const listenerId = await writer.createListener(lb, {
        port: 700 + i,
        protocol: "UDP",
        name: `gn-${lb}-${i}`,
      });
      await writer.registerTarget(lb, { listenerId, ip: `10.1.0.${i + 1}`, port: 7000 });
    })
  ));
  for (const lb of ["lb-a", "lb-b"]) {
    const held = listenersOf(cloud, lb);
    assert.equal(held.length, 60, `${lb} holds exactly one listener per port`);
    for (const l of held) assert.equal(l.targets.length, 1, `${l.name} has its target`);
  }
  const stats = cloud.stats();
  assert.ok(stats.throttled + stats.faults > 0, "faults and throttling were hit");
  assert.ok(writer.stats.retries > 0);
});

Deno.test("createListener() adopts its own listener after a lost answer and refuses a stranger's port", async () => {
  await using cloud = await FakeTencentCloud.start({
    loadBalancers: [{ id: "lb-a" }],
    rateLimitPerSecond: Infinity,
  });
  const writer = writerFor(cloud);
  const first = await writer.createListener("lb-a", { port: 501, protocol: "TCP", name: "gn-x" });
  // Asked again (an answer lost, or gamenet restarted): the same listener.
  const again = await writer.createListener("lb-a", { port: 501, protocol: "TCP", name: "gn-x" });
  assert.equal(again, first);
  const stranger = writer.createListener("lb-a", { port: 501, protocol: "TCP", name: "web" });
  const mixed = writer.createListener("lb-a", { port: 502, protocol: "TCP", name: "gn-y" });
  await assert.rejects(stranger, (err: ClbError) => {
    assert.equal(err.code, "InvalidParameter.PortCheckFailed");
    assert.match(err.message, /TCP port 501 of lb-a is taken by listener lbl-\S+ \("gn-x"\)/);
    return true;
  });
  assert.ok(await mixed, "a clash does not sink the other ports of the batch");
  assert.deepEqual(listenersOf(cloud, "lb-a").map((l) => l.port), [501, 502]);
});

Deno.test("deleteListener() succeeds for listeners already gone", async () => {
  await using cloud = await FakeTencentCloud.start({
    loadBalancers: [{ id: "lb-a" }],
    rateLimitPerSecond: Infinity,
  });
  const writer = writerFor(cloud);
  const a = await writer.createListener("lb-a", { port: 501, protocol: "UDP", name: "gn-a" });
  const b = await writer.createListener("lb-a", { port: 502, protocol: "UDP", name: "gn-b" });
  await writer.deleteListener("lb-a", a);
  await Promise.all([writer.deleteListener("lb-a", a), writer.deleteListener("lb-a", b)]);
  assert.deepEqual(listenersOf(cloud, "lb-a"), []);
});

Deno.test("a request's own error is reported with the cloud's code, not retried", async () => {
  await using cloud = await FakeTencentCloud.start({
    loadBalancers: [{ id: "lb-a" }],
    rateLimitPerSecond: Infinity,
  });
  const writer = writerFor(cloud);
  await assert.rejects(
    writer.createListener("lb-nope", { port: 501, protocol: "TCP", name: "gn" }),
    (err: ClbError) => err.code === "InvalidParameter.LBIdNotFound" && !err.retryable,
  );
  assert.equal(cloud.stats().calls.CreateListener, 1);
});

Deno.test("wrong credentials surface as AuthFailure.SignatureFailure", async () => {
  await using cloud = await FakeTencentCloud.start({ loadBalancers: [{ id: "lb-a" }] });
  const api = clbApiFor(cloud, { secretKey: "not-the-key" });
  const writer = new ClbWriter(api, fast);
  await assert.rejects(
    writer.createListener("lb-a", { port: 501, protocol: "TCP", name: "gn" }),
    (err: ClbError) => {
      assert.equal(err.code, "AuthFailure.SignatureFailure");
      assert.doesNotMatch(err.message, /not-the-key/);
      return true;
    },
  );
});

Deno.test("registerTarget() called as the last createListener() resolves is written, not lost", async () => {
  await using cloud = await FakeTencentCloud.start({
    loadBalancers: [{ id: "lb-a" }],
    rateLimitPerSecond: Infinity,
  });
  const writer = writerFor(cloud);
  // The registrations are enqueued while the drain that resolved the last
  // creation is finishing (this lost them once, and the caller hung).
  const ids = await Promise.all(
    (["UDP", "TCP"] as const).map(async (protocol) =>
      await writer.createListener("lb-a", { port: 501, protocol, name: `gn-${protocol}` })
    ),
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const lost = new Promise<"lost">((resolve) => timer = setTimeout(() => resolve("lost"), 5_000));
  const registered = Promise.all(
    ids.map((listenerId) =>
      writer.registerTarget("lb-a", { listenerId, ip: "10.0.0.9", port: 7777 })
    ),
  ).then(() => "registered");
  assert.equal(await Promise.race([registered, lost]), "registered");
  clearTimeout(timer);
  assert.deepEqual(
    listenersOf(cloud, "lb-a").map((l) => l.targets.map((t) => t.eniIp)),
    [["10.0.0.9"], ["10.0.0.9"]],
  );
});

Deno.test("deleteListener() beside an id already gone still deletes a listener whose port a UDP one shares", async () => {
  await using cloud = await FakeTencentCloud.start({
    loadBalancers: [{ id: "lb-a" }],
    rateLimitPerSecond: Infinity,
  });
  const writer = writerFor(cloud);
  const tcp = await writer.createListener("lb-a", { port: 501, protocol: "TCP", name: "gn-t" });
  const udp = await writer.createListener("lb-a", { port: 501, protocol: "UDP", name: "gn-u" });
  const gone = await writer.createListener("lb-a", { port: 502, protocol: "TCP", name: "gn-g" });
  await writer.deleteListener("lb-a", gone);
  // One call for both: the cloud refuses it for the gone id, and the writer must tell
  // TCP 501 from UDP 501 when it looks which are left.
  await Promise.all([writer.deleteListener("lb-a", gone), writer.deleteListener("lb-a", tcp)]);
  assert.deepEqual(listenersOf(cloud, "lb-a").map((l) => l.listenerId), [udp]);
});
