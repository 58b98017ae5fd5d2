import assert from "node:assert/strict";
import { AllocationError, type AllocationErrorCode } from "./errors.ts";
import { PortPool } from "./port_pool.ts";
import { PoolSet } from "./pool_set.ts";
import { PortBitmap } from "./port_bitmap.ts";

function fails(code: AllocationErrorCode, fn: () => unknown, message?: RegExp) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof AllocationError, String(err));
    assert.equal(err.code, code);
    if (message) assert.match(err.message, message);
    return true;
  });
}

Deno.test("allocate() returns the same ports for the same owner", () => {
  const pool = new PortPool(7000, 8000);
  const a = pool.allocate("default/gs-0", { ports: [{ protocol: "UDP" }, { protocol: "TCPUDP" }] });
  // TCPUDP entries are chosen first (they need a number free in both), then the others.
  assert.deepEqual(a, [{ port: 7001, protocol: "UDP" }, { port: 7000, protocol: "TCPUDP" }]);
  assert.deepEqual(
    pool.allocate("default/gs-0", { ports: [{ protocol: "UDP" }, { protocol: "TCPUDP" }] }),
    a,
  );
  assert.equal(pool.used("UDP"), 2);
  assert.equal(pool.used("TCP"), 1);
  fails("owner-mismatch", () => pool.allocate("default/gs-0", { count: 3 }), /already holds/);
});

Deno.test("allocate() gives nothing when one of two ports is taken", () => {
  const pool = new PortPool(7000, 7001);
  pool.reserve(7001, "UDP", "static");
  const before = pool.snapshot();
  fails(
    "conflict",
    () => pool.allocate("a", { ports: [{ protocol: "UDP" }, { protocol: "UDP", port: 7001 }] }),
    /held by static/,
  );
  assert.deepEqual(pool.snapshot(), before);
  fails("exhausted", () => pool.allocate("a", { count: 2, protocol: "UDP" }));
  assert.deepEqual(pool.snapshot(), before, "all or nothing");
});

Deno.test("TCPUDP takes one number free in both protocols", () => {
  const pool = new PortPool(100, 103);
  pool.reserve(100, "TCP", "x");
  pool.reserve(101, "UDP", "y");
  assert.deepEqual(pool.allocate("a", { protocol: "TCPUDP", count: 1 }), [{
    port: 102,
    protocol: "TCPUDP",
  }]);
  assert.ok(pool.has(102, "TCP") && pool.has(102, "UDP"));
});

Deno.test("next-fit hands a freed port out last", () => {
  const pool = new PortPool(1, 4);
  pool.allocate("a", { count: 1 });
  pool.allocate("b", { count: 1 });
  pool.release("a");
  assert.deepEqual(pool.allocate("c", { count: 1 }), [{ port: 3, protocol: "TCP" }]);
  assert.deepEqual(pool.allocate("d", { count: 1 }), [{ port: 4, protocol: "TCP" }]);
  assert.deepEqual(
    pool.allocate("e", { count: 1 }),
    [{ port: 1, protocol: "TCP" }],
    "wraps to the freed one",
  );
});

Deno.test("contiguous blocks are consecutive and skip used ports", () => {
  const pool = new PortPool(10, 20);
  pool.reserve(12, "UDP", "x");
  assert.deepEqual(
    pool.allocate("a", { count: 3, protocol: "UDP", contiguous: true }).map((p) => p.port),
    [13, 14, 15],
  );
  fails(
    "exhausted",
    () => pool.allocate("b", { count: 6, protocol: "UDP", contiguous: true }),
    /6 consecutive/,
  );
  assert.deepEqual(
    pool.allocate("c", { count: 5, protocol: "UDP", contiguous: true }).map((p) => p.port),
    [16, 17, 18, 19, 20],
  );
});

Deno.test("release() frees exactly what the owner held", () => {
  const pool = new PortPool(1, 10);
  pool.allocate("a", { count: 2, protocol: "UDP" });
  pool.reserve(9, "TCP", "a");
  pool.allocate("b", { count: 1, protocol: "UDP" });
  assert.deepEqual(pool.release("a").map((p) => `${p.port}/${p.protocol}`).sort(), [
    "1/UDP",
    "2/UDP",
    "9/TCP",
  ]);
  assert.deepEqual(pool.snapshot().owners, [{ owner: "b", ports: [{ port: 3, protocol: "UDP" }] }]);
  assert.deepEqual(pool.release("a"), [], "idempotent");
});

Deno.test("reserve() names both owners of a clash; restore() reports it instead of overwriting", () => {
  const pool = new PortPool(1, 10);
  pool.reserve(5, "UDP", "old");
  assert.throws(
    () => pool.reserve(5, "UDP", "new"),
    (e) => e instanceof AllocationError && e.code === "conflict" && e.owners?.join() === "old,new",
  );
  const conflicts = pool.restore("new", [{ port: 5, protocol: "UDP" }, {
    port: 6,
    protocol: "UDP",
  }]);
  assert.deepEqual(conflicts, [{ port: 5, protocol: "UDP", owners: ["old", "new"] }]);
  assert.equal(pool.ownerOf(5, "UDP"), "old");
  assert.equal(pool.ownerOf(6, "UDP"), "new");
});

