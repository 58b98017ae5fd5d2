// Drives the fake only through the real tencentcloud-sdk-nodejs CLB client,
// so what passes here is what the SDK really sends and understands.
import assert from "node:assert/strict";
import { clb } from "tencentcloud-sdk-nodejs/tencentcloud/services/clb/index.js";
import { testSeedFor } from "../../test_seed.ts";
import { FakeTencentCloud, type FakeTencentCloudOptions } from "./fake_tencent_cloud.ts";

type ClbClient = InstanceType<typeof clb.v20180317.Client>;

/** What TencentCloudSDKHttpException carries besides its message. */
interface SdkError extends Error {
  code?: string;
  httpCode?: number;
  requestId?: string;
}

function clientOf(
  cloud: FakeTencentCloud,
  overrides?: Parameters<FakeTencentCloud["clientConfig"]>[0],
): ClbClient {
  return new clb.v20180317.Client(cloud.clientConfig(overrides));
}

/** Awaits a call that must fail, and returns the SDK's error. */
async function failure(call: Promise<unknown>): Promise<SdkError> {
  try {
    await call;
  } catch (error) {
    assert.ok(error instanceof Error, `expected an Error, got ${error}`);
    return error as SdkError;
  }
  assert.fail("the call succeeded but was expected to fail");
}

/** A clock the test moves by hand, starting at the real time (signatures stay fresh). */
function manualClock(): { now: () => number; advance(ms: number): void } {
  let t = Date.now();
  return { now: () => t, advance: (ms) => (t += ms) };
}

function start(options: FakeTencentCloudOptions = {}): Promise<FakeTencentCloud> {
  return FakeTencentCloud.start({
    loadBalancers: [{ id: "lb-game1", vip: "203.0.113.10" }],
    ...options,
  });
}

Deno.test("DescribeLoadBalancers returns the requested load balancers of the region", async () => {
  await using cloud = await start({
    loadBalancers: [
      { id: "lb-game1", vip: "203.0.113.10", name: "game" },
      { id: "lb-game2", vip: "203.0.113.11" },
      { id: "lb-other", vip: "198.51.100.1", region: "ap-shanghai" },
    ],
  });
  const client = clientOf(cloud);

  const one = await client.DescribeLoadBalancers({ LoadBalancerIds: ["lb-game1", "lb-other"] });
  assert.equal(one.TotalCount, 1);
  assert.equal(one.LoadBalancerSet?.length, 1);
  const lb = one.LoadBalancerSet![0];
  assert.equal(lb.LoadBalancerId, "lb-game1");
  assert.equal(lb.LoadBalancerName, "game");
  assert.deepEqual(lb.LoadBalancerVips, ["203.0.113.10"]);
  assert.equal(lb.Forward, 1);
  assert.equal(lb.LoadBalancerType, "OPEN");
  assert.match(one.RequestId ?? "", /^[0-9a-f-]{36}$/);

  const all = await client.DescribeLoadBalancers({});
  assert.deepEqual(all.LoadBalancerSet?.map((l) => l.LoadBalancerId).sort(), [
    "lb-game1",
    "lb-game2",
  ]);
});

Deno.test("CreateListener creates one listener per port, as DescribeListeners shows", async () => {
  await using cloud = await start();
  const client = clientOf(cloud);

  const created = await client.CreateListener({
    LoadBalancerId: "lb-game1",
    Ports: [7000, 7001, 7002],
    Protocol: "UDP",
    ListenerNames: ["gs-0", "gs-1", "gs-2"],
  });
  assert.equal(created.ListenerIds?.length, 3);
  for (const id of created.ListenerIds!) assert.match(id, /^lbl-[0-9a-z]{8}$/);

  const described = await client.DescribeListeners({ LoadBalancerId: "lb-game1" });
  assert.equal(described.TotalCount, 3);
  const byId = new Map(described.Listeners!.map((l) => [l.ListenerId, l]));
  created.ListenerIds!.forEach((id, i) => {
    const listener = byId.get(id);
    assert.ok(listener, `listener ${id} is missing from DescribeListeners`);
    assert.equal(listener.Port, 7000 + i);
    assert.equal(listener.Protocol, "UDP");
    assert.equal(listener.ListenerName, `gs-${i}`);
  });

  const onePort = await client.DescribeListeners({ LoadBalancerId: "lb-game1", Port: 7001 });
  assert.deepEqual(onePort.Listeners?.map((l) => l.ListenerId), [created.ListenerIds![1]]);
  assert.deepEqual(
    cloud.loadBalancer("lb-game1")?.listeners.map((l) => `${l.port}/${l.protocol}`),
    ["7000/UDP", "7001/UDP", "7002/UDP"],
  );
});

