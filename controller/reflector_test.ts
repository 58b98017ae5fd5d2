import assert from "node:assert/strict";
import type { KubeClient, RequestOptions } from "./kube_client.ts";
import { Reflector } from "./reflector.ts";

/** Answers like the API server until the signal aborts; records each call. */
function pagedClient(onFirstPage: () => void) {
  const calls: { path: string; aborted: boolean }[] = [];
  const untilAborted = (signal?: AbortSignal) =>
    new Promise<never>((_, reject) => {
      if (signal?.aborted) reject(signal.reason);
      signal?.addEventListener("abort", () => reject(signal.reason));
    });
  const client = {
    request(_method: string, path: string, options: RequestOptions = {}) {
      calls.push({ path, aborted: options.signal?.aborted ?? false });
      if (calls.length === 1) {
        onFirstPage();
        return Promise.resolve({
          kind: "PodList",
          apiVersion: "v1",
          metadata: { resourceVersion: "5", continue: "next" },
          items: [],
        });
      }
      return untilAborted(options.signal);
    },
    async fetch(method: string, path: string, options: RequestOptions = {}) {
      // List pages are read through fetch() too (streamed).
      if (!options.query?.watch) {
        return new Response(JSON.stringify(await this.request(method, path, options)));
      }
      calls.push({ path: `${path} (watch)`, aborted: options.signal?.aborted ?? false });
      return untilAborted(options.signal);
    },
    resetConnections() {},
  };
  return { client: client as unknown as KubeClient, calls };
}

Deno.test("stop() between two list pages ends the loop at once", async () => {
  let stopping: Promise<void> | undefined;
  const { client, calls } = pagedClient(() => stopping = reflector.stop());
  const reflector = new Reflector(client, { path: "/api/v1/pods" }, {});
  reflector.start();
  await new Promise((r) => setTimeout(r, 0));
  assert.ok(stopping, "the first page was asked for");
  await stopping;
  // The second page may be sent, but already aborted: nothing waits on it.
  assert.ok(calls.slice(1).every((c) => c.aborted), JSON.stringify(calls));
});

Deno.test("stop() ends a watch whose body ignores the abort", async () => {
  const client = {
    request: () =>
      Promise.resolve({
        kind: "PodList",
        apiVersion: "v1",
        metadata: { resourceVersion: "7" },
        items: [],
      }),
    // A body that never sends and never errors: what a pending read on an
    // HTTP/2 watch looked like after its fetch was aborted. Lists answer at once.
    fetch: (_m: string, _p: string, options: RequestOptions = {}) =>
      Promise.resolve(
        options.query?.watch
          ? new Response(new ReadableStream({ start() {} }))
          : new Response('{"kind":"PodList","metadata":{"resourceVersion":"7"},"items":[]}'),
      ),
    resetConnections() {},
  } as unknown as KubeClient;
  const reflector = new Reflector(client, { path: "/api/v1/pods" }, {});
  reflector.start();
  await reflector.synced;
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(reflector.stats.watchesStarted, 1);
  await reflector.stop();
  assert.equal(reflector.stats.errors, 0);
});

Deno.test("an inactive watch is restarted even when its body ignores the abort", async () => {
  let watches = 0;
  const client = {
    request: () =>
      Promise.resolve({
        kind: "PodList",
        apiVersion: "v1",
        metadata: { resourceVersion: "7" },
        items: [],
      }),
    fetch: (_m: string, _p: string, options: RequestOptions = {}) => {
      if (!options.query?.watch) {
        return Promise.resolve(
          new Response('{"kind":"PodList","metadata":{"resourceVersion":"7"},"items":[]}'),
        );
      }
      watches++;
      return Promise.resolve(new Response(new ReadableStream({ start() {} })));
    },
    resetConnections() {},
  } as unknown as KubeClient;
  const reflector = new Reflector(client, { path: "/api/v1/pods", inactivityTimeoutMs: 20 }, {});
  reflector.start();
  await new Promise((r) => setTimeout(r, 150));
  await reflector.stop();
  assert.ok(watches >= 3, `${watches} watches started`);
  assert.ok(reflector.stats.inactivityTimeouts >= 2, JSON.stringify(reflector.stats));
});

Deno.test("Reflector asks for the next list page as soon as a page names it, and lists every item", async () => {
  const pod = (name: string) => ({ metadata: { namespace: "ns", name, managedFields: [{}] } });
  const page = (cont: string | undefined, names: string[]) =>
    JSON.stringify({
      kind: "PodList",
      apiVersion: "v1",
      metadata: { resourceVersion: "9", continue: cont },
      items: names.map(pod),
    });
  const asked: (string | undefined)[] = [];
  let secondAsked!: () => void;
  const second = new Promise<void>((r) => secondAsked = r);
  const enc = new TextEncoder();
  const client = {
    fetch(_m: string, _p: string, options: RequestOptions = {}) {
      if (options.query?.watch) {
        return new Promise((_, reject) => {
          const signal = options.signal!;
          if (signal.aborted) reject(signal.reason);
          signal.addEventListener("abort", () => reject(signal.reason));
        });
      }
      const cont = options.query?.continue as string | undefined;
      asked.push(cont);
      if (cont === "2") {
        secondAsked();
        return Promise.resolve(new Response(page(undefined, ["c"])));
      }
      // The first page ends only once the second was asked for: read one at a time, it never would.
      const text = page("2", ["a", "b"]);
      const cut = text.indexOf('"name":"b"');
      return Promise.resolve(
        new Response(
          new ReadableStream({
            start(c) {
              c.enqueue(enc.encode(text.slice(0, cut)));
              second.then(() => {
                c.enqueue(enc.encode(text.slice(cut)));
                c.close();
              });
            },
          }),
        ),
      );
    },
    resetConnections() {},
  } as unknown as KubeClient;
  const reflector = new Reflector<{ metadata: { namespace: string; name: string } }>(client, {
    path: "/api/v1/pods",
  }, {});
  reflector.start();
  await reflector.synced;
  assert.deepEqual(asked, [undefined, "2"]);
  assert.deepEqual(["ns/a", "ns/b", "ns/c"].map((k) => reflector.get(k)?.metadata.name), [
    "a",
    "b",
    "c",
  ]);
  await reflector.stop();
});
