import assert from "node:assert/strict";
import { AllocationError, type AllocationErrorCode } from "./errors.ts";
import { PoolSet } from "./pool_set.ts";
import { testRandom } from "../tests/test_seed.ts";

function fails(code: AllocationErrorCode, fn: () => unknown, message?: RegExp) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof AllocationError, String(err));
    assert.equal(err.code, code);
    if (message) assert.match(err.message, message);
    return true;
  });
}

Deno.test("allocateAcross() keeps a Pod's ports on one pool, the first that fits", () => {
  const set = new PoolSet(501, 503);
  ["lb-a", "lb-b"].forEach((k) => set.ensure(k));
  assert.equal(set.allocateAcross(["lb-a", "lb-b"], "p1", { count: 2 }).key, "lb-a");
  const p2 = set.allocateAcross(["lb-a", "lb-b"], "p2", { count: 2 });
  assert.equal(p2.key, "lb-b", "lb-a has 1 left");
  assert.deepEqual(p2.ports.map((p) => p.port), [501, 502]);
  assert.equal(set.allocateAcross(["lb-a", "lb-b"], "p1", { count: 2 }).key, "lb-a", "idempotent");
  // One port left on each: never split across pools.
  fails(
    "exhausted",
    () => set.allocateAcross(["lb-a", "lb-b"], "p3", { count: 2 }),
    /No pool of lb-a, lb-b fits/,
  );
  assert.equal(set.locate("p3"), undefined, "nothing taken");
});

Deno.test("allocateAcross() with least-used picks the pool holding the fewest ports", () => {
  const set = new PoolSet(1000, 1099);
  for (const k of ["lb-a", "lb-b", "lb-c"]) set.ensure(k);
  set.get("lb-a")!.allocate("x", { count: 5 });
  set.get("lb-b")!.allocate("y", { count: 1 });
  set.get("lb-c")!.allocate("z", { count: 3 });
  const keys = ["lb-a", "lb-b", "lb-c"];
  assert.equal(set.allocateAcross(keys, "p1", { count: 1 }, "least-used").key, "lb-b");
  assert.equal(set.allocateAcross(keys, "p2", { count: 1 }, "least-used").key, "lb-b");
  // lb-b and lb-c now hold 3 each: a tie goes to the earlier key.
  assert.equal(set.allocateAcross(keys, "p3", { count: 1 }, "least-used").key, "lb-b");
  assert.equal(set.allocateAcross(keys, "p4", { count: 1 }, "least-used").key, "lb-c");
});

Deno.test("allocateAcross() reports the soonest return when every pool only waits out a delay", () => {
  let now = 0;
  const set = new PoolSet(1, 1, { reuseDelayMs: 1_000, clock: () => now });
  set.ensure("lb-a");
  set.ensure("lb-b");
  // Through the set, which then knows where each owner is.
  set.allocateAcross(["lb-a"], "a", { count: 1 });
  set.allocateAcross(["lb-b"], "b", { count: 1 });
  set.release("a");
  now = 300;
  set.release("b");
  now = 500;
  assert.throws(
    () => set.allocateAcross(["lb-b", "lb-a"], "c", { count: 1 }),
    (e) => e instanceof AllocationError && e.code === "exhausted-delayed" && e.retryAfterMs === 500,
  );
  now = 1_000;
  assert.equal(set.allocateAcross(["lb-b", "lb-a"], "c", { count: 1 }).key, "lb-a");
});

Deno.test("allocateAcross() refuses unknown pools and an empty choice, changing nothing", () => {
  const set = new PoolSet(501, 510);
  set.ensure("lb-a");
  const before = set.snapshot();
  fails("unknown-pool", () => set.allocateAcross(["lb-a", "lb-x"], "p", { count: 1 }), /"lb-x"/);
  fails("unknown-pool", () => set.allocateAcross([], "p", { count: 1 }), /at least one/);
  fails("invalid-request", () => set.allocateAcross(["lb-a"], "p", { count: 0 }), /above 0/);
  assert.deepEqual(set.snapshot(), before);
});

Deno.test("delete() returns the pool's owners and its storage is reused empty", () => {
  const set = new PoolSet(501, 503, { poolsPerSlab: 1 });
  set.ensure("lb-a").allocate("p1", { count: 3 });
  assert.deepEqual(set.delete("lb-a"), ["p1"]);
  assert.deepEqual(set.delete("lb-a"), [], "idempotent");
  const again = set.ensure("lb-c");
  assert.equal(again.used("TCP"), 0, "a recycled region starts empty");
  assert.equal(again.allocate("p2", { count: 3 }).length, 3);
  assert.deepEqual([...set.keys()], ["lb-c"]);
});

Deno.test("snapshot() lists every pool by key with its counts and owners", () => {
  const set = new PoolSet(7000, 7009);
  set.ensure("lb-b");
  set.allocateAcross(["lb-b"], "ns/b", { count: 2, protocol: "UDP" });
  set.ensure("lb-a");
  const snap = set.snapshot();
  assert.deepEqual(snap.pools.map((p) => p.key), ["lb-a", "lb-b"]);
  assert.deepEqual(snap.pools[1].used, { TCP: 0, UDP: 2 });
  assert.deepEqual(snap.pools[1].free, { TCP: 10, UDP: 8 });
  assert.deepEqual(snap.pools[1].owners, [{
    owner: "ns/b",
    ports: [{ port: 7000, protocol: "UDP" }, { port: 7001, protocol: "UDP" }],
  }]);
  assert.deepEqual(set.locate("ns/b")?.key, "lb-b");
  assert.equal(set.release("ns/b"), 2);
  assert.equal(set.release("ns/b"), 0);
});

