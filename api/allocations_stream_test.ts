import assert from "node:assert/strict";
import { createAllocationsStreamRoute } from "./allocations_stream.ts";
import { AllocationsFeed, type AllocationsFeedOptions, poolId, rowId } from "./allocations_feed.ts";
import type { AllocationsView, AllocationView, PoolView } from "../providers/view.ts";
import { allocationRow as row } from "../tests/fakes/allocation_row.ts";

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pool(key: string, used = 1): PoolView {
  return {
    type: "Kubernetes-HostPort",
    kind: "node",
    key,
    range: "8000-9000",
    used,
    free: 1001 - used,
    delayed: 0,
  };
}

/** A view the test changes, with the version a manager would move. */
class World {
  view: AllocationsView = {
    pools: [pool("n1"), pool("n2")],
    allocations: [row("games", "gs-0"), row("games", "gs-1", { node: "n2" }), row("other", "x")],
  };
  version = 0;
  builds = 0;
  change(f: (v: AllocationsView) => void): void {
    f(this.view);
    this.version++;
  }
  feed(options: Partial<AllocationsFeedOptions> = {}): AllocationsFeed {
    return new AllocationsFeed({
      view: () => {
        this.builds++;
        return structuredClone(this.view);
      },
      version: () => this.version,
      intervalMs: 20,
      ...options,
    });
  }
}

interface Sse {
  event?: string;
  // deno-lint-ignore no-explicit-any
  data?: any;
  comment?: string;
  retry?: number;
}

/** Reads Server-Sent Events, one at a time. */
class SseReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new TextDecoder();
  #buffer = "";
  constructor(body: ReadableStream<Uint8Array>) {
    this.#reader = body.getReader();
  }
  async next(): Promise<Sse | undefined> {
    while (!this.#buffer.includes("\n\n")) {
      const { done, value } = await this.#reader.read();
      if (done) return undefined;
      this.#buffer += this.#decoder.decode(value, { stream: true });
    }
    const end = this.#buffer.indexOf("\n\n");
    const block = this.#buffer.slice(0, end);
    this.#buffer = this.#buffer.slice(end + 2);
    const out: Sse = {};
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) out.comment = line.slice(1).trim();
      else if (line.startsWith("event: ")) out.event = line.slice(7);
      else if (line.startsWith("data: ")) out.data = JSON.parse(line.slice(6));
      else if (line.startsWith("retry: ")) out.retry = Number(line.slice(7));
    }
    return out;
  }
  /** The next event that is not a comment or a retry hint. */
  async nextEvent(): Promise<Sse | undefined> {
    for (;;) {
      const e = await this.next();
      if (!e || e.event) return e;
    }
  }
  cancel(): Promise<void> {
    return this.#reader.cancel();
  }
}

/** Opens the stream as a client would; `abort` goes away as Deno.serve does when a client does (it cancels the body). */
async function open(feed: AllocationsFeed, query = "") {
  const res = await createAllocationsStreamRoute(feed).request(`/allocations/stream${query}`);
  assert.equal(res.status, 200);
  const sse = new SseReader(res.body!);
  return { res, sse, abort: () => sse.cancel() };
}

