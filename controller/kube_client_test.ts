import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type Credentials,
  KubeApiError,
  KubeClient,
  readListItems,
  withoutManagedFields,
} from "./kube_client.ts";

/** A plain HTTP server that accepts only `Bearer ${good()}` and records what it was sent. */
function apiServer(good: () => string) {
  const seen: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const auth = req.headers.get("authorization") ?? "";
    seen.push(auth);
    return auth === `Bearer ${good()}`
      ? Response.json({ kind: "PodList", items: [] })
      : Response.json({ kind: "Status", reason: "Unauthorized", message: "Unauthorized" }, {
        status: 401,
      });
  });
  return { seen, server, url: `http://127.0.0.1:${server.addr.port}` };
}

Deno.test("request() tries a 401 once more with the credential source's next credentials", async () => {
  let generation = 1;
  const invalidated: Credentials[] = [];
  const api = apiServer(() => "t2");
  const client = new KubeClient({
    server: api.url,
    credentials: {
      get: () => Promise.resolve({ token: `t${generation}` }),
      invalidate: (used) => {
        invalidated.push(used);
        generation++;
      },
    },
  });
  try {
    await client.request("GET", "/api/v1/pods");
    assert.deepEqual(api.seen, ["Bearer t1", "Bearer t2"]);
    assert.deepEqual(invalidated, [{ token: "t1", certPem: undefined, keyPem: undefined }]);
    // Still refused after the new ones: the 401 is the answer, no loop.
    generation = 5;
    await assert.rejects(client.request("GET", "/api/v1/pods"), (err: Error) => {
      assert.ok(err instanceof KubeApiError);
      assert.equal(err.status, 401);
      return true;
    });
    assert.deepEqual(api.seen.slice(2), ["Bearer t5", "Bearer t6"]);
  } finally {
    client.close();
    await api.server.shutdown();
  }
});

Deno.test("request() re-reads a token file rewritten before its reload time after a 401", async () => {
  const dir = await Deno.makeTempDir();
  const tokenFile = join(dir, "token");
  await Deno.writeTextFile(tokenFile, "old\n");
  let good = "old";
  const api = apiServer(() => good);
  const client = new KubeClient({ server: api.url, tokenFile, tokenReloadMs: 3_600_000 });
  try {
    await client.request("GET", "/api/v1/pods");
    good = "new";
    await Deno.writeTextFile(tokenFile, "new\n");
    await client.request("GET", "/api/v1/pods");
    assert.deepEqual(api.seen, ["Bearer old", "Bearer old", "Bearer new"]);
  } finally {
    client.close();
    await api.server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("request() gives a fixed token's 401 back without trying again", async () => {
  const api = apiServer(() => "right");
  const client = new KubeClient({ server: api.url, token: "wrong" });
  try {
    await assert.rejects(client.request("GET", "/api/v1/pods"), /Unauthorized/);
    assert.deepEqual(api.seen, ["Bearer wrong"]);
  } finally {
    client.close();
    await api.server.shutdown();
  }
});

Deno.test("new KubeClient() refuses a client certificate without its key", () => {
  assert.throws(
    () => new KubeClient({ server: "https://a:6443", certPem: "x" }),
    /A client certificate needs its key/,
  );
});

Deno.test("new KubeClient() names the client certificate or key it cannot use", () => {
  assert.throws(
    () => new KubeClient({ server: "https://a:6443", certPem: "not a certificate", keyPem: "x" }),
    /^Error: Client certificate or key: /,
  );
});

Deno.test("withoutManagedFields() cuts the member wherever it sits, strings and escapes respected", () => {
  const cases: [string, string][] = [
    ['{"managedFields":[1,2]}', "{}"],
    ['{"a":1,"managedFields":[{"x":"]}\\\\"}],"b":"c"}', '{"a":1,"b":"c"}'],
    ['{"managedFields":[{"k":"\\"]"}],"b":2}', '{"b":2}'],
    ['{"x":"\\"managedFields\\":[1]"}', '{"x":"\\"managedFields\\":[1]"}'],
    [
      '[{"metadata":{"n":1,"managedFields":[{}]}},{"metadata":{"managedFields":[]}}]',
      '[{"metadata":{"n":1}},{"metadata":{}}]',
    ],
  ];
  for (const [text, want] of cases) {
    assert.equal(withoutManagedFields(text), want);
    JSON.parse(withoutManagedFields(text));
  }
});

Deno.test("readListItems() hands over each item whole, however the body is cut", async () => {
  const items = Array.from({ length: 20 }, (_, i) => ({
    metadata: { name: `p-${i}`, annotations: { a: '{"x":"}]\\""}' }, managedFields: [{ f: {} }] },
  }));
  const text = JSON.stringify({
    kind: "PodList",
    apiVersion: "v1",
    metadata: { resourceVersion: "9", continue: "c" },
    items,
  });
  for (const size of [1, 7, 64, text.length]) {
    const bytes = new TextEncoder().encode(text);
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < bytes.length; i += size) c.enqueue(bytes.slice(i, i + size));
        c.close();
      },
    });
    const got: unknown[] = [];
    const kinds = new Set<string | undefined>();
    const list = await readListItems(body, (item, l) => {
      got.push(item);
      kinds.add(l.kind);
    }, { dropManagedFields: true });
    assert.deepEqual(list, {
      kind: "PodList",
      apiVersion: "v1",
      metadata: { resourceVersion: "9", continue: "c" },
      items: [],
    });
    assert.deepEqual([...kinds], ["PodList"]);
    assert.deepEqual(
      got,
      items.map((i) => ({
        metadata: { name: i.metadata.name, annotations: i.metadata.annotations },
      })),
    );
  }
});