Deno.test("CreateListener refuses 50 ports in one call with InvalidParameterValue.Length", async () => {
  await using cloud = await start({ listenerQuota: 100 });
  const client = clientOf(cloud);
  const ports = Array.from({ length: 50 }, (_, i) => 8000 + i);

  const error = await failure(
    client.CreateListener({ LoadBalancerId: "lb-game1", Ports: ports, Protocol: "TCP" }),
  );
  assert.equal(error.code, "InvalidParameterValue.Length");
  assert.match(error.message, /Length of \.Ports should be less than 50/);
  assert.equal(cloud.loadBalancer("lb-game1")?.listeners.length, 0);

  const fortyNine = await client.CreateListener({
    LoadBalancerId: "lb-game1",
    Ports: ports.slice(0, 49),
    Protocol: "TCP",
  });
  assert.equal(fortyNine.ListenerIds?.length, 49);
});

Deno.test("CreateListener applies HealthCheck, SessionExpireTime and Scheduler, as DescribeListeners shows", async () => {
  await using cloud = await start();
  const client = clientOf(cloud);
  const { ListenerIds } = await client.CreateListener({
    LoadBalancerId: "lb-game1",
    Ports: [7000, 7001],
    Protocol: "UDP",
    HealthCheck: { HealthSwitch: 0, SourceIpType: 1 },
    SessionExpireTime: 60,
    Scheduler: "LEAST_CONN",
    MaxConn: 1000,
  });
  const described = await client.DescribeListeners({ LoadBalancerId: "lb-game1" });
  for (const listener of described.Listeners!) {
    assert.ok(ListenerIds!.includes(listener.ListenerId!));
    // Given fields over the default health check.
    assert.deepEqual(listener.HealthCheck, {
      HealthSwitch: 0,
      TimeOut: 2,
      IntervalTime: 5,
      HealthNum: 3,
      UnHealthNum: 3,
      SourceIpType: 1,
    });
    assert.equal(listener.SessionExpireTime, 60);
    assert.equal(listener.Scheduler, "LEAST_CONN");
    assert.equal(listener.MaxConn, 1000);
  }
  const [held] = cloud.loadBalancer("lb-game1")!.listeners;
  assert.equal(held.scheduler, "LEAST_CONN");
  assert.equal(held.sessionExpireTime, 60);
  assert.equal(held.healthCheck?.HealthSwitch, 0);

  // Without them: the defaults.
  await client.CreateListener({ LoadBalancerId: "lb-game1", Ports: [7002], Protocol: "TCP" });
  const plain = await client.DescribeListeners({ LoadBalancerId: "lb-game1", Port: 7002 });
  assert.equal(plain.Listeners![0].Scheduler, "WRR");
  assert.equal(plain.Listeners![0].SessionExpireTime, 0);
  assert.equal(plain.Listeners![0].HealthCheck?.HealthSwitch, 1);
});

Deno.test("CreateListener refuses further parameters it does not define or that are out of range", async () => {
  await using cloud = await start();
  const client = clientOf(cloud);
  const create = (extra: Record<string, unknown>) =>
    failure(
      client.CreateListener(
        {
          LoadBalancerId: "lb-game1",
          Ports: [7000],
          Protocol: "UDP",
          ...extra,
        } as Parameters<ClbClient["CreateListener"]>[0],
      ),
    );
  const unknown = await create({ HealthChek: { HealthSwitch: 0 } });
  assert.equal(unknown.code, "UnknownParameter");
  assert.match(unknown.message, /HealthChek/);
  assert.equal((await create({ Scheduler: "IP_HASH" })).code, "InvalidParameterValue");
  assert.equal((await create({ SessionExpireTime: 10 })).code, "InvalidParameterValue");
  assert.equal(
    (await create({ HealthCheck: { TimeOut: 10, IntervalTime: 5 } })).code,
    "InvalidParameterValue",
  );
  assert.equal(cloud.loadBalancer("lb-game1")?.listeners.length, 0);
});

Deno.test("CreateListener answers PortCheckFailed for a taken port; TCP and UDP may share one", async () => {
  await using cloud = await start();
  const client = clientOf(cloud);
  await client.CreateListener({ LoadBalancerId: "lb-game1", Ports: [7000], Protocol: "TCP" });

  const clash = await failure(
    client.CreateListener({ LoadBalancerId: "lb-game1", Ports: [7001, 7000], Protocol: "TCP" }),
  );
  assert.equal(clash.code, "InvalidParameter.PortCheckFailed");
  assert.match(clash.message, /7000/);
  // The whole call is refused: 7001 was not created either.
  assert.equal(cloud.loadBalancer("lb-game1")?.listeners.length, 1);

  const udp = await client.CreateListener({
    LoadBalancerId: "lb-game1",
    Ports: [7000],
    Protocol: "UDP",
  });
  assert.equal(udp.ListenerIds?.length, 1);

  const tcpudp = await failure(
    client.CreateListener({ LoadBalancerId: "lb-game1", Ports: [7005], Protocol: "TCPUDP" }),
  );
  assert.equal(tcpudp.code, "InvalidParameterValue");
});

