import assert from "node:assert/strict";
import { byNamespace, byOwner, Indexer, NAMESPACE_INDEX, OWNER_INDEX } from "./indexer.ts";

interface Obj {
  metadata: {
    namespace?: string;
    name: string;
    ownerReferences?: { uid?: string }[];
    labels?: Record<string, string>;
  };
}

const obj = (namespace: string, name: string, owners: string[] = []): Obj => ({
  metadata: { namespace, name, ownerReferences: owners.map((uid) => ({ uid })) },
});

function store() {
  return new Indexer<Obj>({ [NAMESPACE_INDEX]: byNamespace, [OWNER_INDEX]: byOwner });
}

const names = (objs: Obj[]) => objs.map((o) => o.metadata.name).sort();

Deno.test("byIndex() finds objects by namespace and by each owner", () => {
  const s = store();
  s.set("a/x", obj("a", "x", ["u1"]));
  s.set("a/y", obj("a", "y", ["u1", "u2"]));
  s.set("b/z", obj("b", "z"));
  assert.deepEqual(names(s.byIndex(NAMESPACE_INDEX, "a")), ["x", "y"]);
  assert.deepEqual(names(s.byIndex(NAMESPACE_INDEX, "b")), ["z"]);
  assert.deepEqual(names(s.byIndex(OWNER_INDEX, "u1")), ["x", "y"]);
  assert.deepEqual(names(s.byIndex(OWNER_INDEX, "u2")), ["y"]);
  assert.deepEqual(s.byIndex(NAMESPACE_INDEX, "c"), []);
  assert.deepEqual(s.indexKeys(OWNER_INDEX, "u2"), ["a/y"]);
  assert.equal(s.indexCount(OWNER_INDEX, "u1"), 2);
});

Deno.test("byIndex() drops an object whose namespace index value changed", () => {
  const s = store();
  s.set("k", obj("a", "x"));
  s.set("k", obj("b", "x"));
  assert.deepEqual(s.byIndex(NAMESPACE_INDEX, "a"), []);
  assert.deepEqual(names(s.byIndex(NAMESPACE_INDEX, "b")), ["x"]);
  assert.equal(s.indexCount(NAMESPACE_INDEX, "a"), 0);
});

Deno.test("byIndex() follows an owner added and one removed by an update", () => {
  const s = store();
  s.set("a/x", obj("a", "x", ["u1"]));
  s.set("a/x", obj("a", "x", ["u2", "u3"]));
  assert.deepEqual(s.byIndex(OWNER_INDEX, "u1"), []);
  assert.deepEqual(names(s.byIndex(OWNER_INDEX, "u2")), ["x"]);
  assert.deepEqual(names(s.byIndex(OWNER_INDEX, "u3")), ["x"]);
  s.set("a/x", obj("a", "x", []));
  assert.deepEqual(s.byIndex(OWNER_INDEX, "u2"), []);
});

Deno.test("byIndex() returns the newest object of a key whose values did not change", () => {
  const s = store();
  s.set("a/x", obj("a", "x", ["u1"]));
  const newer = obj("a", "x", ["u1"]);
  s.set("a/x", newer);
  assert.equal(s.byIndex(OWNER_INDEX, "u1")[0], newer);
});

Deno.test("byIndex() no longer finds a deleted object", () => {
  const s = store();
  s.set("a/x", obj("a", "x", ["u1"]));
  s.set("a/y", obj("a", "y", ["u1"]));
  assert.equal(s.delete("a/x")?.metadata.name, "x");
  assert.equal(s.delete("a/x"), undefined);
  assert.deepEqual(names(s.byIndex(OWNER_INDEX, "u1")), ["y"]);
  assert.deepEqual(names(s.byIndex(NAMESPACE_INDEX, "a")), ["y"]);
  assert.equal(s.has("a/x"), false);
});

Deno.test("byIndex() after replace() knows only the new list (stale keys and values gone)", () => {
  const s = store();
  s.set("a/x", obj("a", "x", ["u1"]));
  s.set("a/y", obj("a", "y", ["u1"]));
  s.replace([["a/y", obj("b", "y", ["u2"])], ["c/z", obj("c", "z")]]);
  assert.deepEqual([...s.keys()].sort(), ["a/y", "c/z"]);
  assert.deepEqual(s.byIndex(OWNER_INDEX, "u1"), []);
  assert.deepEqual(s.byIndex(NAMESPACE_INDEX, "a"), []);
  assert.deepEqual(names(s.byIndex(NAMESPACE_INDEX, "b")), ["y"]);
  assert.deepEqual(names(s.byIndex(OWNER_INDEX, "u2")), ["y"]);
  assert.deepEqual(names(s.byIndex(NAMESPACE_INDEX, "c")), ["z"]);
});

