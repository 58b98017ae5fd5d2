import assert from "node:assert/strict";
import { DelayQueue } from "./delay_queue.ts";

Deno.test("expire() hands back due keys in release order and keeps the rest", () => {
  const q = new DelayQueue();
  q.push(10, 100);
  q.push(11, 150);
  q.push(12, 200);
  const back: number[] = [];
  q.expire(99, (k) => back.push(k));
  assert.equal(back.length, 0, "nothing due yet");
  q.expire(150, (k) => back.push(k));
  assert.deepEqual(back, [10, 11]);
  assert.equal(q.size, 1);
  assert.equal(q.earliest, 200);
  assert.deepEqual(q.tally, [1, 0], "12 is even");
  q.expire(1_000, (k) => back.push(k));
  assert.deepEqual(back, [10, 11, 12]);
  assert.equal(q.earliest, undefined);
});

Deno.test("remove() takes a key out; until() finds its latest entry", () => {
  const q = new DelayQueue();
  q.push(7, 100);
  q.push(9, 120);
  q.push(7, 300);
  assert.equal(q.until(7), 300);
  assert.equal(q.remove(7), true);
  assert.equal(q.until(7), 300, "the later entry stays");
  assert.equal(q.remove(8), false);
  assert.deepEqual(q.tally, [0, 2]);
  const back: number[] = [];
  q.expire(1_000, (k) => back.push(k));
  assert.deepEqual(back, [9, 7]);
});

Deno.test("expire() keeps working across many entries (the array is compacted)", () => {
  const q = new DelayQueue();
  for (let i = 0; i < 5_000; i++) q.push(i, i);
  let n = 0;
  q.expire(2_999, () => n++);
  assert.equal(n, 3_000);
  assert.equal(q.earliest, 3_000);
  for (let i = 5_000; i < 6_000; i++) q.push(i, i);
  q.expire(5_999, () => n++);
  assert.equal(n, 6_000);
  assert.equal(q.size, 0);
});
