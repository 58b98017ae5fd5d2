import assert from "node:assert/strict";
import { Controller } from "./controller.ts";
import { done, requeueAfter, retry } from "../providers/result.ts";

Deno.test("Controller retries with backoff, requeues after, and reports what threw", async () => {
  const seen: string[] = [];
  const logs: string[] = [];
  let failures = 0;
  let finished!: () => void;
  const all = new Promise<void>((r) => finished = r);
  const c = new Controller({
    name: "widgets",
    workers: 2,
    reconcile(key) {
      seen.push(key);
      if (key === "flaky" && failures++ < 2) return retry();
      if (key === "later" && seen.filter((k) => k === "later").length === 1) {
        return requeueAfter(20);
      }
      if (key === "broken" && seen.filter((k) => k === "broken").length === 1) {
        throw new Error("boom");
      }
      const count = (k: string) => seen.filter((s) => s === k).length;
      if (count("flaky") >= 3 && count("later") >= 2 && count("broken") >= 2) finished();
      return done();
    },
    log: (m) => logs.push(m),
  });
  c.start();
  for (const k of ["flaky", "later", "broken"]) c.add(k);
  await all;
  await c.stop();
  assert.equal(seen.filter((k) => k === "flaky").length, 3, "two retries, then done");
  assert.equal(seen.filter((k) => k === "later").length, 2);
  assert.deepEqual(logs, ["widgets broken: boom"]);
});
