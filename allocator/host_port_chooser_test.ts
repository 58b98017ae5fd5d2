import assert from "node:assert/strict";
import fc from "fast-check";
import { AllocationError } from "./errors.ts";
import { HostPortChooser } from "./host_port_chooser.ts";

Deno.test("choose() picks the ports used on the fewest nodes, ties broken next-fit", () => {
  const c = new HostPortChooser(8000, 8004);
  for (const n of ["n1", "n2", "n3"]) c.addNode(n);
  c.bind("x", "n1", [{ port: 8000, protocol: "TCP" }]);
  c.bind("y", "n2", [{ port: 8000, protocol: "UDP" }, { port: 8001, protocol: "UDP" }]);
  // 8000 is used on 2 nodes, 8001 on 1, the rest on none.
  assert.deepEqual(c.choose("a", ["UDP", "TCP"]), [8002, 8003]);
  assert.deepEqual(c.choose("b", ["TCPUDP"]), [8004]);
  // Now 8001..8004 are at 1, 8000 at 2: next-fit goes on after 8004, wrapping to 8001.
  assert.deepEqual(c.choose("c", ["UDP"]), [8001]);
  assert.equal(c.usage(8001), 2);
});

Deno.test("choose() is idempotent per owner and bind() moves the pending claim onto the node", () => {
  const c = new HostPortChooser(8000, 8009);
  c.addNode("n1");
  const first = c.choose("a", ["UDP"]);
  assert.deepEqual(c.choose("a", ["UDP"]), first);
  assert.equal(c.usage(first[0]), 1);
  assert.deepEqual(c.bind("a", "n1", [{ port: first[0], protocol: "UDP" }]), []);
  assert.equal(c.usage(first[0]), 1, "pending became bound: still one use");
  assert.ok(!c.isPending("a"));
  c.release("a");
  assert.equal(c.usage(first[0]), 0);
  assert.equal(c.nodeUsage("n1")!.used.UDP, 0);
});

Deno.test("bind() reports the owner already holding a port on that node and takes nothing from it", () => {
  const c = new HostPortChooser(8000, 8009);
  c.bind("a", "n1", [{ port: 8005, protocol: "TCP" }]);
  assert.deepEqual(
    c.bind("b", "n1", [{ port: 8005, protocol: "TCP" }, { port: 8006, protocol: "TCP" }]),
    ["a"],
  );
  assert.equal(c.ownerOf("n1", 8005, "TCP"), "a");
  assert.equal(c.ownerOf("n1", 8006, "TCP"), "b");
  assert.deepEqual(
    c.bind("c", "n2", [{ port: 8005, protocol: "TCP" }]),
    [],
    "another node is another space",
  );
});

Deno.test("bind() names the holder of a port it took in the same call before a clash", () => {
  // Found by the property test: the holder index, built at the clash, missed ports taken just before.
  const c = new HostPortChooser(100, 107);
  c.bind("a", "n3", [{ port: 101, protocol: "UDP" }]);
  assert.deepEqual(
    c.bind("c", "n3", [{ port: 100, protocol: "UDP" }, { port: 101, protocol: "UDP" }]),
    ["a"],
  );
  assert.deepEqual(c.bind("a", "n3", [{ port: 100, protocol: "UDP" }]), ["c"]);
  assert.equal(c.ownerOf("n3", 100, "UDP"), "c");
});

Deno.test("choose() fails as exhausted when every port is used on every node, and bad requests are refused", () => {
  const c = new HostPortChooser(8000, 8001);
  c.addNode("n1");
  c.choose("a", ["TCP", "UDP"]);
  assert.throws(
    () => c.choose("b", ["TCP"]),
    (e) => e instanceof AllocationError && e.code === "exhausted",
  );
  assert.ok(!c.isPending("b"), "nothing kept of a failed choice");
  c.addNode("n2");
  assert.equal(c.choose("b", ["TCP"]).length, 1, "a new node makes room");
  assert.throws(
    () => c.choose("z", []),
    (e) => e instanceof AllocationError && e.code === "invalid-request",
  );
  assert.throws(() => c.choose("z", ["SCTP" as "TCP"]), /Protocol must be TCP, UDP or TCPUDP/);
  assert.throws(
    () => c.choose("z", ["TCP", "TCP", "TCP"]),
    (e) => e instanceof AllocationError && e.code === "too-many",
  );
});