Deno.test("CreateListener answers LimitExceeded beyond the listener quota", async () => {
  await using cloud = await start({
    listenerQuota: 50,
    loadBalancers: [{ id: "lb-small", listenerQuota: 3 }],
  });
  const client = clientOf(cloud);
  await client.CreateListener({ LoadBalancerId: "lb-small", Ports: [1, 2], Protocol: "TCP" });

  const error = await failure(
    client.CreateListener({ LoadBalancerId: "lb-small", Ports: [3, 4], Protocol: "TCP" }),
  );
  assert.equal(error.code, "LimitExceeded");
  assert.match(error.message, /quota of 3/);

  const last = await client.CreateListener({
    LoadBalancerId: "lb-small",
    Ports: [3],
    Protocol: "TCP",
  });
  assert.equal(last.ListenerIds?.length, 1);

  const quota = await client.DescribeQuota();
  const listenerQuota = quota.QuotaSet?.find((q) => q.QuotaId === "TOTAL_LISTENER_QUOTA");
  assert.equal(listenerQuota?.QuotaLimit, 50);
  assert.equal(listenerQuota?.QuotaCurrent, null);
  const open = quota.QuotaSet?.find((q) => q.QuotaId === "TOTAL_OPEN_CLB_QUOTA");
  assert.equal(open?.QuotaCurrent, 1);
});

Deno.test("calls on an unknown load balancer answer InvalidParameter.LBIdNotFound", async () => {
  await using cloud = await start();
  const client = clientOf(cloud);
  const error = await failure(
    client.CreateListener({ LoadBalancerId: "lb-missing", Ports: [7000], Protocol: "TCP" }),
  );
  assert.equal(error.code, "InvalidParameter.LBIdNotFound");
  assert.match(error.message, /lb-missing/);

  // A load balancer of another region is unknown to a client of this region.
  const elsewhere = await failure(
    clientOf(cloud, { region: "ap-beijing" }).DescribeListeners({ LoadBalancerId: "lb-game1" }),
  );
  assert.equal(elsewhere.code, "InvalidParameter.LBIdNotFound");
});

Deno.test("BatchRegisterTargets binds targets, DescribeTargets lists them, BatchDeregisterTargets unbinds", async () => {
  await using cloud = await start();
  const client = clientOf(cloud);
  const { ListenerIds } = await client.CreateListener({
    LoadBalancerId: "lb-game1",
    Ports: [7000, 7001],
    Protocol: "TCP",
  });
  const [first, second] = ListenerIds!;

  const registered = await client.BatchRegisterTargets({
    LoadBalancerId: "lb-game1",
    Targets: [
      { ListenerId: first, EniIp: "10.0.0.5", Port: 8080, Weight: 10 },
      { ListenerId: second, EniIp: "10.0.0.6", Port: 8080 },
      { ListenerId: "lbl-nothere", EniIp: "10.0.0.7", Port: 8080 },
    ],
  });
  assert.deepEqual(registered.FailListenerIdSet, ["lbl-nothere"]);

  const described = await client.DescribeTargets({
    LoadBalancerId: "lb-game1",
    ListenerIds: [first, second],
  });
  assert.equal(described.Listeners?.length, 2);
  const firstBackend = described.Listeners!.find((l) => l.ListenerId === first)!;
  assert.equal(firstBackend.Port, 7000);
  assert.equal(firstBackend.Protocol, "TCP");
  assert.equal(firstBackend.Targets?.length, 1);
  assert.deepEqual(firstBackend.Targets![0].PrivateIpAddresses, ["10.0.0.5"]);
  assert.equal(firstBackend.Targets![0].Port, 8080);
  assert.equal(firstBackend.Targets![0].Weight, 10);
  assert.equal(firstBackend.Targets![0].Type, "ENI");
  const secondBackend = described.Listeners!.find((l) => l.ListenerId === second)!;
  assert.equal(secondBackend.Targets![0].Weight, 10, "Weight defaults to 10");

  const deregistered = await client.BatchDeregisterTargets({
    LoadBalancerId: "lb-game1",
    Targets: [{ ListenerId: first, EniIp: "10.0.0.5", Port: 8080 }],
  });
  assert.deepEqual(deregistered.FailListenerIdSet, []);
  const after = await client.DescribeTargets({ LoadBalancerId: "lb-game1", ListenerIds: [first] });
  assert.deepEqual(after.Listeners?.[0].Targets, []);
  assert.equal(cloud.loadBalancer("lb-game1")?.listeners[1].targets[0].eniIp, "10.0.0.6");
});

Deno.test("BatchRegisterTargets and BatchDeregisterTargets take effect at once and start no task", async () => {
  const clock = manualClock();
  await using cloud = await start({ taskDurationMs: 1_000, now: clock.now });
  const client = clientOf(cloud);
  const { ListenerIds } = await client.CreateListener({
    LoadBalancerId: "lb-game1",
    Ports: [7000],
    Protocol: "UDP",
  });
  clock.advance(1_000);
  const target = { ListenerId: ListenerIds![0], EniIp: "10.0.0.5", Port: 7777 };

  const registered = await client.BatchRegisterTargets({
    LoadBalancerId: "lb-game1",
    Targets: [target],
  });
  // Bound now, with the clock standing still, and nothing to wait for.
  assert.equal(cloud.loadBalancer("lb-game1")?.listeners[0].targets.length, 1);
  const noTask = await failure(client.DescribeTaskStatus({ TaskId: registered.RequestId }));
  assert.equal(noTask.code, "InvalidParameter");
  // The instance is not busy: the next write goes through at once.
  await client.BatchDeregisterTargets({ LoadBalancerId: "lb-game1", Targets: [target] });
  assert.equal(cloud.loadBalancer("lb-game1")?.listeners[0].targets.length, 0);
  await client.CreateListener({ LoadBalancerId: "lb-game1", Ports: [7001], Protocol: "UDP" });
});

