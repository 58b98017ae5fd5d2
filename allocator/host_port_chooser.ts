/**
 * Host-port choice before scheduling. The admission webhook runs before
 * the scheduler, so gamenet cannot know the Pod's node: it picks the ports
 * used on the fewest nodes (counting Pods admitted but not yet bound), and
 * the scheduler's host-port filter puts the Pod where they are free.
 *
 * Each port number has a usage count (nodes using it in any protocol +
 * pending claims), and each count a bucket of ports, kept as a bitmap, so
 * the choice is: the lowest non-empty bucket, the next member after the
 * cursor (next-fit breaks ties) — no scan over nodes or ports.
 *
 * Node pools hold what is bound on each node. A reuse delay here keeps a
 * freed port counted for a while: it becomes the least preferred rather
 * than forbidden, because a host port is the node's, not gamenet's.
 *
 * @example
 * ```ts
 * const chooser = new HostPortChooser(8000, 9000);
 * chooser.addNode("node-1");
 * const [port] = chooser.choose("admission/123", ["UDP"]); // pending
 * chooser.bind("admission/123", "node-1", [{ port, protocol: "UDP" }]);
 * ```
 * @module
 */

import { AllocationError } from "./errors.ts";
import { PortBitmap } from "./port_bitmap.ts";
import type { HeldPort, PoolSnapshot, RequestProtocol } from "./port_pool.ts";
import { PoolSet } from "./pool_set.ts";
import { ChurnMap } from "./churn_map.ts";

/** Options of {@linkcode HostPortChooser}. */
export interface HostPortChooserOptions {
  /** A freed port stays counted (least preferred) this long. @default {0} */
  reuseDelayMs?: number;
  /** @default {Date.now} */
  clock?: () => number;
}

/** A read-only view of the chooser. */
export interface HostPortSnapshot {
  min: number;
  max: number;
  nodes: { node: string; pool: PoolSnapshot }[];
  pending: { owner: string; ports: number[]; since: number }[];
  delayed: number;
}

/** The chooser: see the module documentation. */
export class HostPortChooser {
  readonly min: number;
  readonly max: number;
  readonly #size: number;
  readonly #nodes: PoolSet;
  /** Usage count of each port offset. */
  #count: Int32Array;
  /** `#buckets[c]`: a bitmap whose *free* bits are the ports with count c. */
  readonly #buckets: PortBitmap[] = [];
  #bucketSize: number[] = [];
  #minCount = 0;
  #cursor = 0;
  readonly #pending = new ChurnMap<string, { ports: number[]; since: number }>();
  /** Owner → node it is bound on. */
  readonly #boundOn = new ChurnMap<string, string>();
  readonly #delay: { port: number; until: number }[] = [];
  #delayHead = 0;
  readonly #reuseDelayMs: number;
  readonly #clock: () => number;

  constructor(min: number, max: number, options: HostPortChooserOptions = {}) {
    this.#nodes = new PoolSet(min, max);
    this.min = min;
    this.max = max;
    this.#size = max - min + 1;
    this.#count = new Int32Array(this.#size);
    this.#buckets.push(new PortBitmap(min, max));
    this.#bucketSize.push(this.#size);
    this.#reuseDelayMs = options.reuseDelayMs ?? 0;
    this.#clock = options.clock ?? Date.now;
  }

  /** Nodes known. */
  get nodeCount(): number {
    return this.#nodes.size;
  }

  /** How many nodes use `port` plus pending claims and delays on it. */
  usage(port: number): number {
    return this.#count[port - this.min] ?? 0;
  }

  /** The pool of a node. */
  node(name: string) {
    return this.#nodes.get(name);
  }

