import assert from "node:assert/strict";
import { Registry } from "prom-client";
import type { AllocationCounts, GameServerCount } from "../providers/view.ts";
import { createMetrics, createMetricsRoute } from "./metrics.ts";

/** The sample lines (no comments) of one metric family. */
function samples(text: string, name: string): string[] {
  return text.split("\n").filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

Deno.test("GET /metrics answers every gamenet metric in the registry's content type", async () => {
  const metrics = createMetrics();
  const res = await createMetricsRoute(metrics).request("/metrics");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), metrics.registry.contentType);
  const text = await res.text();
  for (
    const name of [
      "gamenet_allocations",
      "gamenet_pool_free_ports",
      "gamenet_pool_used_ports",
      "gamenet_leader",
      "gamenet_game_servers",
      "gamenet_cloud_requests_total",
      "gamenet_cloud_request_duration_seconds",
      "gamenet_reconcile_duration_seconds",
      "gamenet_webhook_duration_seconds",
      "gamenet_workqueue_depth",
      "gamenet_watch_restarts_total",
      "gamenet_errors_total",
      "process_cpu_seconds_total",
      "process_resident_memory_bytes",
    ]
  ) {
    assert.match(text, new RegExp(`^# TYPE ${name} `, "m"), name);
  }
});

Deno.test("createMetrics() twice gives two independent registries", async () => {
  const a = createMetrics({ defaultMetrics: false });
  const b = createMetrics({ defaultMetrics: false });
  a.errors.inc({ kind: "admission" });
  assert.notEqual(a.registry, b.registry);
  assert.deepStrictEqual(samples(await a.registry.metrics(), "gamenet_errors_total"), [
    'gamenet_errors_total{kind="admission"} 1',
  ]);
  assert.deepStrictEqual(samples(await b.registry.metrics(), "gamenet_errors_total"), []);
});

Deno.test("createMetrics({ defaultMetrics: false }) leaves process metrics out", async () => {
  const text = await createMetrics({ defaultMetrics: false }).registry.metrics();
  assert.doesNotMatch(text, /process_cpu_seconds_total/);
});

Deno.test("createMetrics({ registry }) registers into the given registry", () => {
  const registry = new Registry();
  const metrics = createMetrics({ registry, defaultMetrics: false });
  assert.equal(metrics.registry, registry);
  assert.ok(registry.getSingleMetric("gamenet_workqueue_depth"));
});

Deno.test("GET /metrics reads gamenet_allocations and the pool gauges from the counts, once per scrape", async () => {
  let view: AllocationCounts = {
    pools: [
      { kind: "node", key: "n1", range: "8000-9000", used: 2, free: 999, delayed: 0 },
      {
        kind: "node",
        key: "n1",
        range: "7000-7099",
        rangeName: "x",
        used: 0,
        free: 100,
        delayed: 0,
      },
      { kind: "lb", key: "lb-a", range: "1-10", protocol: "UDP", used: 1, free: 9, delayed: 0 },
    ],
    byType: new Map([["Kubernetes-HostPort", 2], ["TencentCloud-CLB", 1]]),
  };
  let reads = 0;
  const metrics = createMetrics({
    defaultMetrics: false,
    counts: () => {
      reads++;
      return view;
    },
  });
  const app = createMetricsRoute(metrics);
  let text = await (await app.request("/metrics")).text();
  assert.deepStrictEqual(samples(text, "gamenet_allocations"), [
    'gamenet_allocations{type="Kubernetes-HostPort"} 2',
    'gamenet_allocations{type="TencentCloud-CLB"} 1',
  ]);
  assert.deepStrictEqual(samples(text, "gamenet_pool_free_ports"), [
    'gamenet_pool_free_ports{kind="node",key="n1",protocol="",range="8000-9000"} 999',
    'gamenet_pool_free_ports{kind="node",key="n1",protocol="",range="x"} 100',
    'gamenet_pool_free_ports{kind="lb",key="lb-a",protocol="UDP",range="1-10"} 9',
  ]);
  assert.deepStrictEqual(samples(text, "gamenet_pool_used_ports"), [
    'gamenet_pool_used_ports{kind="node",key="n1",protocol="",range="8000-9000"} 2',
    'gamenet_pool_used_ports{kind="node",key="n1",protocol="",range="x"} 0',
    'gamenet_pool_used_ports{kind="lb",key="lb-a",protocol="UDP",range="1-10"} 1',
  ]);
  // A pool and a type that went away disappear from the next scrape.
  assert.equal(reads, 1, "four gauges, one count");
  view = { pools: [view.pools[2]], byType: new Map([["TencentCloud-CLB", 1]]) };
  await new Promise((r) => setTimeout(r, 0));
  text = await (await app.request("/metrics")).text();
  assert.equal(reads, 2, "the next scrape counts again");
  assert.deepStrictEqual(samples(text, "gamenet_allocations"), [
    'gamenet_allocations{type="TencentCloud-CLB"} 1',
  ]);
  assert.deepStrictEqual(samples(text, "gamenet_pool_free_ports"), [
    'gamenet_pool_free_ports{kind="lb",key="lb-a",protocol="UDP",range="1-10"} 9',
  ]);
});

Deno.test("GET /metrics reads gamenet_workqueue_depth from the injected function", async () => {
  let depth = 7;
  const metrics = createMetrics({ defaultMetrics: false, workqueueDepth: () => depth });
  const app = createMetricsRoute(metrics);
  assert.deepStrictEqual(
    samples(await (await app.request("/metrics")).text(), "gamenet_workqueue_depth"),
    [
      "gamenet_workqueue_depth 7",
    ],
  );
  depth = 0;
  assert.deepStrictEqual(
    samples(await (await app.request("/metrics")).text(), "gamenet_workqueue_depth"),
    [
      "gamenet_workqueue_depth 0",
    ],
  );
});