Deno.test("BatchRegisterTargets takes 500 targets and refuses 501 with InvalidParameterValue.Length", async () => {
  await using cloud = await start();
  const client = clientOf(cloud);
  const { ListenerIds } = await client.CreateListener({
    LoadBalancerId: "lb-game1",
    Ports: [7000],
    Protocol: "UDP",
  });
  const targets = Array.from({ length: 501 }, (_, i) => ({
    ListenerId: ListenerIds![0],
    EniIp: `10.0.${Math.floor(i / 250)}.${(i % 250) + 1}`,
    Port: 7777,
  }));
  const tooMany = await failure(
    client.BatchRegisterTargets({ LoadBalancerId: "lb-game1", Targets: targets }),
  );
  assert.equal(tooMany.code, "InvalidParameterValue.Length");
  assert.match(tooMany.message, /\.Targets.*500/);
  assert.equal(cloud.loadBalancer("lb-game1")?.listeners[0].targets.length, 0);

  await client.BatchRegisterTargets({ LoadBalancerId: "lb-game1", Targets: targets.slice(0, 500) });
  assert.equal(cloud.loadBalancer("lb-game1")?.listeners[0].targets.length, 500);
});

Deno.test("DeleteLoadBalancerListeners removes the listeners and their targets", async () => {
  await using cloud = await start();
  const client = clientOf(cloud);
  const { ListenerIds } = await client.CreateListener({
    LoadBalancerId: "lb-game1",
    Ports: [7000, 7001],
    Protocol: "UDP",
  });
  await client.BatchRegisterTargets({
    LoadBalancerId: "lb-game1",
    Targets: [{ ListenerId: ListenerIds![0], EniIp: "10.0.0.5", Port: 7777 }],
  });

  await client.DeleteLoadBalancerListeners({
    LoadBalancerId: "lb-game1",
    ListenerIds: [ListenerIds![0]],
  });
  const left = await client.DescribeListeners({ LoadBalancerId: "lb-game1" });
  assert.deepEqual(left.Listeners?.map((l) => l.ListenerId), [ListenerIds![1]]);

  const again = await failure(
    client.DeleteLoadBalancerListeners({
      LoadBalancerId: "lb-game1",
      ListenerIds: [ListenerIds![0]],
    }),
  );
  assert.equal(again.code, "InvalidParameter.ListenerIdNotFound");
});

Deno.test("DescribeTaskStatus reports a write's task as running, then succeeded", async () => {
  const clock = manualClock();
  await using cloud = await start({ taskDurationMs: 2_000, now: clock.now });
  const client = clientOf(cloud);

  const created = await client.CreateListener({
    LoadBalancerId: "lb-game1",
    Ports: [7000],
    Protocol: "TCP",
  });
  const taskId = created.RequestId!;
  const running = await client.DescribeTaskStatus({ TaskId: taskId });
  assert.equal(running.Status, 2);
  assert.deepEqual(running.LoadBalancerIds, ["lb-game1"]);

  clock.advance(1_999);
  assert.equal((await client.DescribeTaskStatus({ TaskId: taskId })).Status, 2);
  clock.advance(1);
  assert.equal((await client.DescribeTaskStatus({ TaskId: taskId })).Status, 0);

  const unknown = await failure(client.DescribeTaskStatus({ TaskId: crypto.randomUUID() }));
  assert.equal(unknown.code, "InvalidParameter");
});

Deno.test("writes to a load balancer answer ResourceInOperating while its task runs", async () => {
  const clock = manualClock();
  await using cloud = await start({
    taskDurationMs: 1_000,
    now: clock.now,
    loadBalancers: [{ id: "lb-game1" }, { id: "lb-game2" }],
  });
  const client = clientOf(cloud);
  const { ListenerIds } = await client.CreateListener({
    LoadBalancerId: "lb-game1",
    Ports: [7000],
    Protocol: "TCP",
  });

  const busy = await failure(
    client.BatchRegisterTargets({
      LoadBalancerId: "lb-game1",
      Targets: [{ ListenerId: ListenerIds![0], EniIp: "10.0.0.5", Port: 80 }],
    }),
  );
  assert.equal(busy.code, "FailedOperation.ResourceInOperating");
  assert.match(busy.message, /CreateListener/);

  // Reads and other load balancers are not blocked.
  assert.equal((await client.DescribeListeners({ LoadBalancerId: "lb-game1" })).TotalCount, 1);
  await client.CreateListener({ LoadBalancerId: "lb-game2", Ports: [7000], Protocol: "TCP" });

  clock.advance(1_000);
  const bound = await client.BatchRegisterTargets({
    LoadBalancerId: "lb-game1",
    Targets: [{ ListenerId: ListenerIds![0], EniIp: "10.0.0.5", Port: 80 }],
  });
  assert.deepEqual(bound.FailListenerIdSet, []);
});

