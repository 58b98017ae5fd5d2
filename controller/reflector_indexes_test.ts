// The Reflector's store keeps its indexes through watch events and a
// relist (410 Gone), against a scripted API server.
import assert from "node:assert/strict";
import type { KubeClient } from "./kube_client.ts";
import { type KubeObject, Reflector } from "./reflector.ts";
import { byOwner, NAMESPACE_INDEX, OWNER_INDEX } from "./indexer.ts";

/** Pods by their `app` label. */
const APP = "app";
const byApp = (o: Obj) => o.metadata.labels?.app ? [o.metadata.labels.app] : [];

type Obj = KubeObject & {
  metadata: {
    namespace: string;
    name: string;
    labels?: Record<string, string>;
    ownerReferences?: { uid: string }[];
  };
};

let rv = 10;
const obj = (ns: string, name: string, labels: Record<string, string>, owner?: string): Obj => ({
  metadata: {
    namespace: ns,
    name,
    labels,
    resourceVersion: String(++rv),
    ...(owner ? { ownerReferences: [{ uid: owner }] } : {}),
  },
});

/** Lists answer from `lists` in turn; each watch streams what `send` pushes until it closes. */
function scriptedClient(lists: Obj[][]) {
  let send!: (event: unknown) => void;
  let watching!: () => void;
  let watched = new Promise<void>((r) => watching = r);
  const client = {
    request: () => {
      const items = lists.shift() ?? [];
      return Promise.resolve({
        kind: "PodList",
        metadata: { resourceVersion: String(++rv) },
        items,
      });
    },
    fetch: (
      _m: string,
      _p: string,
      options: { signal?: AbortSignal; query?: Record<string, unknown> },
    ) => {
      // As fetch() does: a request aborted before it starts is not sent.
      if (options.signal?.aborted) return Promise.reject(options.signal.reason);
      // List pages are read through fetch() too (streamed).
      if (!options.query?.watch) {
        return client.request().then((list) => new Response(JSON.stringify(list)));
      }
      const body = new ReadableStream<string>({
        start(controller) {
          send = (event) => controller.enqueue(`${JSON.stringify(event)}\n`);
          options.signal?.addEventListener("abort", () => controller.error(options.signal!.reason));
          watching();
        },
      });
      return Promise.resolve(new Response(body.pipeThrough(new TextEncoderStream())));
    },
    resetConnections() {},
  };
  return {
    client: client as unknown as KubeClient,
    /** Sends an event on the current watch. */
    send: (event: unknown) => send(event),
    /** Resolves once a watch (the next one after a relist) is open. */
    nextWatch: async () => {
      await watched;
      watched = new Promise<void>((r) => watching = r);
    },
  };
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(check(), "condition not reached");
}

const names = (objs: Obj[]) => objs.map((o) => o.metadata.name).sort();

Deno.test("byIndex() follows watch events: a label change, an owner change, a delete", async () => {
  const api = scriptedClient([[
    obj("a", "p1", { app: "gs" }, "u1"),
    obj("a", "p2", { app: "gs" }),
  ]]);
  const reflector = new Reflector<Obj>(api.client, {
    path: "/api/v1/pods",
    indexers: { [OWNER_INDEX]: byOwner, [APP]: byApp },
    log: () => {},
  });
  reflector.start();
  await reflector.synced;
  await api.nextWatch();
  assert.deepEqual(names(reflector.byIndex(NAMESPACE_INDEX, "a")), ["p1", "p2"]);
  assert.deepEqual(names(reflector.byIndex(APP, "gs")), ["p1", "p2"]);
  api.send({ type: "MODIFIED", object: obj("a", "p1", { app: "web" }, "u2") });
  api.send({ type: "DELETED", object: obj("a", "p2", { app: "gs" }) });
  api.send({ type: "ADDED", object: obj("b", "p3", { app: "gs" }, "u1") });
  await until(() => reflector.store.has("b/p3"));
  assert.deepEqual(names(reflector.byIndex(APP, "gs")), ["p3"]);
  assert.deepEqual(names(reflector.byIndex(APP, "web")), ["p1"]);
  assert.deepEqual(names(reflector.byIndex(OWNER_INDEX, "u1")), ["p3"]);
  assert.deepEqual(names(reflector.byIndex(OWNER_INDEX, "u2")), ["p1"]);
  assert.deepEqual(names(reflector.byIndex(NAMESPACE_INDEX, "a")), ["p1"]);
  await reflector.stop();
});

Deno.test("byIndex() after a relist on 410 Gone drops what the watch missed", async () => {
  const api = scriptedClient([
    [obj("a", "p1", { app: "gs" }, "u1"), obj("a", "p2", { app: "gs" }, "u1")],
    // While the watch was gone: p1 was deleted, p2 relabelled and adopted by u2.
    [obj("a", "p2", { app: "web" }, "u2")],
  ]);
  const deleted: string[] = [];
  const reflector = new Reflector<Obj>(api.client, {
    path: "/api/v1/pods",
    indexers: { [OWNER_INDEX]: byOwner, [APP]: byApp },
    log: () => {},
  }, { onDelete: (o) => deleted.push(o.metadata.name) });
  reflector.start();
  await reflector.synced;
  await api.nextWatch();
  api.send({ type: "ERROR", object: { code: 410, message: "too old resource version" } });
  await api.nextWatch();
  assert.deepEqual(deleted, ["p1"]);
  assert.deepEqual(reflector.byIndex(OWNER_INDEX, "u1"), []);
  assert.deepEqual(names(reflector.byIndex(OWNER_INDEX, "u2")), ["p2"]);
  assert.deepEqual(reflector.byIndex(APP, "gs"), []);
  assert.deepEqual(names(reflector.byIndex(APP, "web")), ["p2"]);
  assert.equal(reflector.stats.relistsOnGone, 1);
  await reflector.stop();
});

Deno.test("addIndexers() and reindex() on a running reflector file what is cached", async () => {
  const api = scriptedClient([[obj("a", "p1", { app: "gs" })]]);
  const reflector = new Reflector<Obj>(api.client, { path: "/api/v1/pods", log: () => {} });
  reflector.start();
  await reflector.synced;
  reflector.addIndexers({ [APP]: byApp });
  reflector.addIndexers({ [APP]: byApp }); // a second user asks for the same
  assert.deepEqual(names(reflector.byIndex(APP, "gs")), ["p1"]);
  // An index function reading outside the object: files again on reindex().
  let wanted = "none";
  reflector.addIndexers({ wanted: (o) => o.metadata.labels?.app === wanted ? ["yes"] : [] });
  assert.deepEqual(reflector.byIndex("wanted", "yes"), []);
  wanted = "gs";
  reflector.reindex("wanted");
  assert.deepEqual(names(reflector.byIndex("wanted", "yes")), ["p1"]);
  await reflector.stop();
});

Deno.test("new Reflector() refuses an index named like the one it always keeps", () => {
  assert.throws(
    () =>
      new Reflector<Obj>({} as KubeClient, {
        path: "/api/v1/pods",
        indexers: { [NAMESPACE_INDEX]: () => [] },
      }),
    /always kept/,
  );
});