Deno.test("removeNode() frees what was bound there and forgets its owners", () => {
  const c = new HostPortChooser(8000, 8009);
  c.addNode("n1");
  c.bind("a", "n1", [{ port: 8003, protocol: "UDP" }, { port: 8003, protocol: "TCP" }]);
  assert.equal(c.usage(8003), 1, "one node uses 8003, in two protocols");
  assert.deepEqual(c.removeNode("n1"), ["a"]);
  assert.equal(c.usage(8003), 0);
  assert.equal(c.nodeOf("a"), undefined);
  assert.equal(c.nodeCount, 0);
  c.release("a");
  assert.equal(c.usage(8003), 0, "releasing a forgotten owner changes nothing");
});

Deno.test("sweepPending() drops a choice whose Pod never came, never before olderThanMs", () => {
  let now = 0;
  const c = new HostPortChooser(8000, 8009, { clock: () => now });
  c.addNode("n1");
  const [ghostPort] = c.choose("ghost", ["UDP"]);
  c.choose("live", ["UDP"]);
  c.restorePending("old", [8009], -100_000);
  now = 30_000;
  // choose() reads no clock: a choice's wait starts at the first sweep that sees it.
  assert.deepEqual(c.sweepPending((o) => o === "live", 60_000), ["old"]);
  now = 89_000;
  assert.deepEqual(c.sweepPending((o) => o === "live", 60_000), [], "seen 59 s ago");
  now = 90_000;
  assert.deepEqual(c.sweepPending((o) => o === "live", 60_000), ["ghost"]);
  assert.equal(c.usage(ghostPort), 0);
  assert.ok(c.isPending("live"));
  assert.deepEqual(c.snapshot().pending, [{ owner: "live", ports: [8001], since: 30_000 }]);
});

Deno.test("a reuse delay keeps a freed port least preferred until it expires", () => {
  let now = 0;
  const c = new HostPortChooser(8000, 8001, { reuseDelayMs: 1_000, clock: () => now });
  c.addNode("n1");
  c.addNode("n2");
  const [p] = c.choose("a", ["UDP"]);
  c.bind("a", "n1", [{ port: p, protocol: "UDP" }]);
  c.release("a");
  assert.equal(c.usage(p), 1, "still counted during the delay");
  assert.notEqual(c.choose("b", ["UDP"])[0], p);
  now = 1_000;
  assert.equal(c.snapshot().delayed, 0);
  assert.equal(c.usage(p), 0);
});