Deno.test("a taskFailure fault ends the task with Status 1 and undoes the write", async () => {
  const clock = manualClock();
  await using cloud = await start({
    taskDurationMs: 500,
    now: clock.now,
    faults: [{ kind: "taskFailure", actions: ["CreateListener"], times: 1 }],
  });
  const client = clientOf(cloud);
  const created = await client.CreateListener({
    LoadBalancerId: "lb-game1",
    Ports: [7000],
    Protocol: "TCP",
  });
  assert.equal((await client.DescribeTaskStatus({ TaskId: created.RequestId })).Status, 2);

  clock.advance(500);
  const failed = await client.DescribeTaskStatus({ TaskId: created.RequestId });
  assert.equal(failed.Status, 1);
  assert.equal(failed.Message, "Injected task failure");
  assert.equal((await client.DescribeListeners({ LoadBalancerId: "lb-game1" })).TotalCount, 0);
});

Deno.test("an action called beyond its rate limit answers RequestLimitExceeded", async () => {
  const clock = manualClock();
  await using cloud = await start({ now: clock.now, rateLimits: { DescribeListeners: 3 } });
  const client = clientOf(cloud);

  const outcomes: string[] = [];
  for (let i = 0; i < 5; i++) {
    try {
      await client.DescribeListeners({ LoadBalancerId: "lb-game1" });
      outcomes.push("ok");
    } catch (error) {
      outcomes.push((error as SdkError).code ?? "no code");
    }
  }
  assert.deepEqual(outcomes, [
    "ok",
    "ok",
    "ok",
    "RequestLimitExceeded",
    "RequestLimitExceeded",
  ]);
  // Another action has its own budget (the default 20/s).
  await client.DescribeTargets({ LoadBalancerId: "lb-game1" });

  clock.advance(1_000);
  await client.DescribeListeners({ LoadBalancerId: "lb-game1" });
  const stats = cloud.stats();
  assert.equal(stats.throttled, 2);
  assert.equal(stats.calls.DescribeListeners, 6);
  assert.equal(stats.errors.RequestLimitExceeded, 2);
});

Deno.test("a wrong SecretKey gets AuthFailure.SignatureFailure", async () => {
  await using cloud = await start();
  const error = await failure(
    clientOf(cloud, { secretKey: "not-the-key" }).DescribeLoadBalancers({}),
  );
  assert.equal(error.constructor.name, "TencentCloudSDKHttpException");
  assert.equal(error.code, "AuthFailure.SignatureFailure");
  assert.match(error.requestId ?? "", /^[0-9a-f-]{36}$/);
  assert.equal(cloud.stats().authFailures, 1);
  assert.doesNotMatch(error.message, /not-the-key|gamenetFakeCloudSecretKey/);
});

Deno.test("an unknown SecretId gets AuthFailure.SecretIdNotFound", async () => {
  await using cloud = await start();
  const error = await failure(
    clientOf(cloud, { secretId: "AKIDunknown" }).DescribeLoadBalancers({}),
  );
  assert.equal(error.code, "AuthFailure.SecretIdNotFound");
  assert.match(error.message, /AKIDunknown/);
});

Deno.test("a timestamp more than five minutes off gets AuthFailure.SignatureExpire", async () => {
  // The server clock runs ten minutes ahead of the client's.
  await using cloud = await start({ now: () => Date.now() + 600_000 });
  const error = await failure(clientOf(cloud).DescribeLoadBalancers({}));
  assert.equal(error.code, "AuthFailure.SignatureExpire");
});

Deno.test("extra credentials are accepted alongside the main one", async () => {
  await using cloud = await start({
    extraCredentials: [{ secretId: "AKIDsecond", secretKey: "second-key" }],
  });
  const result = await clientOf(cloud, { secretId: "AKIDsecond", secretKey: "second-key" })
    .DescribeLoadBalancers({ LoadBalancerIds: ["lb-game1"] });
  assert.equal(result.TotalCount, 1);
});

Deno.test("an injected HTTP 503 surfaces as an SDK error with httpCode 503", async () => {
  await using cloud = await start({
    faults: [{ kind: "http", status: 503, actions: ["BatchRegisterTargets"], times: 1 }],
  });
  const client = clientOf(cloud);
  const { ListenerIds } = await client.CreateListener({
    LoadBalancerId: "lb-game1",
    Ports: [7000],
    Protocol: "TCP",
  });
  const target = { ListenerId: ListenerIds![0], EniIp: "10.0.0.5", Port: 80 };

  const error = await failure(
    client.BatchRegisterTargets({ LoadBalancerId: "lb-game1", Targets: [target] }),
  );
  assert.equal(error.httpCode, 503);
  assert.equal(cloud.loadBalancer("lb-game1")?.listeners[0].targets.length, 0);

  // times: 1 — the retry goes through.
  await client.BatchRegisterTargets({ LoadBalancerId: "lb-game1", Targets: [target] });
  assert.equal(cloud.loadBalancer("lb-game1")?.listeners[0].targets.length, 1);
  assert.equal(cloud.stats().faults, 1);
});

