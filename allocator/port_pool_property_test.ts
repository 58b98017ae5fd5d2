/**
 * Property test: random sequences of allocate / release / reserve /
 * restore / ownerOf / time steps on a PortPool, checked after every step
 * against a plain reference model (a Map per port, arrays per owner, a
 * list of delayed ports, brute-force feasibility).
 *
 * Invariants: no port held by two owners; all or nothing (a failed call
 * leaves the snapshot as it was, and fails only when the model finds no
 * answer either); idempotency (the same owner gets the same answer, also
 * after a restore); release frees exactly what was held; counts match;
 * restore of every owner into a fresh pool gives the same snapshot.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { testSeed } from "../tests/test_seed.ts";
import { AllocationError } from "./errors.ts";
import {
  type AllocatedPort,
  type HeldPort,
  PortPool,
  type PortSpec,
  type Protocol,
  type RequestProtocol,
} from "./port_pool.ts";

const OWNERS = ["a", "b", "c", "d", "e"];
const PROTOCOLS: RequestProtocol[] = ["TCP", "UDP", "TCPUDP"];

type Op =
  | { kind: "allocate"; owner: string; specs: PortSpec[]; contiguous: boolean }
  | { kind: "release"; owner: string }
  | { kind: "reserve"; owner: string; offset: number; protocol: RequestProtocol }
  | { kind: "restore"; owner: string; ports: { offset: number; protocol: RequestProtocol }[] }
  | { kind: "ownerOf"; offset: number; protocol: Protocol }
  | { kind: "tick"; ms: number };

const op = (size: number): fc.Arbitrary<Op> =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        kind: fc.constant("allocate" as const),
        owner: fc.constantFrom(...OWNERS),
        specs: fc.array(
          fc.record({
            protocol: fc.constantFrom(...PROTOCOLS),
            // Offsets 0 and size + 1 fall just outside the range.
            port: fc.option(fc.integer({ min: 0, max: size + 1 }), { nil: undefined, freq: 4 }),
          }, { requiredKeys: ["protocol"] }),
          { minLength: 1, maxLength: 4 },
        ),
        contiguous: fc.boolean(),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant("release" as const),
        owner: fc.constantFrom(...OWNERS),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("reserve" as const),
        owner: fc.constantFrom(...OWNERS),
        offset: fc.integer({ min: 0, max: size - 1 }),
        protocol: fc.constantFrom(...PROTOCOLS),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("restore" as const),
        owner: fc.constantFrom(...OWNERS),
        ports: fc.array(
          fc.record({
            offset: fc.integer({ min: 0, max: size - 1 }),
            protocol: fc.constantFrom(...PROTOCOLS),
          }),
          { maxLength: 3 },
        ),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("ownerOf" as const),
        offset: fc.integer({ min: 0, max: size - 1 }),
        protocol: fc.constantFrom<Protocol>("TCP", "UDP"),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant("tick" as const),
        ms: fc.integer({ min: 0, max: 40 }),
      }),
    },
  );

function expand(p: RequestProtocol): Protocol[] {
  return p === "TCPUDP" ? ["TCP", "UDP"] : [p];
}

const k = (port: number, p: Protocol) => `${port}/${p}`;

/** What the model expects from a call: success, or one error code (with owners for conflicts). */
type Expect = { ok: true } | { codes: string[]; owners?: string[] };

/** The reference: who holds what, in which order, and which ports wait until when. */
class Model {
  held = new Map<string, string>(); // "port/proto" → owner
  owners = new Map<string, AllocatedPort[]>();
  delayed: { k: string; until: number }[] = [];
  constructor(readonly min: number, readonly max: number, readonly delay: number) {}