Deno.test("new PoolSet() refuses a bad range", () => {
  fails("invalid-range", () => new PoolSet(10, 9), /low-high/);
  fails("invalid-range", () => new PoolSet(0, 9), /1-65535/);
});

Deno.test("release() and locate() find an owner by the set's index, also after restore() and claim()", () => {
  const set = new PoolSet(7000, 7009);
  for (const k of ["lb-a", "lb-b", "lb-c"]) set.ensure(k);
  assert.deepEqual(set.restore("lb-c", "ns/r", [{ port: 7003, protocol: "UDP" }]), []);
  assert.equal(set.claim("lb-b", 7004, "TCP", "orphan:1"), undefined);
  assert.equal(set.claim("lb-b", 7004, "TCP", "orphan:2"), "orphan:1");
  assert.equal(set.locate("ns/r")?.key, "lb-c");
  assert.equal(set.locate("orphan:2"), undefined);
  assert.equal(set.release("orphan:1"), 1);
  assert.equal(set.release("ns/r"), 1);
  assert.equal(set.locate("ns/r"), undefined);
  assert.equal(set.get("lb-c")!.ownerCount, 0);
  fails("unknown-pool", () => set.restore("lb-x", "ns/r", []), /"lb-x"/);
});

Deno.test("delete() forgets the pool's owners in the index", () => {
  const set = new PoolSet(7000, 7009);
  set.ensure("lb-a");
  set.allocateAcross(["lb-a"], "ns/a", { count: 1 });
  assert.deepEqual(set.delete("lb-a"), ["ns/a"]);
  assert.equal(set.locate("ns/a"), undefined);
  assert.equal(set.release("ns/a"), 0);
});

Deno.test("allocateSame() gives one number free in every pool, skipping those taken in any", () => {
  const set = new PoolSet(501, 600);
  for (const k of ["telecom", "unicom", "mobile"]) set.ensure(k);
  set.allocateAcross(["telecom"], "x/a", { ports: [{ protocol: "UDP" }] }); // 501 on telecom
  set.allocateAcross(["unicom"], "x/b", { count: 2, protocol: "UDP" }); // 501, 502 on unicom
  const ports = set.allocateSame(["telecom", "unicom", "mobile"], "x/gs", ["UDP", "TCPUDP"]);
  // 501 and 502 are taken on one line or another; TCPUDP takes the next number after UDP's.
  assert.deepEqual(ports, [{ port: 503, protocol: "UDP" }, { port: 504, protocol: "TCPUDP" }]);
  for (const k of ["telecom", "unicom", "mobile"]) {
    assert.deepEqual(set.get(k)!.ports("x/gs"), ports, k);
  }
  // Again: the same ports; a new line joins with the same numbers.
  set.ensure("cmcc");
  assert.deepEqual(
    set.allocateSame(["telecom", "unicom", "cmcc"], "x/gs", ["UDP", "TCPUDP"]),
    ports,
  );
  assert.deepEqual(set.get("cmcc")!.ports("x/gs"), ports);
  assert.equal(set.release("x/gs"), 4 * 3);
});

Deno.test("allocateSame() is exhausted when no number is free everywhere, changing nothing", () => {
  const set = new PoolSet(1, 64);
  set.ensure("a");
  set.ensure("b");
  // Every odd port used on a, every even one on b: each has 32 free, none in common.
  for (let p = 1; p <= 64; p++) {
    set.claim(p % 2 === 1 ? "a" : "b", p, "UDP", `x/${p}`);
  }
  assert.throws(
    () => set.allocateSame(["a", "b"], "x/gs", ["UDP"]),
    (e) => e instanceof AllocationError && e.code === "exhausted",
  );
  assert.equal(set.locate("x/gs"), undefined);
  // TCP is free on both.
  assert.deepEqual(set.allocateSame(["a", "b"], "x/gs", ["TCP"]), [{ port: 1, protocol: "TCP" }]);
});

Deno.test("allocateSame() agrees with a port-by-port search on random pools (property)", () => {
  const random = testRandom("allocateSame property");
  for (let round = 0; round < 200; round++) {
    const size = 1 + Math.floor(random() * 100);
    const set = new PoolSet(1000, 1000 + size - 1);
    const keys = ["a", "b", "c", "d"].slice(0, 1 + Math.floor(random() * 4));
    for (const k of keys) set.ensure(k);
    for (const k of keys) {
      for (let p = 1000; p < 1000 + size; p++) {
        if (random() < 0.9) set.claim(k, p, random() < 0.5 ? "UDP" : "TCP", `x/${k}${p}`);
      }
    }
    let expected: number | undefined;
    for (let p = 1000; p < 1000 + size && expected === undefined; p++) {
      if (keys.every((k) => !set.get(k)!.has(p, "UDP"))) expected = p;
    }
    let got: number | undefined;
    try {
      got = set.allocateSame(keys, "x/gs", ["UDP"])[0].port;
    } catch (e) {
      if (!(e instanceof AllocationError && e.code === "exhausted")) throw e;
    }
    assert.equal(got, expected, `round ${round}: ${keys.length} pools of ${size}`);
  }
});