Deno.test("the reuse delay keeps freed ports out, then exhausted-delayed says when they return", () => {
  let now = 0;
  const pool = new PortPool(1, 2, { reuseDelayMs: 5_000, clock: () => now });
  pool.allocate("a", { count: 2, protocol: "UDP" });
  now = 1_000;
  pool.release("a");
  assert.equal(pool.delayed("UDP"), 2);
  assert.equal(pool.free("UDP"), 0);
  now = 2_000;
  assert.throws(
    () => pool.allocate("b", { count: 1, protocol: "UDP" }),
    (e) =>
      e instanceof AllocationError && e.code === "exhausted-delayed" && e.retryAfterMs === 4_000,
  );
  now = 6_000;
  assert.deepEqual(pool.allocate("b", { count: 1, protocol: "UDP" }), [{
    port: 1,
    protocol: "UDP",
  }]);
  assert.equal(pool.delayed("UDP"), 0);
});

Deno.test("bad requests get a typed error and change nothing", () => {
  const pool = new PortPool(7000, 7009);
  pool.allocate("x", { count: 1 });
  const before = pool.snapshot();
  fails("invalid-request", () => pool.allocate("a", { count: 0 }), /above 0/);
  fails("invalid-request", () => pool.allocate("a", { count: -2 }), /above 0/);
  fails("invalid-request", () => pool.allocate("a", { ports: [] }), /at least one/);
  fails(
    "invalid-request",
    () => pool.allocate("a", { ports: [{ protocol: "SCTP" as "TCP" }] }),
    /TCP, UDP or TCPUDP/,
  );
  fails(
    "invalid-request",
    () => pool.allocate("a", { count: 1, ports: [{ protocol: "TCP" }] }),
    /either/,
  );
  fails(
    "out-of-range",
    () => pool.allocate("a", { ports: [{ protocol: "TCP", port: 6999 }] }),
    /outside 7000-7009/,
  );
  fails("out-of-range", () => pool.reserve(8000, "TCP", "a"));
  fails("too-many", () => pool.allocate("a", { count: 11 }), /holds only 10/);
  fails("invalid-request", () => pool.reserve(7005, "SCTP" as "TCP", "a"));
  assert.deepEqual(pool.snapshot(), before);
  assert.throws(() => new PortPool(9, 1), /low-high/);
  assert.throws(() => new PortPool(0, 10), /1-65535/);
});

Deno.test("snapshot() gives range, used, free, delayed and owners", () => {
  const pool = new PortPool(7000, 8000);
  pool.allocate("b", { count: 1, protocol: "UDP" });
  pool.allocate("a", { count: 1, protocol: "TCPUDP" });
  assert.deepEqual(pool.snapshot(), {
    min: 7000,
    max: 8000,
    used: { TCP: 1, UDP: 2 },
    free: { TCP: 1000, UDP: 999 },
    delayed: { TCP: 0, UDP: 0 },
    owners: [
      { owner: "a", ports: [{ port: 7001, protocol: "TCP" }, { port: 7001, protocol: "UDP" }] },
      { owner: "b", ports: [{ port: 7000, protocol: "UDP" }] },
    ],
  });
});

Deno.test("PortBitmap finds free ports across full words and wraps", () => {
  const bits = new PortBitmap(0, 99_999);
  for (let p = 0; p < 70_000; p++) bits.allocate(p);
  assert.equal(bits.findFree(0), 70_000);
  bits.release(5);
  assert.equal(bits.findFree(80_000), 80_000);
  for (let p = 70_000; p < 100_000; p++) bits.allocate(p);
  assert.equal(bits.findFree(50_000), 5, "wraps to the only free port");
  assert.equal(bits.free, 1);
  const seen: number[] = [];
  new PortBitmap(10, 45).forEach((p) => seen.push(p));
  assert.deepEqual(seen, []);
});

Deno.test("PoolSet.allocateAcross() keeps a Pod's ports on one pool: first fit or least used", () => {
  const set = new PoolSet(501, 503);
  ["lb-a", "lb-b"].forEach((k) => set.ensure(k));
  assert.equal(set.allocateAcross(["lb-a", "lb-b"], "p1", { count: 2 }).key, "lb-a");
  assert.equal(
    set.allocateAcross(["lb-a", "lb-b"], "p2", { count: 2 }).key,
    "lb-b",
    "lb-a has 1 left",
  );
  assert.equal(set.allocateAcross(["lb-a", "lb-b"], "p1", { count: 2 }).key, "lb-a", "idempotent");
  assert.equal(set.allocateAcross(["lb-a", "lb-b"], "p3", { count: 1 }, "least-used").key, "lb-a");
  assert.throws(
    () => set.allocateAcross(["lb-a", "lb-b"], "p4", { count: 2 }),
    (e) =>
      e instanceof AllocationError && e.code === "exhausted" &&
      /No pool of lb-a, lb-b fits/.test(e.message),
  );
  assert.throws(() => set.allocateAcross(["lb-x"], "p4", { count: 1 }), /No pool "lb-x"/);
  set.delete("lb-b");
  const again = set.ensure("lb-c");
  assert.equal(again.used("TCP"), 0, "a recycled slab region starts empty");
});
