/**
 * Property test: random sequences of allocate / release / reserve /
 * restore / time steps on a PortPool, checked after every step against a
 * plain reference model (a Map of held ports and a list of delayed ones).
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { AllocationError } from "./errors.ts";
import {
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
  | { kind: "reserve"; owner: string; offset: number; protocol: Protocol }
  | { kind: "restore"; owner: string; ports: { offset: number; protocol: Protocol }[] }
  | { kind: "tick"; ms: number };

const op = (size: number): fc.Arbitrary<Op> =>
  fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        kind: fc.constant("allocate" as const),
        owner: fc.constantFrom(...OWNERS),
        specs: fc.array(
          fc.record({
            protocol: fc.constantFrom(...PROTOCOLS),
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
        protocol: fc.constantFrom<Protocol>("TCP", "UDP"),
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
            protocol: fc.constantFrom<Protocol>("TCP", "UDP"),
          }),
          { maxLength: 3 },
        ),
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

/** The reference: who holds what, and which ports wait out their delay until when. */
class Model {
  held = new Map<string, string>(); // "port/proto" → owner
  owners = new Map<string, HeldPort[]>();
  answers = new Map<string, { signature: string; answer: unknown }>();
  delayed: { k: string; until: number }[] = [];
  constructor(readonly min: number, readonly max: number, readonly delay: number) {}

  expire(now: number) {
    this.delayed = this.delayed.filter((d) => d.until > now);
  }
  busy(port: number, p: Protocol): boolean {
    const k = `${port}/${p}`;
    return this.held.has(k) || this.delayed.some((d) => d.k === k);
  }
  free(p: Protocol): number {
    let n = 0;
    for (let port = this.min; port <= this.max; port++) if (!this.busy(port, p)) n++;
    return n;
  }
  hold(owner: string, port: number, p: Protocol) {
    this.held.set(`${port}/${p}`, owner);
    const list = this.owners.get(owner) ?? [];
    list.push({ port, protocol: p });
    this.owners.set(owner, list);
  }
  release(owner: string, now: number) {
    for (const h of this.owners.get(owner) ?? []) {
      this.held.delete(`${h.port}/${h.protocol}`);
      if (this.delay > 0) {
        this.delayed.push({ k: `${h.port}/${h.protocol}`, until: now + this.delay });
      }
    }
    this.owners.delete(owner);
    this.answers.delete(owner);
  }
}

function expand(p: RequestProtocol): Protocol[] {
  return p === "TCPUDP" ? ["TCP", "UDP"] : [p];
}