Deno.test("byIndex() is not misled by an object changed in place after it was stored", () => {
  const s = store();
  const o = obj("a", "x");
  s.set("a/x", o);
  o.metadata.namespace = "b"; // a caller's mistake: the store filed it under "a"
  s.set("a/x", obj("c", "x"));
  assert.deepEqual(s.byIndex(NAMESPACE_INDEX, "a"), []);
  assert.deepEqual(names(s.byIndex(NAMESPACE_INDEX, "c")), ["x"]);
});

Deno.test("byIndex() files an object once under a value its function gives twice", () => {
  const s = store();
  s.set("a/x", obj("a", "x", ["u1", "u1"]));
  assert.equal(s.indexCount(OWNER_INDEX, "u1"), 1);
  s.delete("a/x");
  assert.equal(s.indexCount(OWNER_INDEX, "u1"), 0);
});

Deno.test("byIndex() throws for an index the store does not keep", () => {
  assert.throws(() => store().byIndex("nodes", "n1"), /No index "nodes"/);
});

Deno.test("addIndexers() indexes the objects already stored, and later ones", () => {
  const s = store();
  const byApp = (o: Obj) => o.metadata.labels?.app ? [o.metadata.labels.app] : [];
  s.set("a/x", { metadata: { namespace: "a", name: "x", labels: { app: "gs" } } });
  s.addIndexers({ app: byApp });
  s.set("a/y", { metadata: { namespace: "a", name: "y", labels: { app: "gs" } } });
  assert.deepEqual(names(s.byIndex("app", "gs")), ["x", "y"]);
  s.addIndexers({ app: byApp }); // the same function again: no change
  assert.deepEqual(names(s.byIndex("app", "gs")), ["x", "y"]);
  assert.throws(() => s.addIndexers({ app: () => [] }), /already kept/);
});

Deno.test("Indexer reads as a map: size, get, keys, entries, iteration, forEach", () => {
  const s = store();
  s.set("a/x", obj("a", "x"));
  s.set("b/y", obj("b", "y"));
  assert.equal(s.size, 2);
  assert.equal(s.get("b/y")?.metadata.name, "y");
  assert.deepEqual([...s.keys()], ["a/x", "b/y"]);
  assert.deepEqual([...s].map(([k]) => k), ["a/x", "b/y"]);
  assert.deepEqual([...s.entries()].map(([k]) => k), ["a/x", "b/y"]);
  assert.deepEqual(names([...s.values()]), ["x", "y"]);
  const seen: string[] = [];
  s.forEach((_o, k) => seen.push(k));
  assert.deepEqual(seen, ["a/x", "b/y"]);
  assert.deepEqual(new Map(s), new Map([["a/x", s.get("a/x")], ["b/y", s.get("b/y")]]));
});

Deno.test("indexValues() lists the values some object is under, and no emptied one", () => {
  const s = store();
  s.set("a/x", obj("a", "x", ["u1"]));
  s.set("b/y", obj("b", "y", ["u1", "u2"]));
  assert.deepEqual(s.indexValues(OWNER_INDEX).sort(), ["u1", "u2"]);
  s.delete("b/y");
  assert.deepEqual(s.indexValues(OWNER_INDEX), ["u1"]);
  assert.deepEqual(s.indexValues(NAMESPACE_INDEX), ["a"]);
});

Deno.test("reindex() files every object again under what its function gives now", () => {
  let wanted = new Set(["u1"]);
  const s = new Indexer<Obj>({
    wanted: (o) =>
      (o.metadata.ownerReferences ?? []).flatMap((r) => wanted.has(r.uid!) ? [r.uid!] : []),
  });
  s.set("a/x", obj("a", "x", ["u1", "u2"]));
  s.set("a/y", obj("a", "y", ["u2"]));
  assert.deepEqual(s.indexValues("wanted"), ["u1"]);
  wanted = new Set(["u2"]);
  s.reindex("wanted");
  assert.deepEqual(s.byIndex("wanted", "u1"), []);
  assert.deepEqual(names(s.byIndex("wanted", "u2")), ["x", "y"]);
});