Deno.test("HostPortChooser keeps usage counts equal to a reference model and always picks the least used", () => {
  const nodes = ["n1", "n2", "n3"];
  const owners = ["a", "b", "c", "d", "e", "f"];
  type Proto = "TCP" | "UDP";
  type Op =
    | { k: "add" | "remove"; node: string }
    | { k: "choose"; owner: string; n: number }
    | { k: "bind"; owner: string; node: string; extra: number; proto: Proto; pendingProto: Proto }
    | { k: "release"; owner: string }
    | { k: "tick"; ms: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      k: fc.constantFrom("add" as const, "remove" as const),
      node: fc.constantFrom(...nodes),
    }),
    fc.record({
      k: fc.constant("choose" as const),
      owner: fc.constantFrom(...owners),
      n: fc.integer({ min: 1, max: 3 }),
    }),
    fc.record({
      k: fc.constant("bind" as const),
      owner: fc.constantFrom(...owners),
      node: fc.constantFrom(...nodes),
      // 8 is outside the range 100-107: ignored.
      extra: fc.integer({ min: 0, max: 8 }),
      proto: fc.constantFrom<Proto>("TCP", "UDP"),
      pendingProto: fc.constantFrom<Proto>("TCP", "UDP"),
    }),
    fc.record({ k: fc.constant("release" as const), owner: fc.constantFrom(...owners) }),
    fc.record({ k: fc.constant("tick" as const), ms: fc.integer({ min: 0, max: 30 }) }),
  );
  fc.assert(
    fc.property(fc.constantFrom(0, 0, 20), fc.array(op, { maxLength: 40 }), (delay, ops) => {
      const min = 100;
      const max = 107;
      let now = 0;
      const c = new HostPortChooser(min, max, { reuseDelayMs: delay, clock: () => now });
      const live = new Set<string>();
      const pending = new Map<string, number[]>();
      /** owner → node and "port/proto" keys. */
      const bound = new Map<string, { node: string; keys: string[] }>();
      /** Freed ports still counted: port and until. */
      let delayed: { port: number; until: number }[] = [];
      const portOf = (key: string) => Number(key.split("/")[0]);
      const usedOn = (node: string, port: number) =>
        [...bound.values()].some((b) => b.node === node && b.keys.some((k) => portOf(k) === port));
      const usage = (port: number) => {
        let n = [...pending.values()].filter((ps) => ps.includes(port)).length;
        for (const node of new Set([...bound.values()].map((b) => b.node))) {
          if (usedOn(node, port)) n++;
        }
        return n + delayed.filter((d) => d.port === port).length;
      };
      const unbind = (owner: string) => {
        const b = bound.get(owner);
        if (!b) return;
        bound.delete(owner);
        for (const port of new Set(b.keys.map(portOf))) {
          if (delay > 0 && !usedOn(b.node, port)) delayed.push({ port, until: now + delay });
        }
      };
      for (const o of ops) {
        delayed = delayed.filter((d) => d.until > now);
        if (o.k === "tick") {
          now += o.ms;
          delayed = delayed.filter((d) => d.until > now);
        } else if (o.k === "add") {
          c.addNode(o.node);
          live.add(o.node);
        } else if (o.k === "remove") {
          const gone = c.removeNode(o.node).sort();
          const expected = [...bound].filter(([, b]) => b.node === o.node).map(([w]) => w).sort();
          assert.deepEqual(gone, expected, "removeNode returns the node's owners");
          for (const w of expected) bound.delete(w);
          live.delete(o.node);
        } else if (o.k === "choose") {
          if (bound.has(o.owner)) {
            assert.throws(() => c.choose(o.owner, ["UDP"]), /already bound/);
            continue;
          }
          const before = new Map(Array.from({ length: 8 }, (_, i) => [min + i, usage(min + i)]));
          try {
            const ports = c.choose(o.owner, Array(o.n).fill("UDP"));
            if (pending.has(o.owner)) {
              assert.deepEqual(ports, pending.get(o.owner), "idempotent");
              continue;
            }
            assert.equal(ports.length, o.n);
            assert.equal(new Set(ports).size, ports.length, "distinct ports");
            // No port left out was used less than a chosen one.
            const worstChosen = Math.max(...ports.map((p) => before.get(p)!));
            for (const [p, u] of before) {
              if (!ports.includes(p)) assert.ok(u >= Math.min(...ports.map((q) => before.get(q)!)));
            }
            assert.ok(
              [...before.values()].filter((u) => u < worstChosen).length < o.n,
              "every chosen port is among the n least used",
            );
            assert.ok(live.size === 0 || worstChosen < live.size, "exhaustion is reported");
            pending.set(o.owner, ports);
          } catch (err) {
            assert.ok(err instanceof AllocationError && err.code === "exhausted", String(err));
            const sorted = [...before.values()].sort((x, y) => x - y);
            assert.ok(live.size > 0 && sorted[o.n - 1] >= live.size, "exhausted only when so");
          }
        } else if (o.k === "bind") {
          const ports = [
            ...(pending.get(o.owner) ?? []).map((port) => ({ port, protocol: o.pendingProto })),
            { port: min + o.extra, protocol: o.proto },
          ];
          const holders = c.bind(o.owner, o.node, ports);
          pending.delete(o.owner);
          live.add(o.node);
          const prev = bound.get(o.owner);
          if (prev && prev.node !== o.node) unbind(o.owner);
          const kept = prev && prev.node === o.node ? prev.keys : [];
          const others = [...bound].filter(([w, b]) => w !== o.owner && b.node === o.node);
          const mine = new Set(kept);
          const expectHolders = new Set<string>();
          for (const { port, protocol } of ports) {
            if (port > max) continue;
            const key = `${port}/${protocol}`;
            const holder = others.find(([, b]) => b.keys.includes(key));
            if (holder) expectHolders.add(holder[0]);
            else mine.add(key);
          }
          assert.deepEqual(holders.sort(), [...expectHolders].sort(), "clashes name the holders");
          if (mine.size > 0) bound.set(o.owner, { node: o.node, keys: [...mine] });
          else bound.delete(o.owner);
        } else if (o.k === "release") {
          c.release(o.owner);
          pending.delete(o.owner);
          unbind(o.owner);
        }
        for (let p = min; p <= max; p++) assert.equal(c.usage(p), usage(p), `usage of ${p}`);
        for (const [w, b] of bound) {
          assert.equal(c.nodeOf(w), b.node);
          for (const key of b.keys) {
            const [port, proto] = key.split("/");
            assert.equal(c.ownerOf(b.node, Number(port), proto as Proto), w);
          }
        }
      }
    }),
    { numRuns: 3_000 },
  );
});
