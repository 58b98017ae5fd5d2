import assert from "node:assert/strict";
import { RecentEvents } from "./recent_events.ts";

const warning = (reason: string, message = `${reason} happened`) => ({
  type: "Warning" as const,
  reason,
  message,
  lastTimestamp: "2026-11-30T17:00:00Z",
});

Deno.test("remember() folds a repeat into one entry with a count, newest last", () => {
  const recent = new RecentEvents();
  const ref = { namespace: "games", name: "gs-0", uid: "u1" };
  recent.remember(ref, warning("PortsExhausted"));
  recent.remember(ref, { ...warning("Allocated"), type: "Normal" });
  recent.remember(ref, { ...warning("PortsExhausted"), lastTimestamp: "2026-11-30T17:01:00Z" });
  assert.deepEqual(recent.of("games", "gs-0").map((e) => [e.reason, e.count, e.lastTimestamp]), [
    ["Allocated", 1, "2026-11-30T17:00:00Z"],
    ["PortsExhausted", 2, "2026-11-30T17:01:00Z"],
  ]);
});

Deno.test("remember() keeps perObject events per object and forgets the least recent object first", () => {
  const recent = new RecentEvents({ perObject: 2, objects: 2 });
  for (const reason of ["A", "B", "C"]) {
    recent.remember({ namespace: "n", name: "a" }, warning(reason));
  }
  assert.deepEqual(recent.of("n", "a").map((e) => e.reason), ["B", "C"]);
  recent.remember({ namespace: "n", name: "b" }, warning("X"));
  recent.remember({ namespace: "n", name: "a" }, warning("D"));
  recent.remember({ namespace: "n", name: "c" }, warning("Y"));
  assert.equal(recent.size, 2);
  assert.deepEqual(recent.of("n", "b"), [], "b was talked about least recently");
  assert.deepEqual(recent.of("n", "a").map((e) => e.reason), ["C", "D"]);
});

Deno.test("of() does not give a recreated Pod its predecessor's events", () => {
  const recent = new RecentEvents();
  recent.remember({ namespace: "n", name: "gs-0", uid: "old" }, warning("PortsExhausted"));
  assert.deepEqual(recent.of("n", "gs-0", "new"), []);
  assert.equal(recent.of("n", "gs-0", "old").length, 1);
  recent.remember({ namespace: "n", name: "gs-0", uid: "new" }, warning("InvalidConf"));
  assert.deepEqual(recent.of("n", "gs-0", "new").map((e) => e.reason), ["InvalidConf"]);
});

Deno.test("lastWarning() skips Normal events and forget() drops the object", () => {
  const recent = new RecentEvents();
  const ref = { namespace: "n", name: "gs-0" };
  recent.remember(ref, warning("PortsExhausted"));
  recent.remember(ref, { ...warning("Allocated"), type: "Normal" });
  assert.equal(recent.lastWarning("n", "gs-0")?.reason, "PortsExhausted");
  recent.forget("n", "gs-0");
  assert.equal(recent.lastWarning("n", "gs-0"), undefined);
});
