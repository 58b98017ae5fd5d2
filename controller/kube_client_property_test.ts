import assert from "node:assert/strict";
import fc from "fast-check";
import { readListItems, withoutManagedFields } from "./kube_client.ts";

/** Pieces of text that a JSON scanner could take for structure, or for the key it cuts. */
const tricky = fc.constantFrom(
  '},{"metadata":',
  '"managedFields":',
  '\\"managedFields\\":',
  "managedFields",
  "{",
  "}",
  "[",
  "]",
  '"',
  "\\",
  '\\"',
  ",",
  ":",
  " ",
  "é",
  "😀",
);
const text = fc.array(fc.oneof(tricky, fc.string({ maxLength: 3 })), { maxLength: 4 })
  .map((parts) => parts.join(""));
const key = fc.oneof(
  fc.constantFrom("metadata", "managedFields", "name", 'x"managedFields', "a\\", "spec"),
  text,
);

/** JSON values full of the above, with objects whose first key is `metadata` nested anywhere. */
const { value, item } = fc.letrec<{ value: unknown; item: Record<string, unknown> }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    text,
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(key, tie("value"), { maxKeys: 4 }),
    tie("item"),
  ),
  item: fc.tuple(tie("value"), fc.dictionary(key, tie("value"), { maxKeys: 3 }))
    .map(([metadata, rest]) => ({ metadata, ...rest })),
}));

/** What cutting every `managedFields` member must leave: the value without them, at any depth. */
function strip(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(strip);
  if (v === null || typeof v !== "object") return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (k !== "managedFields") out[k] = strip(x);
  return out;
}

/** A body stream of `bytes`, cut at `cuts` (positions, taken modulo its length). */
function body(bytes: Uint8Array, cuts: number[]): ReadableStream<Uint8Array> {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  return new ReadableStream({
    start(c) {
      let from = 0;
      for (const to of [...at, bytes.length]) {
        if (to > from) c.enqueue(bytes.slice(from, to));
        from = to;
      }
      c.close();
    },
  });
}

async function readAll(bytes: Uint8Array, cuts: number[], dropManagedFields: boolean) {
  const items: unknown[] = [];
  const envelope = await readListItems(body(bytes, cuts), (i) => items.push(i), {
    dropManagedFields,
  });
  return { items, envelope };
}

Deno.test("withoutManagedFields() leaves what JSON.parse gives less every managedFields member", () => {
  fc.assert(
    fc.property(value, fc.boolean(), (v, pretty) => {
      const json = pretty ? JSON.stringify(v, null, 1) : JSON.stringify(v);
      assert.deepEqual(JSON.parse(withoutManagedFields(json)), strip(v));
    }),
    { numRuns: 2_000 },
  );
});

Deno.test("readListItems() hands over the items JSON.parse gives, however the body is cut", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(item, { maxLength: 6 }),
      fc.array(fc.nat(), { maxLength: 8 }),
      fc.boolean(),
      fc.boolean(),
      async (items, cuts, pretty, drop) => {
        const list = { kind: "PodList", metadata: { resourceVersion: "7", continue: "x" }, items };
        const json = pretty ? JSON.stringify(list, null, 1) : JSON.stringify(list);
        const got = await readAll(new TextEncoder().encode(json), cuts, drop);
        const want = JSON.parse(json);
        assert.deepEqual(got.items, drop ? want.items.map(strip) : want.items);
        assert.deepEqual(got.envelope, { ...want, items: [] });
      },
    ),
    { numRuns: 1_000 },
  );
});

Deno.test("readListItems() reads a tricky list the same when cut at any byte", async () => {
  const items = [
    { metadata: { name: '},{"metadata":{"x":1}}', managedFields: [{ f: '"]}' }] }, spec: {} },
    { metadata: { a: [{ metadata: 1 }, { metadata: 2, managedFields: [] }] }, s: "\\" },
    { metadata: { 'k\\"managedFields': "é😀", managedFields: [[{ metadata: "}" }]] } },
    { metadata: {}, other: '\\"managedFields\\":[1]' },
  ];
  const json = JSON.stringify({ kind: "PodList", metadata: { resourceVersion: "1" }, items });
  const bytes = new TextEncoder().encode(json);
  const whole = JSON.parse(json).items;
  for (let at = 0; at <= bytes.length; at++) {
    const got = await readAll(bytes, [at], true);
    assert.deepEqual(got.items, whole.map(strip), `cut at ${at}`);
  }
  const bytewise = await readAll(bytes, [...bytes.keys()], false);
  assert.deepEqual(bytewise.items, whole);
});