  #bucket(c: number): PortBitmap {
    while (this.#buckets.length <= c) {
      const b = new PortBitmap(this.min, this.max);
      // A new bucket starts with no members: every bit used.
      for (let p = this.min; p <= this.max; p++) b.allocate(p);
      this.#buckets.push(b);
      this.#bucketSize.push(0);
    }
    return this.#buckets[c];
  }

  #move(offset: number, delta: 1 | -1): void {
    const c = this.#count[offset];
    const port = this.min + offset;
    this.#bucket(c).allocate(port);
    this.#bucketSize[c]--;
    const n = c + delta;
    this.#bucket(n).release(port);
    this.#bucketSize[n]++;
    this.#count[offset] = n;
    if (n < this.#minCount) this.#minCount = n;
    while (this.#bucketSize[this.#minCount] === 0) this.#minCount++;
  }

  #expire(): void {
    if (this.#delayHead === this.#delay.length) return;
    const now = this.#clock();
    while (this.#delayHead < this.#delay.length && this.#delay[this.#delayHead].until <= now) {
      this.#move(this.#delay[this.#delayHead++].port - this.min, -1);
    }
    if (this.#delayHead === this.#delay.length) {
      this.#delay.length = 0;
      this.#delayHead = 0;
    }
  }

  /** Adds a node (idempotent). */
  addNode(name: string): void {
    this.#nodes.ensure(name);
  }

  /** Removes a node; what was bound on it is forgotten, its owners returned. */
  removeNode(name: string): string[] {
    const pool = this.#nodes.get(name);
    if (!pool) return [];
    const owners: string[] = [];
    pool.forEach((owner) => owners.push(owner));
    for (const owner of owners) this.#unbind(owner, name);
    this.#nodes.delete(name);
    return owners;
  }

  /**
   * Chooses one port per entry for `owner`, used on the fewest nodes, and
   * counts them as pending until {@linkcode bind}. Idempotent per owner.
   * Protocols do not change the choice: a port number is counted once per
   * node whatever protocol holds it, so TCPUDP needs nothing more.
   * @throws {AllocationError} `exhausted` when even the least used port is used on every node.
   */
  choose(owner: string, protocols: RequestProtocol[]): number[] {
    const existing = this.#pending.get(owner);
    if (existing) return [...existing.ports];
    if (this.#boundOn.has(owner)) {
      throw new AllocationError(
        "owner-mismatch",
        `${owner} is already bound on node ${this.#boundOn.get(owner)}`,
      );
    }
    if (protocols.length === 0) {
      throw new AllocationError("invalid-request", "A request needs at least one port");
    }
    for (const p of protocols) {
      if (p !== "TCP" && p !== "UDP" && p !== "TCPUDP") {
        throw new AllocationError(
          "invalid-request",
          `Protocol must be TCP, UDP or TCPUDP, not "${p}"`,
        );
      }
    }
    if (protocols.length > this.#size) {
      throw new AllocationError(
        "too-many",
        `${protocols.length} ports asked, but ${this.min}-${this.max} holds only ${this.#size}`,
      );
    }
    this.#expire();
    const chosen: number[] = [];
    const taken = new Set<number>();
    // Next member of bucket c in next-fit order (cursor to the end, then the start), not yet chosen.
    const pick = (c: number): number => {
      const bucket = this.#buckets[c];
      for (const [lo, hi] of [[this.#cursor, this.#size], [0, this.#cursor]]) {
        let from = lo;
        while (true) {
          const i = bucket.findFreeIn(from, hi);
          if (i < 0) break;
          if (!taken.has(i)) return i;
          from = i + 1;
        }
      }
      return -1;
    };
    let c = this.#minCount;
    while (chosen.length < protocols.length && c < this.#buckets.length) {
      const i = pick(c);
      if (i < 0) {
        c++;
        continue;
      }
      chosen.push(i);
      taken.add(i);
    }
    const nodes = this.#nodes.size;
    const worst = chosen.length < protocols.length
      ? Infinity
      : Math.max(...chosen.map((i) => this.#count[i]));
    if (nodes > 0 && worst >= nodes) {
      throw new AllocationError(
        "exhausted",
        `No host port in ${this.min}-${this.max} is free on any of the ${nodes} nodes ` +
          `(counting Pods admitted but not yet scheduled); widen the range or add nodes`,
      );
    }
    for (const i of chosen) this.#move(i, 1);
    this.#cursor = (chosen[chosen.length - 1] + 1) % this.#size;
    const ports = chosen.map((i) => this.min + i);
    this.#pending.set(owner, { ports, since: this.#clock() });
    return [...ports];
  }

  /**
   * Holds `ports` on `node` for `owner` (a pending choice moves there; a
   * static or foreign port is registered). Ports outside the range are
   * ignored. Idempotent. Returns owners already holding one of them there.
   */
  bind(owner: string, node: string, ports: HeldPort[]): string[] {
    const pending = this.#pending.get(owner);
    if (pending) {
      this.#pending.delete(owner);
      for (const p of pending.ports) this.#move(p - this.min, -1);
    }
    const pool = this.#nodes.ensure(node);
    const wasOn = this.#boundOn.get(owner);
    if (wasOn !== undefined && wasOn !== node) this.#unbind(owner, wasOn);
    const inRange = ports.filter((p) => p.port >= this.min && p.port <= this.max);
    const before = new Set(inRange.map((p) => p.port).filter((port) => this.#usedOn(pool, port)));
    const conflicts = pool.restore(owner, inRange);
    for (const port of new Set(inRange.map((p) => p.port))) {
      if (!before.has(port) && this.#usedOn(pool, port)) this.#move(port - this.min, 1);
    }
    if (pool.holdings(owner)) this.#boundOn.set(owner, node);
    return [...new Set(conflicts.map((c) => c.owners[0]))];
  }

  #usedOn(pool: ReturnType<PoolSet["ensure"]>, port: number): boolean {
    return pool.has(port, "TCP") || pool.has(port, "UDP");
  }

  #unbind(owner: string, node: string): void {
    const pool = this.#nodes.get(node);
    this.#boundOn.delete(owner);
    if (!pool) return;
    const now = this.#clock();
    for (const port of new Set(pool.release(owner).map((p) => p.port))) {
      if (this.#usedOn(pool, port)) continue;
      if (this.#reuseDelayMs > 0) this.#delay.push({ port, until: now + this.#reuseDelayMs });
      else this.#move(port - this.min, -1);
    }
  }

  /** Frees what `owner` holds or has pending. Idempotent. */
  release(owner: string): void {
    const pending = this.#pending.get(owner);
    if (pending) {
      this.#pending.delete(owner);
      for (const p of pending.ports) this.#move(p - this.min, -1);
    }
    const node = this.#boundOn.get(owner);
    if (node !== undefined) this.#unbind(owner, node);
  }

  /** Registers a pending claim found at start-up (a Pod admitted, not yet bound). */
  restorePending(owner: string, ports: number[], since = this.#clock()): void {
    if (this.#pending.has(owner) || this.#boundOn.has(owner)) return;
    const offsets = [...new Set(ports)].filter((p) => p >= this.min && p <= this.max).map((p) =>
      p - this.min
    );
    for (const i of offsets) this.#move(i, 1);
    this.#pending.set(owner, { ports: offsets.map((i) => this.min + i), since });
  }

  /** Pending owners older than `olderThanMs` that `isLive` denies: released and returned. */
  sweepPending(isLive: (owner: string) => boolean, olderThanMs: number): string[] {
    const cutoff = this.#clock() - olderThanMs;
    const gone: string[] = [];
    for (const [owner, p] of this.#pending) {
      if (p.since <= cutoff && !isLive(owner)) gone.push(owner);
    }
    for (const owner of gone) this.release(owner);
    return gone;
  }

  /** Whether `owner` has a pending choice. */
  isPending(owner: string): boolean {
    return this.#pending.has(owner);
  }

  /** A read-only copy of the state. */
  snapshot(): HostPortSnapshot {
    this.#expire();
    return {
      min: this.min,
      max: this.max,
      nodes: [...this.#nodes.entries()].map(([node, pool]) => ({ node, pool: pool.snapshot() }))
        .sort((a, b) => (a.node < b.node ? -1 : 1)),
      pending: [...this.#pending].map(([owner, p]) => ({
        owner,
        ports: [...p.ports],
        since: p.since,
      })),
      delayed: this.#delay.length - this.#delayHead,
    };
  }
}
