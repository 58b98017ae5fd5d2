import assert from "node:assert/strict";
import { ChurnMap } from "./churn_map.ts";

Deno.test("ChurnMap.delete() hides the key from get, has, size and iteration", () => {
  const m = new ChurnMap<string, number>();
  m.set("a", 1).set("b", 2);
  assert.equal(m.delete("a"), true);
  assert.equal(m.delete("a"), false);
  assert.equal(m.get("a"), undefined);
  assert.equal(m.has("a"), false);
  assert.equal(m.size, 1);
  assert.deepEqual([...m], [["b", 2]]);
  assert.deepEqual([...m.keys()], ["b"]);
  assert.deepEqual([...m.values()], [2]);
  m.set("a", 3);
  assert.equal(m.get("a"), 3);
  assert.equal(m.size, 2);
});

Deno.test("ChurnMap keeps every live entry through compactions", () => {
  const m = new ChurnMap<number, number>();
  const ref = new Map<number, number>();
  for (let i = 0; i < 20_000; i++) {
    const k = (i * 7919) % 5_003;
    if (i % 3 === 0) {
      assert.equal(m.delete(k), ref.delete(k));
    } else {
      m.set(k, i);
      ref.set(k, i);
    }
  }
  assert.equal(m.size, ref.size);
  for (const [k, v] of ref) assert.equal(m.get(k), v);
  assert.equal([...m.keys()].length, ref.size);
});
