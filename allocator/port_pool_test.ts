import assert from "node:assert/strict";
import { AllocationError, type AllocationErrorCode } from "./errors.ts";
import { PortPool } from "./port_pool.ts";

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

Deno.test("allocate() refuses a named port in its reuse delay with port-delayed", () => {
  let now = 0;
  const pool = new PortPool(7000, 7009, { reuseDelayMs: 30_000, clock: () => now });
  pool.allocate("a", { ports: [{ protocol: "UDP", port: 7005 }] });
  pool.release("a");
  now = 10_000;
  assert.throws(
    () => pool.allocate("b", { ports: [{ protocol: "UDP", port: 7005 }] }),
    (e) =>
      e instanceof AllocationError && e.code === "port-delayed" && e.retryAfterMs === 20_000 &&
      /7005\/UDP .*reuse delay/.test(e.message),
  );
  assert.deepEqual(pool.allocate("c", { ports: [{ protocol: "TCP", port: 7005 }] }), [{
    port: 7005,
    protocol: "TCP",
  }], "TCP is another space");
});

Deno.test("reserve() takes a delayed port at once: it is in use elsewhere", () => {
  let now = 0;
  const pool = new PortPool(7000, 7009, { reuseDelayMs: 30_000, clock: () => now });
  pool.allocate("a", { ports: [{ protocol: "UDP", port: 7005 }] });
  pool.release("a");
  assert.equal(pool.delayed("UDP"), 1);
  pool.reserve(7005, "UDP", "static/s-0");
  assert.equal(pool.delayed("UDP"), 0);
  assert.equal(pool.ownerOf(7005, "UDP"), "static/s-0");
  now = 40_000;
  assert.equal(pool.ownerOf(7005, "UDP"), "static/s-0", "the old delay does not free it later");
  assert.equal(pool.used("UDP"), 1);
});

Deno.test("restore() of TCPUDP ports lets the same owner's allocate() get them back", () => {
  const before = new PortPool(7000, 7999);
  const request = { ports: [{ protocol: "TCPUDP" as const }, { protocol: "UDP" as const }] };
  const answer = before.allocate("ns/gs-0", request);
  // A restart: a new pool, rebuilt from what the Pod says it holds.
  const after = new PortPool(7000, 7999);
  assert.deepEqual(after.restore("ns/gs-0", answer), []);
  assert.deepEqual(after.allocate("ns/gs-0", request), answer);
  assert.deepEqual(after.snapshot(), before.snapshot());
  fails("owner-mismatch", () => after.allocate("ns/gs-0", { count: 2, protocol: "UDP" }));
});

Deno.test("release() returns one entry per protocol and is idempotent", () => {
  const pool = new PortPool(1, 10);
  pool.allocate("a", { ports: [{ protocol: "TCPUDP" }] });
  assert.deepEqual(pool.release("a"), [{ port: 1, protocol: "TCP" }, { port: 1, protocol: "UDP" }]);
  assert.deepEqual(pool.release("a"), []);
  assert.equal(pool.ownerCount, 0);
  assert.equal(pool.has(1), false);
});

Deno.test("allocate() answers stay as they were when reserve() adds ports", () => {
  const pool = new PortPool(1, 10);
  const answer = pool.allocate("a", { count: 1, protocol: "UDP" });
  pool.reserve(9, "TCP", "a");
  assert.deepEqual(answer, [{ port: 1, protocol: "UDP" }]);
  assert.deepEqual(pool.ports("a"), [{ port: 1, protocol: "UDP" }, { port: 9, protocol: "TCP" }]);
  assert.deepEqual(pool.holdings("a"), [{ port: 1, protocol: "UDP" }, {
    port: 9,
    protocol: "TCP",
  }]);
});

Deno.test("allocate() gives a TCPUDP entry a number free in both even when others come first", () => {
  // 1 is free in both, 2 only in TCP: the TCP entry must not take 1.
  const pool = new PortPool(1, 2);
  pool.reserve(2, "UDP", "x");
  assert.deepEqual(pool.allocate("a", { ports: [{ protocol: "TCP" }, { protocol: "TCPUDP" }] }), [
    { port: 2, protocol: "TCP" },
    { port: 1, protocol: "TCPUDP" },
  ]);
});

Deno.test("allocate() refuses a port named twice in one request", () => {
  const pool = new PortPool(1, 10);
  fails(
    "invalid-request",
    () =>
      pool.allocate("a", {
        ports: [{ protocol: "UDP", port: 3 }, { protocol: "TCPUDP", port: 3 }],
      }),
    /named twice/,
  );
  assert.equal(pool.ownerCount, 0);
});

Deno.test("allocate() says exhausted-delayed when only the delay stands in the way of a many-port request", () => {
  let now = 1_000;
  const pool = new PortPool(1000, 1003, { reuseDelayMs: 25, clock: () => now });
  pool.reserve(1001, "TCP", "e");
  pool.release("e");
  pool.restore("a", [{ port: 1002, protocol: "TCP" }, { port: 1000, protocol: "TCP" }]);
  // One free port and one delayed: two ports come once the delay is over.
  assert.throws(
    () => pool.allocate("d", { count: 2, protocol: "TCP" }),
    (err) => err instanceof AllocationError && err.code === "exhausted-delayed",
  );
  now += 25;
  assert.equal(pool.allocate("d", { count: 2, protocol: "TCP" }).length, 2);
});