Deno.test("createAllocationsStreamRoute() sends the retry hint and a snapshot first", async () => {
  const world = new World();
  const feed = world.feed();
  const { res, sse, abort } = await open(feed);
  assert.equal(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
  assert.equal((await sse.next())?.retry, 3000);
  const snapshot = await sse.next();
  assert.equal(snapshot?.event, "snapshot");
  assert.deepEqual(
    snapshot?.data.allocations.map((r: { id: string }) => r.id),
    ["games/gs-0|games/gs-0", "games/gs-1|games/gs-1", "other/x|other/x"],
  );
  assert.deepEqual(snapshot?.data.pools.map((p: { id: string }) => p.id), [
    poolId(pool("n1")),
    poolId(pool("n2")),
  ]);
  assert.equal(typeof snapshot?.data.generatedAt, "string");
  await abort();
});

Deno.test("createAllocationsStreamRoute() answers 400 for an unknown parameter", async () => {
  const feed = new World().feed();
  const res = await createAllocationsStreamRoute(feed).request("/allocations/stream?nod=n1");
  assert.equal(res.status, 400);
  assert.match(await res.text(), /Unknown query parameter "nod"/);
  assert.equal(feed.stats.subscribers, 0);
});

Deno.test("createAllocationsStreamRoute() filters the snapshot and the changes", async () => {
  const world = new World();
  const feed = world.feed();
  const { sse, abort } = await open(feed, "?node=n2");
  const snapshot = await sse.nextEvent();
  assert.deepEqual(snapshot?.data.allocations.map((r: AllocationView) => r.pod), ["gs-1"]);
  assert.deepEqual(snapshot?.data.pools.map((p: PoolView) => p.key), ["n2"]);
  // A change on n1 only is not sent; the next event is the change on n2.
  world.change((v) => v.allocations[0].state = "NotReady");
  await delay(60);
  world.change((v) => v.allocations[1].state = "NotReady");
  const changes = await sse.nextEvent();
  assert.equal(changes?.event, "changes");
  assert.deepEqual(changes?.data.allocations.map((r: AllocationView) => [r.pod, r.state]), [
    ["gs-1", "NotReady"],
  ]);
  assert.deepEqual(changes?.data.removed, []);
  await abort();
});

Deno.test("createAllocationsStreamRoute() sends the ids of removed rows and pools", async () => {
  const world = new World();
  const feed = world.feed();
  const { sse, abort } = await open(feed);
  await sse.nextEvent();
  world.change((v) => {
    v.allocations = v.allocations.filter((r) => r.pod !== "gs-0");
    v.pools = v.pools.filter((p) => p.key !== "n2");
  });
  const changes = await sse.nextEvent();
  assert.deepEqual(changes?.data.removed, [rowId(row("games", "gs-0"))]);
  assert.deepEqual(changes?.data.removedPools, [poolId(pool("n2"))]);
  assert.deepEqual(changes?.data.allocations, []);
  await abort();
});

Deno.test("createAllocationsStreamRoute() removes a row that leaves the filters", async () => {
  const world = new World();
  const feed = world.feed();
  const { sse, abort } = await open(feed, "?node=n1");
  await sse.nextEvent();
  world.change((v) => v.allocations[0].node = "n2");
  const changes = await sse.nextEvent();
  assert.deepEqual(changes?.data.removed, [rowId(row("games", "gs-0"))]);
  assert.deepEqual(changes?.data.allocations, []);
  await abort();
});

Deno.test("AllocationsFeed coalesces 1,000 changes into one event per interval", async () => {
  const world = new World();
  const feed = world.feed({ intervalMs: 100 });
  const { sse, abort } = await open(feed);
  await sse.nextEvent();
  const started = performance.now();
  for (let batch = 0; batch < 10; batch++) {
    for (let i = 0; i < 100; i++) world.change((v) => v.pools[0].used = batch * 100 + i);
    await delay(10);
  }
  let events = 0;
  let last: Sse | undefined;
  while (last?.data?.pools?.[0]?.used !== 999) {
    last = await sse.nextEvent();
    events++;
  }
  const intervals = Math.ceil((performance.now() - started) / 100);
  assert.ok(events <= intervals + 1, `${events} events in ${intervals} intervals`);
  assert.ok(world.builds <= intervals + 2, `${world.builds} builds in ${intervals} intervals`);
  await abort();
});

Deno.test("AllocationsFeed builds only while someone listens and something may have changed", async () => {
  const world = new World();
  const feed = world.feed();
  await delay(50);
  assert.equal(world.builds, 0);
  const first = await open(feed);
  await first.sse.nextEvent();
  assert.equal(world.builds, 1);
  // A second subscriber shares the view already built.
  const second = await open(feed);
  await second.sse.nextEvent();
  await delay(80);
  assert.equal(world.builds, 1);
  world.change(() => {});
  // Waited for, not timed: a loaded machine may run the interval late.
  for (let i = 0; i < 200 && world.builds < 2; i++) await delay(10);
  await delay(80);
  assert.equal(world.builds, 2);
  await first.abort();
  await second.abort();
  world.change(() => {});
  await delay(80);
  assert.equal(world.builds, 2);
  assert.equal(feed.stats.subscribers, 0);
});

Deno.test("AllocationsFeed waits after a costly build so that it takes at most maxLoopShare of the loop", async () => {
  const world = new World();
  const builds: { start: number; end: number }[] = [];
  const feed = new AllocationsFeed({
    view: () => {
      const start = performance.now();
      // A large cluster's build: 30 ms of the event loop.
      while (performance.now() - start < 30) { /* busy */ }
      builds.push({ start, end: performance.now() });
      return structuredClone(world.view);
    },
    version: () => world.version,
    intervalMs: 5,
    maxLoopShare: 0.25,
  });
  const { sse, abort } = await open(feed);
  await sse.nextEvent();
  const until = performance.now() + 600;
  while (performance.now() < until) {
    world.change((v) => v.pools[0].used++);
    await delay(5);
  }
  await abort();
  assert.ok(builds.length >= 3, `${builds.length} builds`);
  for (let i = 1; i < builds.length; i++) {
    const cost = builds[i - 1].end - builds[i - 1].start;
    const idle = builds[i].start - builds[i - 1].end;
    // Three times the cost idle after each: a quarter of the loop. Without the
    // bound a build would follow every 5 ms interval.
    assert.ok(
      idle >= 3 * cost - 1,
      `build ${i}: ${idle.toFixed(1)} ms idle after ${cost.toFixed(1)} ms`,
    );
  }
});

Deno.test("AllocationsFeed rebuilds without a version every refreshMs", async () => {
  const world = new World();
  const feed = world.feed({ refreshMs: 30 });
  const { sse, abort } = await open(feed);
  await sse.nextEvent();
  // The reuse delay frees a port: no version moves, the refresh still sees it.
  world.view.pools[0].used = 0;
  const changes = await sse.nextEvent();
  assert.equal(changes?.data.pools[0].used, 0);
  await abort();
});

Deno.test("AllocationsFeed bounds what a reader that does not read holds, then resends a snapshot", async () => {
  const world = new World();
  const feed = world.feed({ maxQueuedBytes: 2_000 });
  const { sse, abort } = await open(feed);
  await sse.nextEvent();
  let largest = 0;
  for (let i = 0; i < 60; i++) {
    world.change((v) => v.allocations[0].message = `change ${i} `.repeat(10));
    await delay(25);
    largest = Math.max(largest, feed.stats.maxQueuedBytes);
  }
  assert.ok(largest <= 2_000, `${largest} bytes queued`);
  assert.ok(feed.stats.resyncs >= 1);
  // What was queued is gone: reading again starts over from a snapshot of now.
  const events: Sse[] = [];
  for (let e = await sse.nextEvent(); e?.event !== "snapshot"; e = await sse.nextEvent()) {
    events.push(e!);
  }
  assert.ok(events.length < 60, `${events.length} stale changes delivered`);
  await abort();
});

Deno.test("AllocationsFeed keeps idle streams alive with a comment", async () => {
  const feed = new World().feed({ keepAliveMs: 30 });
  const { sse, abort } = await open(feed);
  await sse.nextEvent();
  assert.equal((await sse.next())?.comment, "keep-alive");
  await abort();
});

Deno.test("AllocationsFeed.subscribe() ends the stream when its signal aborts", async () => {
  const feed = new World().feed();
  const ac = new AbortController();
  const sse = new SseReader(feed.subscribe({}, ac.signal));
  assert.equal((await sse.nextEvent())?.event, "snapshot");
  assert.equal(feed.stats.subscribers, 1);
  ac.abort();
  assert.equal(feed.stats.subscribers, 0);
  assert.equal(await sse.next(), undefined);
  // No timer is left behind either: the test's sanitizer would fail.
});

Deno.test("AllocationsFeed.subscribe() with an aborted signal ends at once", async () => {
  const feed = new World().feed();
  const ac = new AbortController();
  ac.abort();
  const sse = new SseReader(feed.subscribe({}, ac.signal));
  assert.equal(await sse.next(), undefined);
  assert.equal(feed.stats.subscribers, 0);
});

Deno.test("AllocationsFeed forgets a subscriber that cancels its stream", async () => {
  const feed = new World().feed();
  const { sse } = await open(feed);
  await sse.nextEvent();
  await sse.cancel();
  assert.equal(feed.stats.subscribers, 0);
});

Deno.test("AllocationsFeed.close() ends every stream", async () => {
  const feed = new World().feed();
  const a = await open(feed);
  const b = await open(feed, "?namespace=games");
  await a.sse.nextEvent();
  feed.close();
  assert.equal(await a.sse.nextEvent(), undefined);
  assert.equal(await b.sse.nextEvent(), undefined);
  assert.equal(feed.stats.subscribers, 0);
});

Deno.test("rowId() and poolId() are unique in a view", async () => {
  const world = new World();
  // Two holdings the view would show apart: a live Pod and an admission of one name.
  world.view.allocations.push(row("games", "gs-0", { holding: "admission" }));
  world.view.allocations.push(row("games", "gs-0"));
  const feed = world.feed();
  const { sse, abort } = await open(feed);
  const ids = (await sse.nextEvent())?.data.allocations.map((r: { id: string }) => r.id);
  assert.equal(new Set(ids).size, ids.length);
  await abort();
});

Deno.test("createAllocationsStreamRoute() forgets a client that disconnects from a real server", async () => {
  const feed = new World().feed();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    createAllocationsStreamRoute(feed).fetch,
  );
  const ac = new AbortController();
  const res = await fetch(`http://127.0.0.1:${server.addr.port}/allocations/stream`, {
    signal: ac.signal,
  });
  const sse = new SseReader(res.body!);
  assert.equal((await sse.nextEvent())?.event, "snapshot");
  assert.equal(feed.stats.subscribers, 1);
  ac.abort();
  await sse.cancel().catch(() => {});
  for (let i = 0; i < 100 && feed.stats.subscribers > 0; i++) await delay(10);
  assert.equal(feed.stats.subscribers, 0);
  await server.shutdown();
});
