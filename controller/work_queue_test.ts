import assert from "node:assert/strict";
import { WorkQueue } from "./work_queue.ts";

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

Deno.test("add() queues a key once however often it is added", async () => {
  const seen: string[] = [];
  const q = new WorkQueue((key) => {
    seen.push(key);
  }, { workers: 1 });
  q.add("a");
  q.add("b");
  q.add("a");
  q.add("a");
  q.start();
  await q.idle();
  assert.deepEqual(seen, ["a", "b"]);
});

Deno.test("a key is never handled by two workers at once, and runs again if added meanwhile", async () => {
  let running = 0;
  let maxRunning = 0;
  let calls = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const q = new WorkQueue(async () => {
    calls++;
    running++;
    maxRunning = Math.max(maxRunning, running);
    if (calls === 1) await gate;
    running--;
  }, { workers: 4 });
  q.start();
  q.add("k");
  await tick();
  q.add("k");
  q.add("k");
  await tick();
  assert.equal(q.inProgress, 1);
  assert.equal(calls, 1, "the second add waits for the first run");
  release();
  await q.idle();
  assert.equal(maxRunning, 1);
  assert.equal(calls, 2, "the adds made while running collapse into one more run");
});

Deno.test("workers handle different keys in parallel up to the limit", async () => {
  let running = 0;
  let maxRunning = 0;
  const q = new WorkQueue(async () => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    await tick(5);
    running--;
  }, { workers: 3 });
  q.start();
  for (let i = 0; i < 10; i++) q.add(`k${i}`);
  await q.idle();
  assert.equal(maxRunning, 3);
});

Deno.test("a failing key is retried with growing backoff and forgotten on success", async () => {
  const times: number[] = [];
  const q = new WorkQueue(() => {
    times.push(Date.now());
    if (times.length < 4) return { retry: true };
  }, { workers: 1, backoffBaseMs: 20, backoffMaxMs: 1000 });
  q.start();
  q.add("k");
  while (times.length < 4) await tick(5);
  await q.idle();
  const gaps = times.slice(1).map((t, i) => t - times[i]);
  assert.ok(gaps[0] >= 18, `first retry after ~20 ms, got ${gaps[0]}`);
  assert.ok(gaps[1] >= 38, `second after ~40 ms, got ${gaps[1]}`);
  assert.ok(gaps[2] >= 78, `third after ~80 ms, got ${gaps[2]}`);
  assert.equal(q.failures("k"), 0);
});

Deno.test("a handler that throws is reported and retried", async () => {
  const errors: string[] = [];
  let calls = 0;
  const q = new WorkQueue(() => {
    if (++calls === 1) throw new Error("boom");
  }, {
    workers: 1,
    backoffBaseMs: 1,
    onError: (key, err) => errors.push(`${key}: ${(err as Error).message}`),
  });
  q.start();
  q.add("k");
  while (calls < 2) await tick(2);
  assert.deepEqual(errors, ["k: boom"]);
});

Deno.test("addAfter() keeps the earliest schedule and add() overrides it", async () => {
  const seen: string[] = [];
  const q = new WorkQueue((key) => {
    seen.push(key);
  }, { workers: 1 });
  q.start();
  q.addAfter("k", 10_000);
  q.addAfter("k", 20);
  assert.equal(q.scheduled, 1);
  await tick(60);
  assert.deepEqual(seen, ["k"]);
  q.addAfter("j", 10_000);
  q.add("j");
  await q.idle();
  assert.equal(q.scheduled, 0, "add() dropped the delayed add");
  assert.deepEqual(seen, ["k", "j"]);
  await q.stop();
});

Deno.test("requeueAfterMs schedules the key again", async () => {
  let calls = 0;
  const q = new WorkQueue(() => {
    calls++;
    return calls === 1 ? { requeueAfterMs: 10 } : {};
  });
  q.start();
  q.add("k");
  while (calls < 2) await tick(2);
  assert.equal(calls, 2);
  await q.stop();
});

Deno.test("stop() waits for keys in progress and hands out no more", async () => {
  let finished = 0;
  const q = new WorkQueue(async () => {
    await tick(20);
    finished++;
  }, { workers: 1 });
  q.start();
  q.add("a");
  q.add("b");
  await tick();
  await q.stop();
  assert.equal(finished, 1);
  await tick(40);
  assert.equal(finished, 1, "b stays queued after stop");
  assert.equal(q.depth, 1);
});

Deno.test("start() lets the event loop serve I/O between slices of keys that never wait", async () => {
  const handled = new Set<string>();
  const queue = new WorkQueue((key) => {
    // A reconcile that finds its Pod already right: CPU only, no request.
    const until = performance.now() + 0.2;
    while (performance.now() < until) { /* busy */ }
    handled.add(key);
  }, { sliceMs: 5 });
  for (let i = 0; i < 2_000; i++) queue.add(`ns/gs-${i}`);
  // An admission arriving meanwhile: a request the server must read.
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    return new Response(String(handled.size));
  });
  try {
    const answered = fetch(`http://127.0.0.1:${server.addr.port}/`).then((r) => r.text());
    queue.start();
    const doneWhenAnswered = Number(await answered);
    await queue.idle();
    assert.equal(handled.size, 2_000, "every key handled once");
    assert.ok(
      doneWhenAnswered < 1_000,
      `the request was answered after ${doneWhenAnswered} of 2,000 keys (400 ms of work)`,
    );
  } finally {
    await server.shutdown();
  }
});
