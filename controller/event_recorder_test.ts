import assert from "node:assert/strict";
import { EventRecorder } from "./event_recorder.ts";
import { FakeKubeClient } from "../tests/fakes/fake_kube_client.ts";

const pod = { apiVersion: "v1", kind: "Pod", namespace: "games", name: "gs-0", uid: "u-0" };

function setup(options: Partial<ConstructorParameters<typeof EventRecorder>[1]> = {}) {
  const api = new FakeKubeClient();
  let now = 1_000_000;
  const drops: string[] = [];
  const events = new EventRecorder(api.client, {
    clock: () => now,
    updateEveryMs: 60_000,
    onDrop: (why) => drops.push(why),
    log: () => {},
    ...options,
  });
  const writes = () => api.requests.filter((r) => r.includes("/events"));
  return { api, events, drops, writes, advance: (ms: number) => now += ms };
}

Deno.test("record() never waits for the API server, and flush() sends what was queued", async () => {
  // An API server that never answers: the reconcile that records must not wait for it.
  let asked = 0;
  const stuck = {
    request: () => (asked++, new Promise(() => {})),
  } as unknown as ConstructorParameters<typeof EventRecorder>[0];
  const hung = new EventRecorder(stuck, { log: () => {} });
  const answered = await Promise.race([
    hung.warning(pod, "ClbPortsExhausted", "No port free on lb-a").then(() => true),
    new Promise((r) => setTimeout(() => r(false), 100)),
  ]);
  assert.equal(answered, true);
  assert.equal(asked, 1, "the write was sent, in the background");
  const { events, writes } = setup();
  events.warning(pod, "ClbPortsExhausted", "No port free on lb-a");
  await events.flush();
  assert.deepEqual(writes(), ["POST /api/v1/namespaces/games/events"]);
});

Deno.test("record() folds repeats into one Event and writes its count at most once a minute", async () => {
  const { events, api, writes, advance } = setup({ updateEveryMs: 50 });
  for (let i = 0; i < 12; i++) {
    events.warning(pod, "ClbPortsExhausted", "No port free on lb-a");
    advance(5_000); // a Pod waiting for a port looks again every 5 s
  }
  await events.flush();
  assert.equal(events.recorded, 12);
  assert.deepEqual(writes(), [
    "POST /api/v1/namespaces/games/events",
    "PATCH /api/v1/namespaces/games/events/" + writes()[1]?.split("/").pop(),
  ]);
  assert.equal(api.events.length, 1);
});

Deno.test("record() drops an object's Events beyond its burst until the bucket refills", async () => {
  const { events, drops, writes, advance } = setup({ burst: 3, refillEveryMs: 300_000 });
  for (let i = 0; i < 5; i++) events.warning(pod, "Flapping", `change ${i}`);
  assert.deepEqual(drops, ["spam", "spam"]);
  events.warning(
    { ...pod, name: "gs-1", uid: "u-1" },
    "Flapping",
    "another Pod has its own bucket",
  );
  advance(300_000);
  events.warning(pod, "Flapping", "one more after five minutes");
  await events.flush();
  assert.equal(writes().length, 5);
  assert.equal(events.dropped, 2);
});

Deno.test("record() tells onRecord every Event, also the ones the spam filter drops", () => {
  const told: string[] = [];
  const { events } = setup({
    burst: 1,
    onRecord: (ref, e) => told.push(`${ref.name} ${e.type} ${e.reason}: ${e.message}`),
  });
  events.warning(pod, "Flapping", "change 0");
  events.warning(pod, "Flapping", "change 1");
  assert.equal(events.dropped, 1);
  assert.deepEqual(told, ["gs-0 Warning Flapping: change 0", "gs-0 Warning Flapping: change 1"]);
});

Deno.test("record() drops and counts when its queue is full", async () => {
  const { events, drops } = setup({ queueSize: 2, burst: 100 });
  for (let i = 0; i < 5; i++) events.warning(pod, "Busy", `event ${i}`);
  // The first write starts at once: two wait behind it, the rest do not fit.
  assert.ok(drops.length >= 2 && drops.every((d) => d === "queue-full"), drops.join(","));
  await events.flush();
});
