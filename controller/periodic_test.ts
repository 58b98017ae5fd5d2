import assert from "node:assert/strict";
import { Periodic } from "./periodic.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("Periodic never runs its task twice at once and skips while `when` says no", async () => {
  let running = 0;
  let most = 0;
  let allowed = false;
  const p = new Periodic("t", 5, async () => {
    most = Math.max(most, ++running);
    await sleep(30);
    running--;
  }, { when: () => allowed });
  await sleep(40);
  assert.equal(p.runs, 0, "not while `when` says no");
  allowed = true;
  await sleep(100);
  p.stop();
  await sleep(40);
  assert.ok(p.runs >= 2 && p.runs <= 4, `${p.runs} runs of 30 ms in 100 ms, ticks every 5 ms`);
  assert.equal(most, 1);
});

Deno.test("Periodic reports a failed run and tries again at the next tick", async () => {
  const logs: string[] = [];
  let calls = 0;
  const p = new Periodic("CLB sweep", 5, () => {
    if (++calls === 1) throw new Error("cloud down");
  }, { log: (m) => logs.push(m) });
  await sleep(40);
  p.stop();
  assert.deepEqual(logs, ["CLB sweep: cloud down"]);
  assert.ok(calls >= 2);
});
