import assert from "node:assert/strict";
import { Interner } from "./interner.ts";

Deno.test("Interner.get() hands back the first value given for a key", () => {
  const values = new Interner<string>();
  const first = ["node", "1"].join("-");
  assert.equal(values.get(first), first);
  assert.equal(values.get("node-1"), first);
  const ports = new Interner<number[]>();
  const a = ports.get("[1,2]", [1, 2]);
  assert.equal(ports.get("[1,2]", [1, 2]), a);
});

Deno.test("Interner.get() forgets every value once it holds maxSize", () => {
  const values = new Interner<string>({ maxSize: 2 });
  values.get("a");
  values.get("b");
  assert.equal(values.size, 2);
  values.get("c");
  assert.equal(values.size, 1);
});
