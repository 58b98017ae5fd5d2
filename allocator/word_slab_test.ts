import assert from "node:assert/strict";
import { WordSlab } from "./word_slab.ts";

Deno.test("take() hands out disjoint regions, a new array every regionsPerSlab", () => {
  const slab = new WordSlab(10, { regionsPerSlab: 2 });
  const a = slab.take();
  const b = slab.take();
  const c = slab.take();
  assert.equal(a.words, b.words);
  assert.notEqual(b.words, c.words);
  assert.deepEqual([a.offset, b.offset, c.offset], [0, 10, 0]);
  assert.equal(a.words.length, 20);
});

Deno.test("give() zeroes the region and take() reuses it first", () => {
  const slab = new WordSlab(4);
  const a = slab.take();
  const b = slab.take();
  a.words.fill(7, a.offset, a.offset + 4);
  b.words.fill(9, b.offset, b.offset + 4);
  slab.give(a);
  const again = slab.take();
  assert.equal(again.offset, a.offset);
  assert.deepEqual([...again.words.subarray(again.offset, again.offset + 4)], [0, 0, 0, 0]);
  assert.deepEqual([...b.words.subarray(b.offset, b.offset + 4)], [9, 9, 9, 9], "neighbour kept");
});

Deno.test("new WordSlab() refuses a stride that is not a positive whole number", () => {
  assert.throws(() => new WordSlab(0), /above 0/);
  assert.throws(() => new WordSlab(2.5), /above 0/);
});
