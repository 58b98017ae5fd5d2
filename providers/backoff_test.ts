import assert from "node:assert/strict";
import { backoffDelay } from "./backoff.ts";

Deno.test("backoffDelay() doubles up to the maximum", () => {
  const plain = { initialMs: 100, maxMs: 1_000, jitter: false };
  assert.deepEqual([0, 1, 2, 3, 4, 10].map((n) => backoffDelay(n, plain)), [
    100,
    200,
    400,
    800,
    1_000,
    1_000,
  ]);
});

Deno.test("backoffDelay() with jitter draws from the upper half", () => {
  const at = (r: number) => backoffDelay(2, { initialMs: 100, maxMs: 1_000, random: () => r });
  assert.equal(at(0), 200);
  assert.equal(at(0.5), 300);
  assert.ok(at(0.999) < 400);
});
