import assert from "node:assert/strict";
import type { AdmissionReview } from "./admission.ts";
import type { AllocationsView } from "./allocations.ts";
import { createApp, createDebugApp, createWebhookApp } from "./app.ts";
import { AllocationsFeed } from "./allocations_feed.ts";
import { createMetrics } from "./metrics.ts";

const VIEW: AllocationsView = {
  pools: [{ kind: "node", key: "n1", range: "8000-9000", used: 1, free: 1000, delayed: 0 }],
  allocations: [{
    type: "Kubernetes-HostPort",
    namespace: "games",
    pod: "gs-0",
    owner: "games/gs-0",
    node: "n1",
    ports: [{ port: 8000, protocol: "TCP", containerPort: 7777 }],
  }],
};

function plainApp(ready = true, logs: string[] = []) {
  const metrics = createMetrics({
    defaultMetrics: false,
    counts: () => ({ pools: VIEW.pools, byType: new Map() }),
  });
  return createApp({
    isReady: () => ({ ready, reason: "not leader" }),
    metrics,
    log: (m) => logs.push(m),
  });
}

const REVIEW: AdmissionReview = {
  apiVersion: "admission.k8s.io/v1",
  kind: "AdmissionReview",
  request: {
    uid: "u-1",
    kind: { group: "", version: "v1", kind: "Pod" },
    resource: { group: "", version: "v1", resource: "pods" },
    operation: "CREATE",
    namespace: "games",
    object: { metadata: { name: "gs-0" }, spec: { containers: [{ name: "gs" }] } },
    userInfo: {},
  },
};

Deno.test("createApp() serves /healthz, /readyz and /metrics", async () => {
  const app = plainApp();
  assert.equal(await (await app.request("/healthz")).text(), "ok");
  assert.equal((await app.request("/readyz")).status, 200);
  const metrics = await (await app.request("/metrics")).text();
  assert.match(
    metrics,
    /^gamenet_pool_free_ports\{kind="node",key="n1",protocol="",range="[^"]+"\} 1000$/m,
  );
});

Deno.test("createApp() answers /readyz 503 with the reason while following", async () => {
  const res = await plainApp(false).request("/readyz");
  assert.equal(res.status, 503);
  assert.equal(await res.text(), "not leader");
});

Deno.test("createApp() does not serve the webhook on the plain port", async () => {
  const res = await plainApp().request("/mutate-pods", {
    method: "POST",
    body: JSON.stringify(REVIEW),
  });
  assert.equal(res.status, 404);
  assert.match(await res.text(), /gamenet serves GET \/healthz, \/readyz, \/metrics here/);
});

Deno.test("createApp() leaves /allocations to the debug listener and says so", async () => {
  const res = await plainApp().request("/allocations");
  assert.equal(res.status, 404);
  assert.match(await res.text(), /\/allocations is on the debug listener \(--debug-addr/);
});

Deno.test("createApp() runs metricsAuth before /metrics only", async () => {
  const app = createApp({
    isReady: () => true,
    metrics: createMetrics({ defaultMetrics: false }),
    metricsAuth: (c) => Promise.resolve(c.text("no", 401)),
  });
  assert.equal((await app.request("/metrics")).status, 401);
  assert.equal((await app.request("/healthz")).status, 200);
  assert.equal((await app.request("/readyz")).status, 200);
});

Deno.test("createDebugApp() serves /allocations with its filters and nothing else", async () => {
  const app = createDebugApp({ allocations: () => VIEW });
  const allocations = await (await app.request("/allocations?node=n1")).json();
  assert.equal(allocations.allocations[0].pod, "gs-0");
  assert.equal((await app.request("/allocations?format=table")).status, 200);
  for (const path of ["/metrics", "/healthz"]) {
    const res = await app.request(path);
    assert.equal(res.status, 404);
    assert.match(await res.text(), /debug listener serves GET \/allocations/);
  }
});

Deno.test("createDebugApp() serves /ui and /allocations/stream from the same view", async () => {
  const feed = new AllocationsFeed({ view: () => VIEW });
  const app = createDebugApp({
    allocations: () => VIEW,
    feed,
    pod: (ns, name) =>
      ns === "games" && name === "gs-0" ? { metadata: { name, namespace: ns } } : undefined,
  });
  const page = await app.request("/ui");
  assert.equal(page.status, 200);
  assert.match(await page.text(), /data-testid="server-row"[^>]*data-pod="games\/gs-0"/);
  assert.equal((await app.request("/ui/pods/games/gs-0")).status, 200);
  assert.equal((await app.request("/ui/pods/games/nope")).status, 404);
  const stream = await app.request("/allocations/stream?node=n1");
  assert.equal(stream.headers.get("content-type"), "text/event-stream; charset=utf-8");
  const reader = stream.body!.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  assert.match(first, /event: snapshot\ndata: \{"pools":/);
  feed.close();
  assert.equal((await reader.read()).done, true);
});

Deno.test("createDebugApp() answers 500 with the message when the allocations view throws", async () => {
  const logs: string[] = [];
  const app = createDebugApp({
    allocations: () => {
      throw new Error("allocator not restored");
    },
    log: (m) => logs.push(m),
  });
  const res = await app.request("/allocations");
  assert.equal(res.status, 500);
  assert.equal(await res.text(), "Internal error: allocator not restored\n");
  assert.deepStrictEqual(logs, ["GET /allocations: allocator not restored"]);
});

Deno.test("createWebhookApp() serves POST /mutate-pods and /healthz, and records latency", async () => {
  const metrics = createMetrics({ defaultMetrics: false });
  const app = createWebhookApp({
    admit: () => Promise.resolve({ allowed: true }),
    isReady: () => true,
    metrics,
  });
  const res = await app.request("/mutate-pods", {
    method: "POST",
    body: JSON.stringify(REVIEW),
  });
  assert.deepStrictEqual((await res.json()).response, { uid: "u-1", allowed: true });
  assert.equal(await (await app.request("/healthz")).text(), "ok");
  assert.equal((await app.request("/allocations")).status, 404);
  assert.match(
    await metrics.registry.metrics(),
    /gamenet_webhook_duration_seconds_count\{operation="CREATE",allowed="true"\} 1/,
  );
});

Deno.test("createWebhookApp() refuses admissions with 503 while not ready", async () => {
  const app = createWebhookApp({
    admit: () => Promise.resolve({ allowed: true }),
    isReady: () => ({ ready: false, reason: "restoring allocations" }),
  });
  const res = await app.request("/mutate-pods", {
    method: "POST",
    body: JSON.stringify(REVIEW),
  });
  const body = await res.json();
  assert.equal(body.response.allowed, false);
  assert.equal(body.response.status.code, 503);
  assert.equal((await app.request("/readyz")).status, 503);
});
