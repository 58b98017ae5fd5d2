import assert from "node:assert/strict";
import fc from "fast-check";
import { testSeed } from "../tests/test_seed.ts";
import { AllocationError } from "./errors.ts";
import { HostPortChooser } from "./host_port_chooser.ts";

Deno.test("choose() picks the ports taken on the fewest nodes per protocol, ties broken next-fit", () => {
  const c = new HostPortChooser(8000, 8004);
  for (const n of ["n1", "n2", "n3"]) c.addNode(n);
  c.bind("x", "n1", [{ port: 8000, protocol: "TCP" }]);
  c.bind("y", "n2", [{ port: 8000, protocol: "UDP" }, { port: 8001, protocol: "UDP" }]);
  // UDP: 8000 and 8001 on one node each. TCP: 8000 on one. Either: 8000 on two, 8001 on one.
  assert.deepEqual(c.choose("a", ["UDP", "TCP"]), [8002, 8003]);
  assert.deepEqual(c.choose("b", ["TCPUDP"]), [8004]);
  // UDP now: 8000, 8001, 8002 (a), 8004 (b) at 1; 8003 is held only in TCP (a): free in UDP.
  assert.deepEqual(c.choose("c", ["UDP"]), [8003]);
  assert.equal(c.usage(8003, "UDP"), 1);
  assert.equal(c.usage(8003, "TCP"), 1);
  assert.equal(c.usage(8003), 2, "two claims on 8003, in one protocol each");
  // TCP: 8001 is the only number no node or claim takes in TCP.
  assert.deepEqual(c.choose("d", ["TCP"]), [8001]);
});

Deno.test("choose() gives a UDP port while TCP Pods hold every number on the only node", () => {
  const c = new HostPortChooser(8000, 8001);
  c.addNode("n1");
  c.bind("tcp-0", "n1", [{ port: 8000, protocol: "TCP" }]);
  c.bind("tcp-1", "n1", [{ port: 8001, protocol: "TCP" }]);
  assert.deepEqual(c.choose("udp", ["UDP"]), [8000]);
  assert.throws(
    () => c.choose("more-tcp", ["TCP"]),
    (e) =>
      e instanceof AllocationError && e.code === "exhausted" &&
      /No TCP host port in 8000-8001 is free on any of the 1 nodes/.test(e.message),
  );
  assert.throws(
    () => c.choose("both", ["TCPUDP"]),
    (e) =>
      e instanceof AllocationError && e.code === "exhausted" &&
      /No host port free in both TCP and UDP in 8000-8001/.test(e.message),
  );
  assert.deepEqual(c.choose("udp-2", ["UDP"]), [8001]);
  assert.equal(c.snapshot().nodes[0].pool.free.UDP, 2, "pending choices are not on a node yet");
});

Deno.test("choose() takes TCPUDP entries first, so a TCP entry never takes the one number free in both", () => {
  const c = new HostPortChooser(8000, 8002);
  c.addNode("n1");
  c.bind("u", "n1", [{ port: 8000, protocol: "UDP" }, { port: 8002, protocol: "UDP" }]);
  // Only 8001 is free in both; 8000 and 8002 are free in TCP.
  const [tcp, both] = c.choose("a", ["TCP", "TCPUDP"]);
  assert.equal(both, 8001);
  assert.notEqual(tcp, 8001);
});