  get size() {
    return this.max - this.min + 1;
  }
  expire(now: number) {
    this.delayed = this.delayed.filter((d) => d.until > now);
  }
  isDelayed(port: number, p: Protocol) {
    return this.delayed.some((d) => d.k === k(port, p));
  }
  busy(port: number, p: Protocol): boolean {
    return this.held.has(k(port, p)) || this.isDelayed(port, p);
  }
  free(p: Protocol, counting = (_port: number) => true): number {
    let n = 0;
    for (let port = this.min; port <= this.max; port++) {
      if (!this.busy(port, p) && counting(port)) n++;
    }
    return n;
  }
  /** The error for a named port that is busy in `p`. */
  busyError(port: number, p: Protocol, owner: string): Expect {
    const holder = this.held.get(k(port, p));
    return holder !== undefined
      ? { codes: ["conflict"], owners: [holder, owner] }
      : { codes: ["port-delayed"] };
  }
  /** Can dynamic specs be met, with ports in `taken` ("port/proto") also busy? */
  feasible(dynamic: PortSpec[], taken: Set<string>, delayedFree = false): boolean {
    const ok = (port: number, p: Protocol) =>
      !taken.has(k(port, p)) && !this.held.has(k(port, p)) &&
      (delayedFree || !this.isDelayed(port, p));
    let both = 0, tcp = 0, udp = 0;
    for (let port = this.min; port <= this.max; port++) {
      const t = ok(port, "TCP"), u = ok(port, "UDP");
      if (t && u) both++;
      if (t) tcp++;
      if (u) udp++;
    }
    const n = (p: RequestProtocol) => dynamic.filter((s) => s.protocol === p).length;
    const kk = n("TCPUDP");
    return both >= kk && tcp >= kk + n("TCP") && udp >= kk + n("UDP");
  }
  blockFits(specs: PortSpec[], start: number): boolean {
    return specs.every((s, i) => expand(s.protocol).every((p) => !this.busy(start + i, p)));
  }
  expectAllocate(owner: string, specs: PortSpec[], contiguous: boolean): Expect {
    if (specs.length > this.size) return { codes: ["too-many"] };
    if (specs.some((s) => s.port !== undefined && (s.port < this.min || s.port > this.max))) {
      return { codes: ["out-of-range"] };
    }
    const named = specs.map((s, i) => ({ s, i })).filter(({ s }) => s.port !== undefined);
    if (contiguous) {
      if (named.length > 0) {
        const start = named[0].s.port! - named[0].i;
        if (named.some(({ s, i }) => s.port! - i !== start)) return { codes: ["invalid-request"] };
        if (start < this.min || start + specs.length - 1 > this.max) {
          return { codes: ["out-of-range"] };
        }
        for (let i = 0; i < specs.length; i++) {
          for (const p of expand(specs[i].protocol)) {
            if (this.busy(start + i, p)) return this.busyError(start + i, p, owner);
          }
        }
        return { ok: true };
      }
      for (let start = this.min; start + specs.length - 1 <= this.max; start++) {
        if (this.blockFits(specs, start)) return { ok: true };
      }
      return { codes: ["exhausted", "exhausted-delayed"] };
    }
    const taken = new Set<string>();
    for (const { s } of named) {
      for (const p of expand(s.protocol)) {
        if (taken.has(k(s.port!, p))) return { codes: ["invalid-request"] };
      }
      for (const p of expand(s.protocol)) {
        if (this.busy(s.port!, p)) return this.busyError(s.port!, p, owner);
      }
      for (const p of expand(s.protocol)) taken.add(k(s.port!, p));
    }
    const dynamic = specs.filter((s) => s.port === undefined);
    return this.feasible(dynamic, taken)
      ? { ok: true }
      : { codes: ["exhausted", "exhausted-delayed"] };
  }
  /** Mirrors PortPool's claim: returns the other holder, or takes what is not yet the owner's. */
  claim(owner: string, port: number, protocol: RequestProtocol): string | undefined {
    for (const p of expand(protocol)) {
      const h = this.held.get(k(port, p));
      if (h !== undefined && h !== owner) return h;
    }
    const added: Protocol[] = [];
    for (const p of expand(protocol)) {
      if (this.held.get(k(port, p)) === owner) continue;
      this.delayed = this.delayed.filter((d) => d.k !== k(port, p));
      this.held.set(k(port, p), owner);
      added.push(p);
    }
    if (added.length === 0) return undefined;
    const list = this.owners.get(owner) ?? [];
    if (added.length === 2) list.push({ port, protocol });
    else list.push({ port, protocol: added[0] });
    this.owners.set(owner, list);
    return undefined;
  }
  hold(owner: string, answer: readonly AllocatedPort[]) {
    for (const a of answer) for (const p of expand(a.protocol)) this.held.set(k(a.port, p), owner);
    this.owners.set(owner, [...answer]);
  }
  release(owner: string, now: number): HeldPort[] {
    const freed: HeldPort[] = [];
    for (const a of this.owners.get(owner) ?? []) {
      for (const p of expand(a.protocol)) {
        freed.push({ port: a.port, protocol: p });
        this.held.delete(k(a.port, p));
        if (this.delay > 0) this.delayed.push({ k: k(a.port, p), until: now + this.delay });
      }
    }
    this.owners.delete(owner);
    return freed;
  }
}