Deno.test("reconciled() and error() feed the reconcile histogram and the error counter", async () => {
  const metrics = createMetrics({ defaultMetrics: false });
  metrics.reconciled("done", 0.003);
  metrics.reconciled("done", 0.2);
  metrics.reconciled("retry", 1);
  metrics.error("api_409");
  const text = await metrics.registry.metrics();
  assert.ok(text.includes('gamenet_reconcile_duration_seconds_count{result="done"} 2'));
  assert.ok(text.includes('gamenet_reconcile_duration_seconds_bucket{le="0.005",result="done"} 1'));
  assert.ok(text.includes('gamenet_reconcile_duration_seconds_count{result="retry"} 1'));
  assert.ok(text.includes('gamenet_errors_total{kind="api_409"} 1'));
});

Deno.test("GET /metrics answers 500 with the message when the counts throw", async () => {
  const metrics = createMetrics({
    defaultMetrics: false,
    counts: () => {
      throw new Error("allocator not restored");
    },
  });
  const res = await createMetricsRoute(metrics).request("/metrics");
  assert.equal(res.status, 500);
  assert.equal(await res.text(), "Could not collect metrics: allocator not restored");
});

Deno.test("createMetrics() reports the process's resident memory, not 0", async () => {
  const text = await createMetrics().registry.metrics();
  const rss = Number(/^process_resident_memory_bytes (\S+)$/m.exec(text)?.[1]);
  assert.ok(rss > 10 * 2 ** 20, `process_resident_memory_bytes ${rss}`);
  assert.doesNotMatch(text, /^process_virtual_memory_bytes /m);
});

Deno.test("GET /metrics sums pools of one kind, key, protocol and range into one series", async () => {
  const pool = { kind: "lb" as const, key: "lb-a", range: "1-10", used: 1, free: 4, delayed: 1 };
  const metrics = createMetrics({
    defaultMetrics: false,
    counts: () => ({ pools: [pool, pool], byType: new Map() }),
  });
  const text = await (await createMetricsRoute(metrics).request("/metrics")).text();
  assert.deepStrictEqual(samples(text, "gamenet_pool_delayed_ports"), [
    'gamenet_pool_delayed_ports{kind="lb",key="lb-a",protocol="",range="1-10"} 2',
  ]);
});

Deno.test("GET /metrics reads gamenet_leader from the injected function", async () => {
  let leading = false;
  const app = createMetricsRoute(createMetrics({ defaultMetrics: false, leader: () => leading }));
  const read = async () => samples(await (await app.request("/metrics")).text(), "gamenet_leader");
  assert.deepStrictEqual(await read(), ["gamenet_leader 0"]);
  leading = true;
  assert.deepStrictEqual(await read(), ["gamenet_leader 1"]);
});

Deno.test("GET /metrics reads gamenet_game_servers from the injected counts, stale series gone", async () => {
  let counts: GameServerCount[] = [
    { type: "Kubernetes-HostPort", state: "Ready", reason: "", count: 5 },
    { type: "Kubernetes-HostPort", state: "NotReady", reason: "HostPortsExhausted", count: 2 },
    { type: "TencentCloud-CLB", state: "Waiting", reason: "", count: 1 },
  ];
  const metrics = createMetrics({ defaultMetrics: false, gameServers: () => counts });
  const app = createMetricsRoute(metrics);
  const read = async () =>
    samples(await (await app.request("/metrics")).text(), "gamenet_game_servers");
  assert.deepStrictEqual(await read(), [
    'gamenet_game_servers{type="Kubernetes-HostPort",state="Ready",reason=""} 5',
    'gamenet_game_servers{type="Kubernetes-HostPort",state="NotReady",reason="HostPortsExhausted"} 2',
    'gamenet_game_servers{type="TencentCloud-CLB",state="Waiting",reason=""} 1',
  ]);
  counts = [{ type: "Kubernetes-HostPort", state: "Ready", reason: "", count: 7 }];
  assert.deepStrictEqual(await read(), [
    'gamenet_game_servers{type="Kubernetes-HostPort",state="Ready",reason=""} 7',
  ]);
});

Deno.test("cloudCall() counts calls by code and times them by action", async () => {
  const metrics = createMetrics({ defaultMetrics: false });
  const call = { cloud: "tencentcloud", action: "CreateListener" };
  metrics.cloudCall({ ...call, code: "OK", seconds: 0.04 });
  metrics.cloudCall({ ...call, code: "RequestLimitExceeded", seconds: 0.02 });
  metrics.cloudCall({ ...call, code: "OK", seconds: 0.3 });
  const text = await metrics.registry.metrics();
  assert.deepStrictEqual(samples(text, "gamenet_cloud_requests_total"), [
    'gamenet_cloud_requests_total{cloud="tencentcloud",action="CreateListener",code="OK"} 2',
    'gamenet_cloud_requests_total{cloud="tencentcloud",action="CreateListener",code="RequestLimitExceeded"} 1',
  ]);
  assert.ok(
    text.includes(
      'gamenet_cloud_request_duration_seconds_count{cloud="tencentcloud",action="CreateListener"} 3',
    ),
  );
  assert.ok(
    text.includes(
      'gamenet_cloud_request_duration_seconds_bucket{le="0.05",cloud="tencentcloud",action="CreateListener"} 2',
    ),
  );
});
