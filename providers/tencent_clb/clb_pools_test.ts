import assert from "node:assert/strict";
import { AllocationError } from "../../allocator/errors.ts";
import { ConfError } from "../types.ts";
import { ClbPools } from "./clb_pools.ts";

const RANGE = { min: 501, max: 600 };

Deno.test("allocate() moves on to the next CLB when one holds its listener quota", () => {
  const pools = new ClbPools();
  pools.listenerQuota = 4;
  // TCP and UDP listeners count together against the quota.
  assert.equal(pools.allocate(["lb-a", "lb-b"], "ns/a", ["TCP", "UDP"], RANGE).key, "lb-a");
  assert.equal(pools.allocate(["lb-a", "lb-b"], "ns/b", ["TCPUDP"], RANGE).key, "lb-a");
  assert.equal(pools.allocate(["lb-a", "lb-b"], "ns/c", ["UDP"], RANGE).key, "lb-b");
  // Asking again is idempotent even on a full CLB.
  assert.equal(pools.allocate(["lb-a", "lb-b"], "ns/a", ["TCP", "UDP"], RANGE).key, "lb-a");
  pools.allocate(["lb-a", "lb-b"], "ns/d", ["TCP", "TCP", "UDP"], RANGE);
  assert.throws(
    () => pools.allocate(["lb-a", "lb-b"], "ns/e", ["UDP"], RANGE),
    (err) =>
      err instanceof AllocationError && err.code === "exhausted" && /quota of 4/.test(err.message),
  );
  pools.release("ns/b");
  assert.equal(pools.allocate(["lb-a", "lb-b"], "ns/e", ["UDP"], RANGE).key, "lb-a");
});

Deno.test("bind() refuses a second range on one CLB, naming the first", () => {
  const pools = new ClbPools();
  pools.serveRange(["lb-a"], RANGE, "Pod ns/a");
  assert.throws(
    () => pools.allocate(["lb-a"], "ns/b", ["UDP"], { min: 700, max: 750 }),
    (err) =>
      err instanceof ConfError && err.reason === "ClbRangeMismatch" && /501-600/.test(err.message),
  );
  assert.deepEqual(pools.rangeOf("lb-a"), RANGE);
});