function check(pool: PortPool, model: Model) {
  const snap = pool.snapshot();
  const owners = new Map(snap.owners.map((o) => [o.owner, o.ports]));
  const sortPorts = (ps: HeldPort[]) =>
    [...ps].sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol));
  assert.deepEqual(
    [...owners.keys()].sort(),
    [...model.owners.keys()].sort(),
    "the same owners",
  );
  for (const [owner, ports] of model.owners) {
    assert.deepEqual(owners.get(owner), sortPorts(ports), `ports of ${owner}`);
  }
  const seen = new Set<string>();
  for (const o of snap.owners) {
    for (const p of o.ports) {
      const k = `${p.port}/${p.protocol}`;
      assert.ok(!seen.has(k), `${k} held twice`);
      seen.add(k);
      assert.ok(p.port >= model.min && p.port <= model.max, `${k} in range`);
    }
  }
  for (const p of ["TCP", "UDP"] as const) {
    const used = [...model.held.keys()].filter((k) => k.endsWith(`/${p}`)).length;
    const delayed = model.delayed.filter((d) => d.k.endsWith(`/${p}`)).length;
    assert.equal(snap.used[p], used, `used ${p}`);
    assert.equal(snap.delayed[p], delayed, `delayed ${p}`);
    assert.equal(snap.free[p], model.max - model.min + 1 - used - delayed, `free ${p}`);
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
        for (const o of ops) {
          model.expire(now);
          switch (o.kind) {
            case "tick":
              now += o.ms;
              model.expire(now);
              break;
            case "release": {
              const freed = pool.release(o.owner);
              assert.equal(
                freed.length,
                model.owners.get(o.owner)?.length ?? 0,
                "release frees exactly",
              );
              model.release(o.owner, now);
              break;
            }
            case "reserve": {
              const port = min + o.offset;
              const holder = model.held.get(`${port}/${o.protocol}`);
              const isDelayed = model.delayed.some((d) => d.k === `${port}/${o.protocol}`);
              try {
                pool.reserve(port, o.protocol, o.owner);
                assert.ok(
                  holder === undefined || holder === o.owner,
                  "reserve never takes another's port",
                );
                assert.ok(!isDelayed || holder === o.owner, "reserve never takes a delayed port");
                if (holder === undefined) model.hold(o.owner, port, o.protocol);
                model.answers.delete(o.owner);
              } catch (err) {
                assert.ok(err instanceof AllocationError && err.code === "conflict");
                assert.ok((holder !== undefined && holder !== o.owner) || isDelayed);
                if (holder) assert.deepEqual(err.owners, [holder, o.owner]);
              }
              break;
            }
            case "restore": {
              const ports = o.ports.map((p) => ({ port: min + p.offset, protocol: p.protocol }));
              const conflicts = pool.restore(o.owner, ports);
              for (const p of ports) {
                const holder = model.held.get(`${p.port}/${p.protocol}`);
                if (holder !== undefined && holder !== o.owner) {
                  assert.ok(
                    conflicts.some((c) =>
                      c.port === p.port && c.protocol === p.protocol && c.owners[0] === holder
                    ),
                    "a port claimed by two owners is reported with both",
                  );
                } else if (holder === undefined) {
                  model.delayed = model.delayed.filter((d) => d.k !== `${p.port}/${p.protocol}`);
                  model.hold(o.owner, p.port, p.protocol);
                }
              }
              if (ports.length > 0) model.answers.delete(o.owner);
              break;
            }
            case "allocate": {
              const specs = o.specs.map((s) => ({
                ...s,
                port: s.port === undefined ? undefined : min - 1 + s.port,
              }));
              const signature = JSON.stringify([specs, o.contiguous]);
              const before = model.answers.get(o.owner);
              try {
                const answer = pool.allocate(o.owner, { ports: specs, contiguous: o.contiguous });
                assert.equal(answer.length, specs.length, "all requested ports");
                if (before) {
                  assert.equal(before.signature, signature);
                  assert.deepEqual(answer, before.answer, "the same answer for the same owner");
                  break;
                }
                assert.ok(!model.owners.has(o.owner), "a new allocation only for a new owner");
                answer.forEach((a, i) => {
                  assert.equal(a.protocol, specs[i].protocol);
                  if (specs[i].port !== undefined) assert.equal(a.port, specs[i].port);
                  if (o.contiguous && i > 0) {
                    assert.equal(a.port, answer[i - 1].port + 1, "contiguous");
                  }
                  for (const p of expand(a.protocol)) {
                    assert.ok(a.port >= min && a.port <= max);
                    assert.ok(!model.busy(a.port, p), `${a.port}/${p} was free`);
                    model.hold(o.owner, a.port, p);
                  }
                });
                model.answers.set(o.owner, { signature, answer });
              } catch (err) {
                assert.ok(err instanceof AllocationError, String(err));
                // All or nothing: the model did not change, and check() below compares.
                const simple = !o.contiguous &&
                  specs.every((s) => s.port === undefined && s.protocol !== "TCPUDP");
                if (err.code === "exhausted" && simple && !model.owners.has(o.owner)) {
                  const need = { TCP: 0, UDP: 0 };
                  for (const s of specs) need[s.protocol as Protocol]++;
                  assert.ok(
                    (["TCP", "UDP"] as const).some((p) => need[p] > model.free(p)),
                    "exhausted only when the model lacks free ports",
                  );
                }
                if (err.code === "owner-mismatch") assert.ok(model.owners.has(o.owner));
              }
              break;
            }
          }
          check(pool, model);
        }
        // Restore into a fresh pool from the snapshot: the same owners and ports.
        const snap = pool.snapshot();
        const fresh = new PortPool(min, max, { clock: () => now });
        for (const o of snap.owners) assert.deepEqual(fresh.restore(o.owner, o.ports), []);
        const again = fresh.snapshot();
        assert.deepEqual(again.owners, snap.owners);
        assert.deepEqual(again.used, snap.used);
      },
    ),
    { numRuns: 10_000 },
  );
});