/** Whether `held` answers `specs` (what PortPool replays for an owner asking again). */
function answers(held: AllocatedPort[], specs: PortSpec[], contiguous: boolean): boolean {
  return held.length === specs.length &&
    specs.every((s, i) =>
      held[i].protocol === s.protocol && (s.port === undefined || held[i].port === s.port) &&
      (!contiguous || i === 0 || held[i].port === held[i - 1].port + 1)
    );
}

const byPort = (a: HeldPort, b: HeldPort) =>
  a.port - b.port || (a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : 0);

function check(pool: PortPool, model: Model) {
  const snap = pool.snapshot();
  assert.deepEqual(snap.owners.map((o) => o.owner), [...model.owners.keys()].sort(), "owners");
  const seen = new Set<string>();
  for (const o of snap.owners) {
    assert.deepEqual(pool.ports(o.owner), model.owners.get(o.owner), `ports of ${o.owner}`);
    for (const p of o.ports) {
      assert.ok(!seen.has(k(p.port, p.protocol)), `${k(p.port, p.protocol)} held twice`);
      seen.add(k(p.port, p.protocol));
      assert.ok(p.port >= model.min && p.port <= model.max, "in range");
    }
  }
  for (const p of ["TCP", "UDP"] as const) {
    const used = [...model.held.keys()].filter((key) => key.endsWith(`/${p}`)).length;
    const delayed = model.delayed.filter((d) => d.k.endsWith(`/${p}`)).length;
    assert.equal(snap.used[p], used, `used ${p}`);
    assert.equal(snap.delayed[p], delayed, `delayed ${p}`);
    assert.equal(snap.free[p], model.size - used - delayed, `free ${p}`);
  }
}

