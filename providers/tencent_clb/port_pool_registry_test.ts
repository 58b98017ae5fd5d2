import assert from "node:assert/strict";
import { ClbPools } from "./clb_pools.ts";
import { parsePortPoolSpec } from "./port_pool_spec.ts";
import { type PoolLb, PoolUnavailable, PortPoolRegistry } from "./port_pool_registry.ts";

function pool(name: string, spec: Record<string, unknown>) {
  return parsePortPoolSpec({ metadata: { name }, spec: { startPort: 30000, ...spec } });
}
const running = (...ids: string[]): PoolLb[] => ids.map((id) => ({ id, state: "Running" }));

function registryWith(quota = 10) {
  const pools = new ClbPools();
  pools.listenerQuota = quota;
  return { pools, registry: new PortPoolRegistry(pools, { random: () => 0.5 }) };
}

Deno.test("allocate() with Uniform spreads a line's ports within 1 of even", () => {
  const { registry, pools } = registryWith(100);
  const ids = ["lb-a", "lb-b", "lb-c"];
  registry.set(pool("p", { exsistedLoadBalancerIDs: ids, lbPolicy: "Uniform" }), running(...ids));
  for (let i = 0; i < 100; i++) registry.allocate(`gs-${i}#7000`, ["p"], "TCPUDP", false);
  const counts = ids.map((id) => pools.held(id));
  assert.equal(counts.reduce((a, b) => a + b), 200);
  assert.ok(Math.max(...counts) - Math.min(...counts) <= 2, `${counts}`);
});

Deno.test("allocate() with InOrder fills the first CLB to its quota first", () => {
  const { registry, pools } = registryWith(10);
  const ids = ["lb-a", "lb-b"];
  registry.set(pool("p", { exsistedLoadBalancerIDs: ids, lbPolicy: "InOrder" }), running(...ids));
  for (let i = 0; i < 6; i++) registry.allocate(`gs-${i}#7000`, ["p"], "TCPUDP", false);
  assert.deepEqual([pools.held("lb-a"), pools.held("lb-b")], [10, 2]);
});

Deno.test("allocate() is idempotent and gives one port per pool (one address per line)", () => {
  const { registry } = registryWith(10);
  registry.set(pool("ctcc", { exsistedLoadBalancerIDs: ["lb-t"] }), running("lb-t"));
  registry.set(pool("cmcc", { exsistedLoadBalancerIDs: ["lb-m"] }), running("lb-m"));
  const first = registry.allocate("gs-0#7000", ["ctcc", "cmcc"], "UDP", false);
  assert.deepEqual(first.map((a) => [a.pool, a.lb]), [["ctcc", "lb-t"], ["cmcc", "lb-m"]]);
  assert.deepEqual(registry.allocate("gs-0#7000", ["ctcc", "cmcc"], "UDP", false), first);
});

Deno.test("allocate() with useSamePortAcrossPools gives one number on every line", () => {
  const { registry } = registryWith(10);
  registry.set(pool("ctcc", { exsistedLoadBalancerIDs: ["lb-t"] }), running("lb-t"));
  registry.set(pool("cmcc", { exsistedLoadBalancerIDs: ["lb-m"] }), running("lb-m"));
  // The CTCC line's first port is taken by another Pod: both lines move on together.
  registry.allocate("other#1", ["ctcc"], "UDP", false);
  const got = registry.allocate("gs-0#7000", ["ctcc", "cmcc"], "TCPUDP", true);
  assert.deepEqual(got.map((a) => a.ports[0].port), [30001, 30001]);
  assert.deepEqual(registry.allocate("gs-0#7000", ["ctcc", "cmcc"], "TCPUDP", true), got);
});

Deno.test("allocate() gives a blacklisted CLB no new port, and it keeps its own", () => {
  const { registry } = registryWith(10);
  const ids = ["lb-a", "lb-b"];
  registry.set(pool("p", { exsistedLoadBalancerIDs: ids, lbPolicy: "InOrder" }), running(...ids));
  const before = registry.allocate("gs-0#1", ["p"], "UDP", false);
  assert.equal(before[0].lb, "lb-a");
  registry.set(
    pool("p", { exsistedLoadBalancerIDs: ids, lbPolicy: "InOrder", lbBlacklist: ["lb-a"] }),
    running(...ids),
  );
  assert.deepEqual(registry.allocate("gs-0#1", ["p"], "UDP", false), before);
  assert.equal(registry.allocate("gs-1#1", ["p"], "UDP", false)[0].lb, "lb-b");
});

Deno.test("allocate() names TKE's state when a pool cannot serve", () => {
  const { registry } = registryWith(2);
  const state = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof PoolUnavailable);
      return err.state;
    }
    assert.fail("no error");
  };
  assert.equal(
    state(() => registry.allocate("x#1", ["missing"], "UDP", false)),
    "PortPoolNotFound",
  );
  registry.set(
    pool("seg", { exsistedLoadBalancerIDs: ["lb-s"], segmentLength: 10 }),
    running("lb-s"),
  );
  assert.equal(
    state(() => registry.allocate("x#1", ["seg"], "UDP", false)),
    "PortPoolNotAllocatable",
  );
  registry.set(pool("p", { exsistedLoadBalancerIDs: ["lb-a"] }), running("lb-a"));
  registry.allocate("x#1", ["p"], "TCPUDP", false);
  assert.equal(state(() => registry.allocate("y#1", ["p"], "UDP", false)), "NoPortAvailable");
});

Deno.test("parsePortPoolSpec() refuses what TKE refuses, with the reason", () => {
  assert.match(
    pool("q", {
      exsistedLoadBalancerIDs: ["lb-a"],
      listenerQuota: 50,
      autoCreate: { enabled: true },
    })
      .refused ?? "",
    /listenerQuota cannot be used with autoCreate/,
  );
  assert.match(
    pool("e", { endPort: 30100, listenerQuota: 50, exsistedLoadBalancerIDs: ["lb-a"] }).refused ??
      "",
    /endPort and listenerQuota/,
  );
  assert.match(pool("n", {}).refused ?? "", /no CLB/);
  assert.equal(
    pool("ok", { autoCreate: { enabled: true, maxLoadBalancers: 2 } }).refused,
    undefined,
  );
});

Deno.test("restore() of a TCPUDP line's two listeners gives the line back its one number", () => {
  const { registry } = registryWith(10);
  registry.set(pool("p", { exsistedLoadBalancerIDs: ["lb-a"] }), running("lb-a"));
  // As a binding's status lists them: TCP and UDP apart, one number.
  assert.equal(registry.restore("gs-0#7000", "p", "lb-a", 30005, "TCPUDP", false), undefined);
  assert.equal(registry.restore("gs-0#7000", "p", "lb-a", 30005, "TCPUDP", false), undefined);
  const got = registry.allocate("gs-0#7000", ["p"], "TCPUDP", false);
  assert.deepEqual(got.map((a) => [a.lb, a.ports]), [["lb-a", [{
    port: 30005,
    protocol: "TCPUDP",
  }]]]);
  // Another line is told who holds it.
  assert.equal(registry.restore("gs-1#7000", "p", "lb-a", 30005, "UDP", false), "gs-0#7000/p");
});