Deno.test("an endless hang surfaces as a timeout with a small reqTimeout", async () => {
  await using cloud = await start({ faults: [{ kind: "hang", actions: ["DescribeListeners"] }] });
  const client = clientOf(cloud, { reqTimeout: 0.2 });
  const started = performance.now();
  const error = await failure(client.DescribeListeners({ LoadBalancerId: "lb-game1" }));
  assert.match(error.message, /timeout/i);
  assert.ok(performance.now() - started < 5_000, "the client should give up after ~200 ms");
  // Other actions are unaffected.
  assert.equal((await client.DescribeLoadBalancers({})).TotalCount, 1);
});

Deno.test("a slow write the client gave up on still happens", async () => {
  await using cloud = await start({
    faults: [{ kind: "hang", ms: 400, actions: ["CreateListener"], times: 1 }],
  });
  const client = clientOf(cloud, { reqTimeout: 0.1 });
  const error = await failure(
    client.CreateListener({ LoadBalancerId: "lb-game1", Ports: [7000], Protocol: "TCP" }),
  );
  assert.match(error.message, /timeout/i);
  assert.equal(cloud.loadBalancer("lb-game1")?.listeners.length, 0);

  await new Promise((resolve) => setTimeout(resolve, 600));
  assert.deepEqual(cloud.loadBalancer("lb-game1")?.listeners.map((l) => l.port), [7000]);
});

Deno.test("injected error codes strike at the seeded rate, the same way on every run", async () => {
  async function outcomes(seed: number): Promise<string[]> {
    await using cloud = await start({
      seed,
      rateLimitPerSecond: Infinity,
      faults: [{ kind: "error", code: "InternalError", rate: 0.5, actions: ["DescribeQuota"] }],
    });
    const client = clientOf(cloud);
    const seen: string[] = [];
    for (let i = 0; i < 32; i++) {
      seen.push(await client.DescribeQuota().then(() => "ok", (e: SdkError) => e.code ?? "?"));
    }
    assert.equal(cloud.stats().faults, seen.filter((s) => s === "InternalError").length);
    return seen;
  }
  const seed = testSeedFor("injected error codes");
  const first = await outcomes(seed);
  assert.deepEqual(await outcomes(seed), first);
  assert.ok(first.includes("ok") && first.includes("InternalError"), first.join(","));
});

Deno.test("stats() counts calls per action and resetStats() zeroes them", async () => {
  await using cloud = await start();
  const client = clientOf(cloud);
  await client.DescribeLoadBalancers({});
  await client.CreateListener({ LoadBalancerId: "lb-game1", Ports: [1, 2, 3], Protocol: "TCP" });
  await client.DescribeListeners({ LoadBalancerId: "lb-game1" });
  await client.DescribeListeners({ LoadBalancerId: "lb-game1" });
  const stats = cloud.stats();
  assert.deepEqual(stats.calls, {
    DescribeLoadBalancers: 1,
    CreateListener: 1,
    DescribeListeners: 2,
  });
  assert.equal(stats.totalCalls, 4);
  cloud.resetStats();
  assert.equal(cloud.stats().totalCalls, 0);
});

Deno.test("stop() closes the server: later calls fail and nothing is left open", async () => {
  const cloud = await start({ faults: [{ kind: "hang", actions: ["DescribeQuota"] }] });
  const client = clientOf(cloud, { reqTimeout: 5 });
  assert.equal((await client.DescribeLoadBalancers({})).TotalCount, 1);
  // A call held forever is let go by stop(), so stop() does not wait on it.
  const held = failure(client.DescribeQuota());
  while ((cloud.stats().calls.DescribeQuota ?? 0) === 0) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await cloud.stop();
  assert.equal((await held).httpCode, 503);
  await cloud.stop(); // idempotent
  const error = await failure(client.DescribeLoadBalancers({}));
  assert.match(error.message, /ECONNREFUSED|connect|refused/i);
});

