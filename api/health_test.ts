import assert from "node:assert/strict";
import { checkReadiness, createHealthRoutes } from "./health.ts";

Deno.test("GET /healthz answers 200 ok by default", async () => {
  const app = createHealthRoutes({ isReady: () => false });
  const res = await app.request("/healthz");
  assert.deepStrictEqual(res.status, 200);
  assert.deepStrictEqual(await res.text(), "ok");
});

Deno.test("GET /healthz answers 500 with the reason when isHealthy() says not ok", async () => {
  const app = createHealthRoutes({
    isReady: () => true,
    isHealthy: () => ({ ok: false, reason: "pod watch silent for 300 s" }),
  });
  const res = await app.request("/healthz");
  assert.deepStrictEqual(res.status, 500);
  assert.deepStrictEqual(await res.text(), "pod watch silent for 300 s");
});

Deno.test("GET /healthz answers 500 when isHealthy() throws", async () => {
  const app = createHealthRoutes({
    isReady: () => true,
    isHealthy: () => {
      throw new Error("boom");
    },
  });
  const res = await app.request("/healthz");
  assert.deepStrictEqual(res.status, 500);
  assert.deepStrictEqual(await res.text(), "health check failed: boom");
});

Deno.test("GET /readyz answers 200 ok when isReady() is true", async () => {
  const app = createHealthRoutes({ isReady: () => ({ ready: true, reason: "" }) });
  const res = await app.request("/readyz");
  assert.deepStrictEqual(res.status, 200);
  assert.deepStrictEqual(await res.text(), "ok");
});

Deno.test("GET /readyz answers 503 with the reason while not ready", async () => {
  let readiness = { ready: false, reason: "caches not synced" };
  const app = createHealthRoutes({ isReady: () => readiness });
  const res = await app.request("/readyz");
  assert.deepStrictEqual(res.status, 503);
  assert.deepStrictEqual(await res.text(), "caches not synced");
  readiness = { ready: false, reason: "not leader" };
  assert.deepStrictEqual(await (await app.request("/readyz")).text(), "not leader");
  readiness = { ready: true, reason: "" };
  assert.deepStrictEqual((await app.request("/readyz")).status, 200);
});

Deno.test("GET /readyz answers 503 'not ready' for a bare false", async () => {
  const res = await createHealthRoutes({ isReady: () => false }).request("/readyz");
  assert.deepStrictEqual(res.status, 503);
  assert.deepStrictEqual(await res.text(), "not ready");
});

Deno.test("checkReadiness() keeps a multi-line reason on one line", () => {
  const r = checkReadiness(() => ({ ready: false, reason: "restoring\n  allocations\r\n" }));
  assert.deepStrictEqual(r, { ready: false, reason: "restoring allocations" });
});

Deno.test("checkReadiness() counts a throwing check as not ready", () => {
  const r = checkReadiness(() => {
    throw new Error("no elector");
  });
  assert.deepStrictEqual(r, { ready: false, reason: "readiness check failed: no elector" });
});