Deno.test("choose() lets a TCP and a UDP entry share a number when it is the only one left", () => {
  const c = new HostPortChooser(8000, 8000);
  c.addNode("n1");
  assert.deepEqual(c.choose("a", ["UDP", "TCP"]), [8000, 8000]);
  assert.throws(() => c.choose("b", ["UDP", "UDP"]), /too-many|holds only 1/);
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
  c.choose("a", ["TCPUDP", "TCPUDP"]);
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

Deno.test("release() drops a pending choice and its counts", () => {
  const c = new HostPortChooser(8000, 8009);
  c.addNode("n1");
  const [udp, both] = c.choose("ghost", ["UDP", "TCPUDP"]);
  assert.deepEqual(c.snapshot().pending, [
    { owner: "ghost", ports: [udp, both], protocols: ["UDP", "TCPUDP"] },
  ]);
  assert.equal(c.usage(both, "TCP"), 1);
  c.release("ghost");
  assert.equal(c.usage(udp), 0);
  assert.equal(c.usage(both), 0);
  assert.ok(!c.isPending("ghost"));
});

Deno.test("restorePending() keeps a number held in TCP and UDP as one TCPUDP entry", () => {
  const c = new HostPortChooser(8000, 8009);
  c.restorePending("gs", [
    { port: 8003, protocol: "TCP" },
    { port: 8003, protocol: "UDP" },
    { port: 8004, protocol: "UDP" },
    { port: 80, protocol: "TCP" },
  ]);
  assert.deepEqual(c.snapshot().pending, [
    { owner: "gs", ports: [8003, 8004], protocols: ["TCPUDP", "UDP"] },
  ]);
  assert.equal(c.usage(8004, "TCP"), 0);
  assert.equal(c.usage(8004, "UDP"), 1);
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

Deno.test("snapshot() counts each node's delayed ports, per protocol, out of its free ones", () => {
  let now = 0;
  const c = new HostPortChooser(8000, 8009, { reuseDelayMs: 30_000, clock: () => now });
  c.bind("a", "n1", [{ port: 8000, protocol: "UDP" }, { port: 8001, protocol: "TCP" }]);
  c.release("a");
  const pool = c.snapshot().nodes[0].pool;
  assert.deepEqual(pool.used, { TCP: 0, UDP: 0 });
  assert.deepEqual(pool.delayed, { TCP: 1, UDP: 1 });
  assert.deepEqual(pool.free, { TCP: 9, UDP: 9 });
  assert.equal(c.snapshot().delayed, 2);
  // The scheduler may still put a Pod on a delayed port: that ends the delay there.
  c.bind("b", "n1", [{ port: 8000, protocol: "UDP" }]);
  assert.deepEqual(c.nodeUsage("n1"), {
    used: { TCP: 0, UDP: 1 },
    free: { TCP: 9, UDP: 9 },
    delayed: { TCP: 1, UDP: 0 },
  });
  assert.equal(c.usage(8000, "UDP"), 1, "bound once, not also delayed");
  now = 30_000;
  assert.equal(c.usage(8000, "UDP"), 1, "the ended delay does not uncount the new Pod");
  assert.equal(c.usage(8001, "TCP"), 0);
  assert.deepEqual(c.nodeUsage("n1")!.delayed, { TCP: 0, UDP: 0 });
});

Deno.test("choose() says when only ports in their reuse delay stand in the way", () => {
  let now = 0;
  const c = new HostPortChooser(8000, 8000, { reuseDelayMs: 30_000, clock: () => now });
  c.bind("a", "n1", [{ port: 8000, protocol: "UDP" }]);
  c.release("a");
  now = 10_000;
  assert.throws(
    () => c.choose("b", ["UDP"]),
    (e) =>
      e instanceof AllocationError && e.code === "exhausted-delayed" && e.retryAfterMs === 20_000 &&
      /1 freed host port\(s\) are held back by the reuse delay, the first for another 20 s/.test(
        e.message,
      ),
  );
  now = 30_000;
  assert.deepEqual(c.choose("b", ["UDP"]), [8000]);
});

Deno.test("removeNode() costs what the node holds and forgets its delayed ports", () => {
  let now = 0;
  const c = new HostPortChooser(8000, 8009, { reuseDelayMs: 1_000, clock: () => now });
  c.bind("a", "n1", [{ port: 8000, protocol: "UDP" }]);
  c.bind("b", "n1", [{ port: 8001, protocol: "TCP" }]);
  c.bind("c", "n2", [{ port: 8000, protocol: "UDP" }]);
  c.release("a");
  assert.equal(c.usage(8000, "UDP"), 2);
  assert.deepEqual(c.removeNode("n1"), ["b"]);
  assert.equal(c.usage(8000, "UDP"), 1, "n1's delay went with it");
  assert.equal(c.usage(8001, "TCP"), 0);
  assert.equal(c.snapshot().delayed, 0);
  c.addNode("n1");
  now = 1_000;
  assert.equal(c.usage(8000, "UDP"), 1, "the old entry does not touch the new n1");
});

Deno.test("HostPortChooser keeps per-protocol usage equal to a reference model and chooses the least used", () => {
  const nodes = ["n1", "n2", "n3"];
  const owners = ["a", "b", "c", "d", "e", "f"];
  type Proto = "TCP" | "UDP";
  type Asked = Proto | "TCPUDP";
  const PROTOCOLS: Asked[] = ["TCP", "UDP", "TCPUDP"];
  type Op =
    | { k: "add" | "remove"; node: string }
    | { k: "choose"; owner: string; protocols: Asked[] }
    | { k: "bind"; owner: string; node: string; extra: number; proto: Proto }
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
      protocols: fc.array(fc.constantFrom(...PROTOCOLS), { minLength: 1, maxLength: 3 }),
    }),
    fc.record({
      k: fc.constant("bind" as const),
      owner: fc.constantFrom(...owners),
      node: fc.constantFrom(...nodes),
      // 8 is outside the range 100-107: ignored.
      extra: fc.integer({ min: 0, max: 8 }),
      proto: fc.constantFrom<Proto>("TCP", "UDP"),
    }),
    fc.record({ k: fc.constant("release" as const), owner: fc.constantFrom(...owners) }),
    fc.record({ k: fc.constant("tick" as const), ms: fc.integer({ min: 0, max: 30 }) }),
  );
  fc.assert(
    fc.property(fc.constantFrom(0, 0, 20), fc.array(op, { maxLength: 40 }), (delay, ops) => {
      const min = 100;
      const max = 107;
      const range = Array.from({ length: max - min + 1 }, (_, i) => min + i);
      let now = 0;
      const c = new HostPortChooser(min, max, { reuseDelayMs: delay, clock: () => now });
      const live = new Set<string>();
      const pending = new Map<string, { ports: number[]; protocols: Asked[] }>();
      /** owner → node and "port/proto" keys. */
      const bound = new Map<string, { node: string; keys: string[] }>();
      /** Freed ports still taken on their node until their time. */
      let delayed: { node: string; key: string; until: number }[] = [];
      const taken = (node: string, port: number, proto: Proto) =>
        [...bound.values()].some((b) => b.node === node && b.keys.includes(`${port}/${proto}`)) ||
        delayed.some((d) => d.node === node && d.key === `${port}/${proto}`);
      const usage = (port: number, asked: Asked) => {
        let n = 0;
        for (const { ports, protocols } of pending.values()) {
          ports.forEach((p, k) => {
            if (
              p === port &&
              (asked === "TCPUDP" || protocols[k] === asked || protocols[k] === "TCPUDP")
            ) n++;
          });
        }
        for (const node of live) {
          const tcp = taken(node, port, "TCP");
          const udp = taken(node, port, "UDP");
          if (asked === "TCP" ? tcp : asked === "UDP" ? udp : tcp || udp) n++;
        }
        return n;
      };
      const unbind = (owner: string) => {
        const b = bound.get(owner);
        if (!b) return;
        bound.delete(owner);
        if (delay > 0) {
          for (const key of b.keys) delayed.push({ node: b.node, key, until: now + delay });
        }
      };
      for (const o of ops) {
        if (o.k === "tick") {
          now += o.ms;
        } else if (o.k === "add") {
          c.addNode(o.node);
          live.add(o.node);
        } else if (o.k === "remove") {
          const gone = c.removeNode(o.node).sort();
          const expected = [...bound].filter(([, b]) => b.node === o.node).map(([w]) => w).sort();
          assert.deepEqual(gone, expected, "removeNode returns the node's owners");
          for (const w of expected) bound.delete(w);
          delayed = delayed.filter((d) => d.node !== o.node);
          live.delete(o.node);
        } else if (o.k === "choose") {
          delayed = delayed.filter((d) => d.until > now);
          if (bound.has(o.owner)) {
            assert.throws(() => c.choose(o.owner, o.protocols), /already bound/);
            continue;
          }
          const before = (port: number, asked: Asked) => usage(port, asked);
          const snapshot = new Map(
            range.flatMap((p) => PROTOCOLS.map((a) => [`${p}/${a}`, before(p, a)] as const)),
          );
          const u = (p: number, a: Asked) => snapshot.get(`${p}/${a}`)!;
          const asked = o.protocols;
          const m = asked.filter((a) => a === "TCPUDP").length;
          const feasible = (a: Asked) => range.filter((p) => u(p, a) < live.size).length;
          const possible = live.size === 0 ||
            (feasible("TCPUDP") >= m &&
              feasible("TCP") - m >= asked.filter((a) => a === "TCP").length &&
              feasible("UDP") - m >= asked.filter((a) => a === "UDP").length);
          let ports: number[];
          try {
            ports = c.choose(o.owner, asked);
          } catch (err) {
            assert.ok(
              err instanceof AllocationError &&
                (err.code === "exhausted" || err.code === "exhausted-delayed"),
              String(err),
            );
            assert.ok(!possible, "exhausted only when no assignment exists");
            continue;
          }
          if (pending.has(o.owner)) {
            assert.deepEqual(ports, pending.get(o.owner)!.ports, "idempotent");
            continue;
          }
          assert.ok(possible, "a choice is made only when one exists");
          assert.equal(ports.length, asked.length);
          // In the chooser's order (TCPUDP first), each entry took a least used port
          // among those the earlier entries left it.
          const order = [...asked.keys()].sort((a, b) =>
            (asked[a] === "TCPUDP" ? 0 : 1) - (asked[b] === "TCPUDP" ? 0 : 1) || a - b
          );
          const clash = (a: Asked, b: Asked) => a === "TCPUDP" || b === "TCPUDP" || a === b;
          const done: number[] = [];
          for (const n of order) {
            const hidden = new Set(
              done.filter((k) => clash(asked[k], asked[n])).map((k) => ports[k]),
            );
            assert.ok(!hidden.has(ports[n]), "no number twice where the protocols clash");
            for (const q of range) {
              if (!hidden.has(q)) assert.ok(u(q, asked[n]) >= u(ports[n], asked[n]), "least used");
            }
            assert.ok(live.size === 0 || u(ports[n], asked[n]) < live.size, "free on some node");
            done.push(n);
          }
          pending.set(o.owner, { ports, protocols: [...asked] });
        } else if (o.k === "bind") {
          delayed = delayed.filter((d) => d.until > now);
          const chosen = pending.get(o.owner);
          const ports = [
            ...(chosen?.ports ?? []).flatMap((port, k) =>
              (chosen!.protocols[k] === "TCPUDP"
                ? ["TCP", "UDP"] as Proto[]
                : [chosen!.protocols[k] as Proto])
                .map((protocol) => ({ port, protocol }))
            ),
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
            if (holder) {
              expectHolders.add(holder[0]);
            } else {
              mine.add(key);
              delayed = delayed.filter((d) => !(d.node === o.node && d.key === key));
            }
          }
          assert.deepEqual(holders.sort(), [...expectHolders].sort(), "clashes name the holders");
          if (mine.size > 0) bound.set(o.owner, { node: o.node, keys: [...mine] });
          else bound.delete(o.owner);
        } else if (o.k === "release") {
          c.release(o.owner);
          pending.delete(o.owner);
          unbind(o.owner);
        }
        delayed = delayed.filter((d) => d.until > now);
        for (const p of range) {
          for (const a of PROTOCOLS) assert.equal(c.usage(p, a), usage(p, a), `usage of ${p}/${a}`);
        }
        assert.equal(c.ownerCount, bound.size, "owners bound");
        for (const [w, b] of bound) {
          assert.equal(c.nodeOf(w), b.node);
          for (const key of b.keys) {
            const [port, proto] = key.split("/");
            assert.equal(c.ownerOf(b.node, Number(port), proto as Proto), w);
          }
        }
        for (const { node, pool } of c.snapshot().nodes) {
          for (const proto of ["TCP", "UDP"] as const) {
            const d = delayed.filter((x) => x.node === node && x.key.endsWith(`/${proto}`)).length;
            assert.equal(pool.delayed[proto], d, `delayed ${proto} on ${node}`);
            assert.equal(pool.used[proto] + pool.free[proto] + pool.delayed[proto], range.length);
          }
        }
      }
    }),
    { numRuns: 3_000, seed: testSeed() },
  );
});

Deno.test("choose() with evenIfFull gives the least used port when no node has one free", () => {
  const c = new HostPortChooser(8000, 8001);
  c.addNode("n1");
  c.bind("a", "n1", [{ port: 8000, protocol: "UDP" }]);
  c.bind("b", "n1", [{ port: 8001, protocol: "UDP" }]);
  assert.throws(() => c.choose("c", ["UDP"]), /No UDP host port/);
  const [first] = c.choose("c", ["UDP"], { evenIfFull: true });
  assert.ok(c.waitsForNode("c"));
  // The next one goes to the other number: claims spread.
  const [second] = c.choose("d", ["UDP"], { evenIfFull: true });
  assert.notEqual(first, second);
  assert.ok(!c.waitsForNode("a"), "a bound owner waits for nothing");
  // A node joins: every port is free on it, nobody waits.
  c.addNode("n2");
  assert.ok(!c.waitsForNode("c") && !c.waitsForNode("d"));
  c.bind("c", "n2", [{ port: first, protocol: "UDP" }]);
  assert.equal(c.nodeOf("c"), "n2");
});

Deno.test("chooseOn() holds ports free on the node at once, TCPUDP free in both", () => {
  const chooser = new HostPortChooser(8000, 8003);
  chooser.addNode("n1");
  chooser.bind("other", "n1", [{ port: 8000, protocol: "UDP" }]);
  const first = chooser.chooseOn("a", "n1", ["TCPUDP", "UDP"])!;
  assert.equal(first.length, 2);
  assert.notEqual(first[0], 8000, "8000 is taken in UDP, so not free in both");
  assert.equal(chooser.nodeOf("a"), "n1");
  const second = chooser.chooseOn("b", "n1", ["UDP"])!;
  assert.ok(![8000, ...first].includes(second[0]), `${second} clashes with ${first}`);
  assert.deepEqual(chooser.chooseOn("a", "n1", ["TCPUDP", "UDP"]), first, "reinvoked: the same");
  assert.throws(() => chooser.chooseOn("c", "n1", ["UDP"]), /n1 has no UDP port free/);
  assert.equal(chooser.chooseOn("d", "unknown-node", ["UDP"]), undefined);
  assert.deepEqual(chooser.chooseOn("e", "n1", ["TCP"], { dryRun: true })?.length, 1);
  assert.equal(chooser.nodeOf("e"), undefined, "a dry run holds nothing");
});