Deno.test("CreateLoadBalancer buys an instance with a new VIP, creating (Status 0) until its task ends", async () => {
  const clock = manualClock();
  await using cloud = await start({ taskDurationMs: 3_000, now: clock.now });
  const client = clientOf(cloud);
  const bought = await client.CreateLoadBalancer({
    LoadBalancerType: "OPEN",
    LoadBalancerName: "gamenet-dedicated-a",
    VipIsp: "CMCC",
    Tags: [{ TagKey: "gamenet.io/owner", TagValue: "default/gs-0" }],
  });
  assert.equal(bought.LoadBalancerIds?.length, 1);
  const [id] = bought.LoadBalancerIds!;
  assert.match(id, /^lb-[0-9a-z]{8}$/);
  assert.match(bought.DealName ?? "", /^\d{16}$/);

  const describe = async () =>
    (await client.DescribeLoadBalancers({ LoadBalancerIds: [id] })).LoadBalancerSet![0];
  const creating = await describe();
  assert.equal(creating.Status, 0);
  assert.equal(creating.LoadBalancerName, "gamenet-dedicated-a");
  assert.equal(creating.VipIsp, "CMCC");
  assert.deepEqual(creating.Tags, [{ TagKey: "gamenet.io/owner", TagValue: "default/gs-0" }]);
  const vip = creating.LoadBalancerVips![0];
  assert.notEqual(vip, "203.0.113.10", "not the VIP of the instance set up");
  // Busy while it is created; its task is found by RequestId or DealName.
  const early = await failure(
    client.CreateListener({ LoadBalancerId: id, Ports: [7000], Protocol: "UDP" }),
  );
  assert.equal(early.code, "FailedOperation.ResourceInOperating");
  assert.equal((await client.DescribeTaskStatus({ DealName: bought.DealName })).Status, 2);

  clock.advance(3_000);
  assert.equal((await describe()).Status, 1);
  assert.deepEqual(
    (await client.DescribeTaskStatus({ TaskId: bought.RequestId })).LoadBalancerIds,
    [
      id,
    ],
  );
  await client.CreateListener({ LoadBalancerId: id, Ports: [7000], Protocol: "UDP" });

  const second = await client.CreateLoadBalancer({ LoadBalancerType: "OPEN", Number: 2 });
  const vips = cloud.loadBalancers().map((lb) => lb.vip);
  assert.equal(new Set(vips).size, 4, `every instance has its own VIP: ${vips}`);
  const snapshot = cloud.loadBalancer(id)!;
  assert.equal(snapshot.name, "gamenet-dedicated-a");
  assert.equal(snapshot.status, 1);
  assert.deepEqual(snapshot.tags, { "gamenet.io/owner": "default/gs-0" });
  assert.equal(cloud.loadBalancer(second.LoadBalancerIds![0])?.status, 0);
});

Deno.test("CreateLoadBalancer with a ClientToken already used answers the same instances, even after a lost answer", async () => {
  await using cloud = await start({
    faults: [{ kind: "lostAnswer", actions: ["CreateLoadBalancer"], times: 1 }],
  });
  const client = clientOf(cloud);
  const request = { LoadBalancerType: "OPEN", ClientToken: "gamenet-default-gs-0-1" };

  const lost = await failure(client.CreateLoadBalancer(request));
  assert.equal(lost.httpCode, 502);
  assert.equal(cloud.loadBalancers().length, 2, "bought although the answer was lost");
  const again = await client.CreateLoadBalancer(request);
  const once = await client.CreateLoadBalancer(request);
  assert.deepEqual(once.LoadBalancerIds, again.LoadBalancerIds);
  assert.equal(once.DealName, again.DealName);
  assert.equal(cloud.loadBalancers().length, 2, "one instance bought for one ClientToken");
  assert.equal(cloud.loadBalancers()[1].id, again.LoadBalancerIds![0]);

  const other = await client.CreateLoadBalancer({ ...request, ClientToken: "another" });
  assert.notDeepEqual(other.LoadBalancerIds, again.LoadBalancerIds);
  assert.equal(cloud.loadBalancers().length, 3);
});

Deno.test("CreateLoadBalancer answers LimitExceeded beyond loadBalancerQuota and buys nothing", async () => {
  await using cloud = await start({ loadBalancerQuota: 2 });
  const client = clientOf(cloud);
  await client.CreateLoadBalancer({ LoadBalancerType: "OPEN" });
  const over = await failure(client.CreateLoadBalancer({ LoadBalancerType: "OPEN" }));
  assert.equal(over.code, "LimitExceeded");
  assert.match(over.message, /quota of 2 \(TOTAL_OPEN_CLB_QUOTA\)/);
  assert.equal(cloud.loadBalancers().length, 2);
  const quota = await client.DescribeQuota();
  assert.deepEqual(
    quota.QuotaSet?.find((q) => q.QuotaId === "TOTAL_OPEN_CLB_QUOTA"),
    { QuotaId: "TOTAL_OPEN_CLB_QUOTA", QuotaCurrent: 2, QuotaLimit: 2 },
  );
  // Another type has its own quota; an INTERNAL one needs its subnet.
  const noSubnet = await failure(client.CreateLoadBalancer({ LoadBalancerType: "INTERNAL" }));
  assert.equal(noSubnet.code, "MissingParameter");
  await client.CreateLoadBalancer({ LoadBalancerType: "INTERNAL", SubnetId: "subnet-1" });
});

Deno.test("a taskFailure fault on CreateLoadBalancer takes the instance away and spends its ClientToken", async () => {
  const clock = manualClock();
  await using cloud = await start({
    taskDurationMs: 1_000,
    now: clock.now,
    faults: [{ kind: "taskFailure", actions: ["CreateLoadBalancer"], times: 1 }],
  });
  const client = clientOf(cloud);
  const request = { LoadBalancerType: "OPEN", ClientToken: "t-1" };
  const bought = await client.CreateLoadBalancer(request);
  assert.equal(cloud.loadBalancer(bought.LoadBalancerIds![0])?.status, 0);
  clock.advance(1_000);
  assert.equal((await client.DescribeTaskStatus({ DealName: bought.DealName })).Status, 1);
  assert.equal(cloud.loadBalancer(bought.LoadBalancerIds![0]), undefined);
  const spent = await failure(client.CreateLoadBalancer(request));
  assert.equal(spent.code, "InvalidParameter.ClientTokenLimitExceeded");
});