Deno.test("PortPool matches a reference model over random operation sequences", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 70 }).chain((size) =>
        fc.tuple(
          fc.constant(size),
          fc.constantFrom(0, 0, 25),
          fc.array(op(size), { maxLength: 30 }),
        )
      ),
      ([size, delay, ops]) => {
        let now = 1_000;
        const min = 1000;
        const max = min + size - 1;
        const pool = new PortPool(min, max, { reuseDelayMs: delay, clock: () => now });
        const model = new Model(min, max, delay);
        /** Every answer handed out, with a copy: none may change afterwards. */
        const given: { answer: readonly AllocatedPort[]; copy: AllocatedPort[] }[] = [];
        /** The request each owner's current holding answered, to replay after a restore. */
        const requests = new Map<string, { specs: PortSpec[]; contiguous: boolean }>();
        for (const o of ops) {
          model.expire(now);
          const before = pool.snapshot();
          switch (o.kind) {
            case "tick":
              now += o.ms;
              model.expire(now);
              break;
            case "ownerOf": {
              const port = min + o.offset;
              assert.equal(pool.ownerOf(port, o.protocol), model.held.get(k(port, o.protocol)));
              break;
            }
            case "release": {
              const freed = pool.release(o.owner);
              assert.deepEqual(
                [...freed].sort(byPort),
                model.release(o.owner, now).sort(byPort),
                "release frees exactly",
              );
              requests.delete(o.owner);
              break;
            }
            case "reserve": {
              const port = min + o.offset;
              const copy = new Model(min, max, delay);
              copy.held = new Map(model.held);
              const other = expand(o.protocol).map((p) => model.held.get(k(port, p))).find((h) =>
                h !== undefined && h !== o.owner
              );
              try {
                pool.reserve(port, o.protocol, o.owner);
                assert.equal(other, undefined, "reserve never takes another's port");
                model.claim(o.owner, port, o.protocol);
              } catch (err) {
                assert.ok(err instanceof AllocationError && err.code === "conflict", String(err));
                assert.deepEqual(err.owners, [other, o.owner], "both owners named");
                assert.deepEqual(pool.snapshot(), before, "a failed reserve changes nothing");
              }
              requests.delete(o.owner);
              break;
            }
            case "restore": {
              const ports = o.ports.map((p) => ({ port: min + p.offset, protocol: p.protocol }));
              const conflicts = pool.restore(o.owner, ports);
              const expected: { port: number; protocol: Protocol; owners: string[] }[] = [];
              for (const { port, protocol } of ports) {
                const others = expand(protocol).filter((p) => {
                  const h = model.held.get(k(port, p));
                  return h !== undefined && h !== o.owner;
                });
                for (const p of others) {
                  expected.push({
                    port,
                    protocol: p,
                    owners: [model.held.get(k(port, p))!, o.owner],
                  });
                }
                if (others.length === 0) model.claim(o.owner, port, protocol);
                else if (others.length === 1 && protocol === "TCPUDP") {
                  model.claim(o.owner, port, others[0] === "TCP" ? "UDP" : "TCP");
                }
              }
              assert.deepEqual(conflicts, expected, "every clash reported with both owners");
              requests.delete(o.owner);
              break;
            }
            case "allocate": {
              const specs: PortSpec[] = o.specs.map((s) =>
                s.port === undefined ? { protocol: s.protocol } : { ...s, port: min - 1 + s.port }
              );
              const held = model.owners.get(o.owner);
              const expect: Expect = held
                ? (answers(held, specs, o.contiguous)
                  ? { ok: true }
                  : { codes: ["owner-mismatch"] })
                : model.expectAllocate(o.owner, specs, o.contiguous);
              let answer: readonly AllocatedPort[];
              try {
                answer = pool.allocate(o.owner, { ports: specs, contiguous: o.contiguous });
              } catch (err) {
                assert.ok(err instanceof AllocationError, String(err));
                assert.ok("codes" in expect, `model found an answer, pool said ${err.message}`);
                assert.ok(expect.codes.includes(err.code), `${err.code} ∉ ${expect.codes}`);
                if (expect.owners) assert.deepEqual(err.owners, expect.owners);
                assert.ok(err.message.length > 0 && /^[A-Z0-9]/.test(err.message), err.message);
                const uniform = !o.contiguous &&
                  specs.every((s) =>
                    s.port === undefined && s.protocol === specs[0].protocol &&
                    s.protocol !== "TCPUDP"
                  );
                if (uniform && err.code === "exhausted") {
                  assert.ok(!model.feasible(specs, new Set(), true), "not even after the delay");
                }
                if (uniform && err.code === "exhausted-delayed") {
                  assert.ok(model.feasible(specs, new Set(), true), "the delay is what blocks");
                  assert.ok(err.retryAfterMs! > 0 && err.retryAfterMs! <= delay);
                }
                assert.deepEqual(pool.snapshot(), before, "all or nothing");
                break;
              }
              assert.ok("ok" in expect, `model expected ${JSON.stringify(expect)}`);
              if (held) {
                assert.deepEqual(answer, held, "the same answer for the same owner");
                break;
              }
              assert.equal(answer.length, specs.length, "all requested ports");
              const mine = new Set<string>();
              answer.forEach((a, i) => {
                assert.equal(a.protocol, specs[i].protocol);
                if (specs[i].port !== undefined) assert.equal(a.port, specs[i].port);
                if (o.contiguous && i > 0) assert.equal(a.port, answer[i - 1].port + 1);
                for (const p of expand(a.protocol)) {
                  assert.ok(a.port >= min && a.port <= max);
                  assert.ok(!model.busy(a.port, p), `${k(a.port, p)} was free`);
                  assert.ok(!mine.has(k(a.port, p)), "no port twice in one answer");
                  mine.add(k(a.port, p));
                }
              });
              model.hold(o.owner, answer);
              requests.set(o.owner, { specs, contiguous: o.contiguous });
              given.push({ answer, copy: answer.map((a) => ({ ...a })) });
              break;
            }
          }
          check(pool, model);
          for (const g of given) assert.deepEqual(g.answer, g.copy, "answers never change");
        }
        // Restart: restore every owner into a fresh pool from what it holds.
        const snap = pool.snapshot();
        const fresh = new PortPool(min, max, { clock: () => now });
        pool.forEach((owner, ports) => assert.deepEqual(fresh.restore(owner, ports), []));
        const again = fresh.snapshot();
        assert.deepEqual(again.owners, snap.owners, "restore then snapshot: the same owners");
        assert.equal(again.used.TCP, snap.used.TCP);
        assert.equal(again.used.UDP, snap.used.UDP);
        // …and an owner asking again with its request gets the same ports back.
        for (const [owner, { specs, contiguous }] of requests) {
          assert.deepEqual(
            fresh.allocate(owner, { ports: specs, contiguous }),
            pool.ports(owner),
            "idempotent across a restart",
          );
        }
      },
    ),
    { numRuns: 10_000, seed: testSeed() },
  );
});