Deno.test("DeleteLoadBalancer removes the instance with its listeners and targets; later calls answer LBIdNotFound", async () => {
  const clock = manualClock();
  await using cloud = await start({ taskDurationMs: 500, now: clock.now });
  const client = clientOf(cloud);
  const { ListenerIds } = await client.CreateListener({
    LoadBalancerId: "lb-game1",
    Ports: [7000],
    Protocol: "UDP",
  });
  // Not while another task runs on it.
  const busy = await failure(client.DeleteLoadBalancer({ LoadBalancerIds: ["lb-game1"] }));
  assert.equal(busy.code, "FailedOperation.ResourceInOperating");
  clock.advance(500);
  await client.BatchRegisterTargets({
    LoadBalancerId: "lb-game1",
    Targets: [{ ListenerId: ListenerIds![0], EniIp: "10.0.0.5", Port: 7777 }],
  });

  const deleted = await client.DeleteLoadBalancer({ LoadBalancerIds: ["lb-game1"] });
  assert.equal((await client.DescribeTaskStatus({ TaskId: deleted.RequestId })).Status, 2);
  assert.equal(cloud.loadBalancer("lb-game1"), undefined);
  assert.equal((await client.DescribeLoadBalancers({})).TotalCount, 0);
  clock.advance(500);
  assert.equal((await client.DescribeTaskStatus({ TaskId: deleted.RequestId })).Status, 0);

  for (
    const call of [
      client.DeleteLoadBalancer({ LoadBalancerIds: ["lb-game1"] }),
      client.DescribeListeners({ LoadBalancerId: "lb-game1" }),
    ]
  ) {
    const gone = await failure(call);
    assert.equal(gone.code, "InvalidParameter.LBIdNotFound");
    assert.match(gone.message, /Load balancer lb-game1 does not exist in region ap-guangzhou/);
  }
});

Deno.test("DescribeLoadBalancers honours the Filters tag-key and tag:<key>", async () => {
  await using cloud = await start({
    loadBalancers: [
      { id: "lb-a", tags: { "gamenet.io/owner": "default/gs-0", team: "red" } },
      { id: "lb-b", tags: { "gamenet.io/owner": "default/gs-1" } },
      { id: "lb-c", tags: { team: "red" } },
    ],
  });
  const client = clientOf(cloud);
  const ids = async (Filters: { Name: string; Values: string[] }[]) =>
    (await client.DescribeLoadBalancers({ Filters })).LoadBalancerSet!.map((lb) =>
      lb.LoadBalancerId
    ).sort();

  assert.deepEqual(await ids([{ Name: "tag-key", Values: ["gamenet.io/owner"] }]), [
    "lb-a",
    "lb-b",
  ]);
  assert.deepEqual(await ids([{ Name: "tag:gamenet.io/owner", Values: ["default/gs-1"] }]), [
    "lb-b",
  ]);
  // Filters AND, values OR.
  assert.deepEqual(
    await ids([
      { Name: "tag-key", Values: ["team"] },
      { Name: "tag:gamenet.io/owner", Values: ["default/gs-0", "default/gs-1"] },
    ]),
    ["lb-a"],
  );
  const unserved = await failure(
    client.DescribeLoadBalancers({ Filters: [{ Name: "charge-type", Values: ["PREPAID"] }] }),
  );
  assert.equal(unserved.code, "InvalidParameterValue.InvalidFilter");
});

Deno.test("injected faults strike CreateLoadBalancer and DeleteLoadBalancer like any other action", async () => {
  await using cloud = await start({
    faults: [
      { kind: "error", code: "InternalError", actions: ["CreateLoadBalancer"], times: 1 },
      { kind: "http", status: 503, actions: ["DeleteLoadBalancer"], times: 1 },
      { kind: "lostAnswer", actions: ["DeleteLoadBalancer"], times: 1 },
    ],
  });
  const client = clientOf(cloud);
  assert.equal(
    (await failure(client.CreateLoadBalancer({ LoadBalancerType: "OPEN" }))).code,
    "InternalError",
  );
  assert.equal(cloud.loadBalancers().length, 1, "an error buys nothing");
  const refused = await failure(client.DeleteLoadBalancer({ LoadBalancerIds: ["lb-game1"] }));
  assert.equal(refused.httpCode, 503);
  assert.ok(cloud.loadBalancer("lb-game1"), "a 503 deletes nothing");
  const lost = await failure(client.DeleteLoadBalancer({ LoadBalancerIds: ["lb-game1"] }));
  assert.equal(lost.httpCode, 502);
  assert.equal(cloud.loadBalancer("lb-game1"), undefined, "deleted although the answer was lost");
  assert.equal(cloud.stats().faults, 3);
});
