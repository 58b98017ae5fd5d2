/**
 * A pool of ports `[min, max]` for TCP and UDP (separate spaces), with
 * owners: an allocation is atomic (all requested ports or none),
 * idempotent per owner (asking again returns the same ports), and
 * `release(owner)` frees exactly what the owner held.
 *
 * Reuse delay: a freed port stays out of circulation for `reuseDelayMs`
 * (late packets of the old game reach nobody new). It counts as
 * "delayed", neither used nor free. When a request can only be met by
 * ports still in their delay, it fails with code `exhausted-delayed` and
 * `retryAfterMs` (when the earliest comes back) rather than cutting the
 * delay short: a caller that would rather reuse early can set a shorter
 * delay.
 *
 * @example
 * ```ts
 * const pool = new PortPool(7000, 8000);
 * pool.allocate("default/gs-0", { ports: [{ protocol: "UDP" }, { protocol: "TCPUDP" }] });
 * // → [{ port: 7000, protocol: "UDP" }, { port: 7001, protocol: "TCPUDP" }]
 * pool.release("default/gs-0");
 * ```
 * @module
 */

import { AllocationError } from "./errors.ts";
import { PortBitmap } from "./port_bitmap.ts";
import { ChurnMap } from "./churn_map.ts";

/** A transport protocol. */
export type Protocol = "TCP" | "UDP";
/** What a request may ask for: `TCPUDP` is one port number free in both. */
export type RequestProtocol = Protocol | "TCPUDP";

/** One requested port: any free one, or exactly `port`. */
export interface PortSpec {
  protocol: RequestProtocol;
  port?: number;
}

/** A request: `ports` in order, or `count` ports of one `protocol`. */
export interface PortRequest {
  ports?: PortSpec[];
  /** Shorthand for `count` times `{protocol}`. */
  count?: number;
  /** With `count`. @default {"TCP"} */
  protocol?: RequestProtocol;
  /** All ports consecutive (p, p+1, …). @default {false} */
  contiguous?: boolean;
}

/** One allocated port, in request order. */
export interface AllocatedPort {
  port: number;
  protocol: RequestProtocol;
}

/** One held port in one protocol. */
export interface HeldPort {
  port: number;
  protocol: Protocol;
}

/** Two owners claiming one port, found by {@linkcode PortPool.restore}. */
export interface PortConflict {
  port: number;
  protocol: Protocol;
  /** The owner holding it, then the one that also claimed it. */
  owners: [string, string];
}

/** Counts per protocol. */
export interface ProtocolCounts {
  TCP: number;
  UDP: number;
}

/** A read-only view of a pool. */
export interface PoolSnapshot {
  min: number;
  max: number;
  used: ProtocolCounts;
  free: ProtocolCounts;
  delayed: ProtocolCounts;
  /** Owners and their ports, owners sorted. */
  owners: { owner: string; ports: HeldPort[] }[];
}

/** Options of {@linkcode PortPool}. */
export interface PortPoolOptions {
  /** Freed ports stay unused this long. @default {0} */
  reuseDelayMs?: number;
  /** Milliseconds now; tests pass their own. @default {Date.now} */
  clock?: () => number;
  /** Storage for both bitmaps (`2 * bitmapWords(size)` words from `offset`). */
  slab?: Uint32Array;
  offset?: number;
}

interface Owned {
  ports: HeldPort[];
  /** The answer to `allocate`, replayed when the owner asks again with the same request. */
  answer?: AllocatedPort[];
  specs?: PortSpec[];
  contiguous?: boolean;
}

const PROTOCOLS: readonly Protocol[] = ["TCP", "UDP"];

function key(port: number, protocol: Protocol): number {
  return port * 2 + (protocol === "UDP" ? 1 : 0);
}

function expand(p: RequestProtocol): Protocol[] {
  return p === "TCPUDP" ? ["TCP", "UDP"] : [p];
}

/** Turns a request into its list of specs, or throws `invalid-request`. */
export function requestedPorts(request: PortRequest): PortSpec[] {
  if (request.ports !== undefined && request.count !== undefined) {
    throw new AllocationError("invalid-request", "Give either ports or count, not both");
  }
  let specs: PortSpec[];
  if (request.count !== undefined) {
    if (!Number.isInteger(request.count) || request.count <= 0) {
      throw new AllocationError(
        "invalid-request",
        `Port count must be a whole number above 0, not ${request.count}`,
      );
    }
    const protocol = request.protocol ?? "TCP";
    specs = new Array(request.count);
    for (let i = 0; i < request.count; i++) specs[i] = { protocol };
  } else {
    specs = request.ports ?? [];
  }
  if (specs.length === 0) {
    throw new AllocationError("invalid-request", "A request needs at least one port");
  }
  for (const s of specs) {
    if (s.protocol !== "TCP" && s.protocol !== "UDP" && s.protocol !== "TCPUDP") {
      throw new AllocationError(
        "invalid-request",
        `Protocol must be TCP, UDP or TCPUDP, not "${s.protocol}"`,
      );
    }
    if (s.port !== undefined && !Number.isInteger(s.port)) {
      throw new AllocationError("invalid-request", `Port must be a whole number, not ${s.port}`);
    }
  }
  return specs;
}

/** The pool: see the module documentation. */
export class PortPool {
  readonly min: number;
  readonly max: number;
  readonly #bits: Record<Protocol, PortBitmap>;
  readonly #reuseDelayMs: number;
  readonly #clock: () => number;
  #owners?: ChurnMap<string, Owned>;
  #portOwner?: ChurnMap<number, string>;
  /** Delayed ports in release order (a constant delay keeps it sorted by time). */
  #delayKeys: number[] = [];
  #delayUntil: number[] = [];
  #delayHead = 0;
  #delayed: ProtocolCounts = { TCP: 0, UDP: 0 };

  constructor(min: number, max: number, options: PortPoolOptions = {}) {
    if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1 || max > 65535 || min > max) {
      throw new AllocationError(
        "invalid-request",
        `A port range is low-high within 1-65535, not ${min}-${max}`,
      );
    }
    this.min = min;
    this.max = max;
    const size = max - min + 1;
    const words = Math.ceil(size / 32) + Math.ceil(Math.ceil(size / 32) / 32);
    const slab = options.slab ?? new Uint32Array(2 * words);
    const offset = options.offset ?? 0;
    this.#bits = {
      TCP: new PortBitmap(min, max, slab, offset),
      UDP: new PortBitmap(min, max, slab, offset + words),
    };
    this.#reuseDelayMs = options.reuseDelayMs ?? 0;
    this.#clock = options.clock ?? Date.now;
  }

  /** Ports in the range. */
  get size(): number {
    return this.max - this.min + 1;
  }

  get #ownerMap(): ChurnMap<string, Owned> {
    return this.#owners ??= new ChurnMap();
  }

  get #portMap(): ChurnMap<number, string> {
    return this.#portOwner ??= new ChurnMap();
  }

  /** Whether `port` is held (or delayed) in `protocol`. */
  has(port: number, protocol: Protocol): boolean {
    this.#expire();
    return this.#bits[protocol].has(port);
  }

  /** The owner holding `port` in `protocol`, if any. */
  ownerOf(port: number, protocol: Protocol): string | undefined {
    return this.#portOwner?.get(key(port, protocol));
  }

  /** What `owner` holds. */
  holdings(owner: string): readonly HeldPort[] | undefined {
    return this.#owners?.get(owner)?.ports;
  }

  /** Number of owners. */
  get ownerCount(): number {
    return this.#owners?.size ?? 0;
  }

  /** Free ports of `protocol` (delayed ones excluded). */
  free(protocol: Protocol): number {
    this.#expire();
    return this.#bits[protocol].free;
  }

  /** Used ports of `protocol` (held by owners; delayed ones excluded). */
  used(protocol: Protocol): number {
    this.#expire();
    return this.#bits[protocol].used - this.#delayed[protocol];
  }

  /** Ports of `protocol` waiting out their reuse delay. */
  delayed(protocol: Protocol): number {
    this.#expire();
    return this.#delayed[protocol];
  }

  #expire(): void {
    if (this.#delayHead === this.#delayKeys.length) return;
    const now = this.#clock();
    let h = this.#delayHead;
    while (h < this.#delayKeys.length && this.#delayUntil[h] <= now) {
      const k = this.#delayKeys[h];
      const protocol: Protocol = (k & 1) === 1 ? "UDP" : "TCP";
      this.#bits[protocol].release(k >>> 1);
      this.#delayed[protocol]--;
      h++;
    }
    if (h === this.#delayKeys.length) {
      this.#delayKeys.length = 0;
      this.#delayUntil.length = 0;
      h = 0;
    } else if (h > 1024 && h * 2 > this.#delayKeys.length) {
      this.#delayKeys = this.#delayKeys.slice(h);
      this.#delayUntil = this.#delayUntil.slice(h);
      h = 0;
    }
    this.#delayHead = h;
  }

  /**
   * Allocates every port of `request` to `owner`, or none. Asking again
   * for the same owner returns the same answer.
   * @throws {AllocationError} and changes nothing.
   */
  allocate(owner: string, request: PortRequest): AllocatedPort[] {
    const specs = requestedPorts(request);
    const contiguous = request.contiguous ?? false;
    const existing = this.#owners?.get(owner);
    if (existing) {
      if (existing.answer && sameRequest(existing, specs, contiguous)) {
        return existing.answer.slice();
      }
      throw new AllocationError(
        "owner-mismatch",
        `${owner} already holds ${
          describe(existing.ports)
        } in ${this.min}-${this.max}; release it before asking for other ports`,
      );
    }
    if (specs.length > this.size) {
      throw new AllocationError(
        "too-many",
        `${specs.length} ports asked, but ${this.min}-${this.max} holds only ${this.size}`,
      );
    }
    for (let i = 0; i < specs.length; i++) {
      const port = specs[i].port;
      if (port !== undefined && (port < this.min || port > this.max)) {
        throw new AllocationError(
          "out-of-range",
          `Port ${port} is outside ${this.min}-${this.max}`,
        );
      }
    }
    this.#expire();
    const tcpCursor = this.#bits.TCP.cursor;
    const udpCursor = this.#bits.UDP.cursor;
    const taken: HeldPort[] = [];
    const answer: AllocatedPort[] = new Array(specs.length);
    try {
      if (contiguous) {
        const start = this.#findBlock(specs);
        for (let i = 0; i < specs.length; i++) {
          answer[i] = { port: start + i, protocol: specs[i].protocol };
          this.#takeAll(start + i, specs[i].protocol, owner, taken);
        }
      } else {
        // Named ports first, so a free choice never lands on one of them.
        for (let i = 0; i < specs.length; i++) {
          const s = specs[i];
          if (s.port === undefined) continue;
          this.#takeAll(s.port, s.protocol, owner, taken);
          answer[i] = { port: s.port, protocol: s.protocol };
        }
        for (let i = 0; i < specs.length; i++) {
          const s = specs[i];
          if (s.port !== undefined) continue;
          const port = this.#next(s.protocol);
          this.#takeAll(port, s.protocol, owner, taken);
          answer[i] = { port, protocol: s.protocol };
        }
      }
    } catch (err) {
      for (const t of taken) {
        this.#bits[t.protocol].release(t.port);
        this.#portOwner!.delete(key(t.port, t.protocol));
      }
      this.#bits.TCP.cursor = tcpCursor;
      this.#bits.UDP.cursor = udpCursor;
      throw this.#explain(err, specs);
    }
    this.#ownerMap.set(owner, { ports: taken, answer, specs, contiguous });
    return answer.slice();
  }

  #takeAll(port: number, protocol: RequestProtocol, owner: string, taken: HeldPort[]): void {
    if (protocol === "TCPUDP") {
      this.#take(port, "TCP", owner, taken);
      this.#take(port, "UDP", owner, taken);
    } else {
      this.#take(port, protocol, owner, taken);
    }
  }

  /** Why a request could not be met, with the delay taken into account. */
  #explain(err: unknown, specs: PortSpec[]): unknown {
    if (!(err instanceof AllocationError) || err.code !== "exhausted") return err;
    const need: ProtocolCounts = { TCP: 0, UDP: 0 };
    for (const s of specs) for (const p of expand(s.protocol)) need[p]++;
    const delayedHelps = PROTOCOLS.some((p) =>
      need[p] > 0 && this.#delayed[p] > 0 && this.#bits[p].free + this.#delayed[p] >= need[p]
    );
    if (!delayedHelps) return err;
    const retryAfterMs = Math.max(0, this.#delayUntil[this.#delayHead] - this.#clock());
    return new AllocationError(
      "exhausted-delayed",
      `${err.message}; ${
        this.#delayed.TCP + this.#delayed.UDP
      } freed ports are in their reuse delay, ` +
        `the first is back in ${retryAfterMs} ms`,
      { retryAfterMs },
    );
  }

  /** Takes one free port (next-fit); TCPUDP = free in both. */
  #next(protocol: RequestProtocol): number {
    if (protocol !== "TCPUDP") {
      const bits = this.#bits[protocol];
      const i = bits.findFree(bits.cursor);
      if (i < 0) throw this.#exhausted(protocol);
      bits.cursor = i + 1;
      return this.min + i;
    }
    const tcp = this.#bits.TCP;
    const from = tcp.cursor;
    let i = this.#findBoth(from, this.size);
    if (i < 0) i = this.#findBoth(0, from);
    if (i < 0) throw this.#exhausted("TCPUDP");
    const next = i + 1 === this.size ? 0 : i + 1;
    tcp.cursor = next;
    this.#bits.UDP.cursor = next;
    return this.min + i;
  }

  /** First offset in `[from, to)` free in both protocols: leapfrog between the two bitmaps. */
  #findBoth(from: number, to: number): number {
    let i = from;
    while (true) {
      const a = this.#bits.TCP.findFreeIn(i, to);
      if (a < 0) return -1;
      const b = this.#bits.UDP.findFreeIn(a, to);
      if (b < 0) return -1;
      if (a === b) return a;
      i = b;
    }
  }

  /** Start of a run of `specs.length` consecutive ports free in each spec's protocols. */
  #findBlock(specs: PortSpec[]): number {
    const n = specs.length;
    const fixed = specs.findIndex((s) => s.port !== undefined);
    const fits = (start: number): number => {
      // Returns -1 when the block fits, else the offset of the first obstacle.
      for (let k = 0; k < n; k++) {
        for (const p of expand(specs[k].protocol)) {
          if (this.#bits[p].has(start + k)) return start + k - this.min;
        }
      }
      return -1;
    };
    if (fixed >= 0) {
      const start = specs[fixed].port! - fixed;
      specs.forEach((s, k) => {
        if (s.port !== undefined && s.port - k !== start) {
          throw new AllocationError(
            "invalid-request",
            `Ports ${
              specs[fixed].port
            } and ${s.port} cannot sit at places ${fixed} and ${k} of one contiguous block`,
          );
        }
      });
      if (start < this.min || start + n - 1 > this.max) {
        throw new AllocationError(
          "out-of-range",
          `A block of ${n} around port ${specs[fixed].port} leaves ${this.min}-${this.max}`,
        );
      }
      if (fits(start) >= 0) throw this.#exhausted(specs[0].protocol, n);
      return start;
    }
    const protocol = specs.some((s) => s.protocol === "TCPUDP") ||
        (specs.some((s) => s.protocol === "TCP") && specs.some((s) => s.protocol === "UDP"))
      ? "TCPUDP"
      : specs[0].protocol;
    let from = 0;
    while (from + n <= this.size) {
      const i = protocol === "TCPUDP"
        ? this.#findBoth(from, this.size - n + 1)
        : this.#bits[protocol].findFreeIn(from, this.size - n + 1);
      if (i < 0) break;
      const obstacle = fits(this.min + i);
      if (obstacle < 0) return this.min + i;
      from = obstacle + 1;
    }
    throw this.#exhausted(protocol, n);
  }

  #exhausted(protocol: RequestProtocol, block = 1): AllocationError {
    const what = block > 1 ? `${block} consecutive ${protocol} ports` : `a free ${protocol} port`;
    return new AllocationError("exhausted", `No ${what} left in ${this.min}-${this.max}`);
  }

  #take(port: number, protocol: Protocol, owner: string, taken: HeldPort[]): void {
    if (!this.#bits[protocol].allocate(port)) {
      const holder = this.#portOwner?.get(key(port, protocol));
      if (holder === undefined) {
        // Marked but unowned: it is waiting out its reuse delay.
        throw new AllocationError("conflict", `Port ${port}/${protocol} is in its reuse delay`, {
          owners: [owner],
        });
      }
      throw new AllocationError("conflict", `Port ${port}/${protocol} is held by ${holder}`, {
        owners: [holder, owner],
      });
    }
    this.#portMap.set(key(port, protocol), owner);
    taken.push({ port, protocol });
  }

  /**
   * Adds `port` to what `owner` holds (a port chosen elsewhere: a static
   * host port, one of a Pod gamenet does not manage). Idempotent.
   * @throws {AllocationError} `conflict` naming both owners, `out-of-range`.
   */
  reserve(port: number, protocol: Protocol, owner: string): void {
    if (protocol !== "TCP" && protocol !== "UDP") {
      throw new AllocationError(
        "invalid-request",
        `Protocol must be TCP or UDP, not "${protocol}"`,
      );
    }
    if (!Number.isInteger(port) || port < this.min || port > this.max) {
      throw new AllocationError("out-of-range", `Port ${port} is outside ${this.min}-${this.max}`);
    }
    if (this.#portOwner?.get(key(port, protocol)) === owner) return;
    this.#expire();
    const taken: HeldPort[] = [];
    this.#take(port, protocol, owner, taken);
    const owned = this.#ownerMap.get(owner);
    if (owned) {
      owned.ports.push(...taken);
      // A reserved extra port makes the replay of an earlier answer incomplete.
      owned.answer = undefined;
    } else {
      this.#ownerMap.set(owner, { ports: taken });
    }
  }

  /**
   * Rebuilds `owner`'s holding at start-up. A port another owner already
   * holds is not taken over: it is returned as a conflict naming both.
   */
  restore(owner: string, ports: HeldPort[]): PortConflict[] {
    const conflicts: PortConflict[] = [];
    for (const { port, protocol } of ports) {
      const holder = this.#portOwner?.get(key(port, protocol));
      if (holder !== undefined && holder !== owner) {
        conflicts.push({ port, protocol, owners: [holder, owner] });
        continue;
      }
      try {
        this.reserve(port, protocol, owner);
      } catch (err) {
        if (!(err instanceof AllocationError && err.code === "conflict")) throw err;
        // Held by nobody but marked: a delayed port; the restored owner takes it back.
        this.#undelay(port, protocol);
        this.reserve(port, protocol, owner);
      }
    }
    return conflicts;
  }

  #undelay(port: number, protocol: Protocol): void {
    const k = key(port, protocol);
    for (let i = this.#delayHead; i < this.#delayKeys.length; i++) {
      if (this.#delayKeys[i] === k) {
        this.#delayKeys.splice(i, 1);
        this.#delayUntil.splice(i, 1);
        this.#delayed[protocol]--;
        this.#bits[protocol].release(port);
        return;
      }
    }
  }

  /** Frees exactly what `owner` held (into the reuse delay, if any); returns it. */
  release(owner: string): HeldPort[] {
    const owned = this.#owners?.get(owner);
    if (!owned) return [];
    this.#owners!.delete(owner);
    const until = this.#clock() + this.#reuseDelayMs;
    for (const { port, protocol } of owned.ports) {
      this.#portOwner!.delete(key(port, protocol));
      if (this.#reuseDelayMs > 0) {
        this.#delayKeys.push(key(port, protocol));
        this.#delayUntil.push(until);
        this.#delayed[protocol]++;
      } else {
        this.#bits[protocol].release(port);
      }
    }
    return owned.ports;
  }

  /** Calls `fn` for every owner and its ports. */
  forEach(fn: (owner: string, ports: readonly HeldPort[]) => void): void {
    for (const [owner, owned] of this.#owners ?? []) fn(owner, owned.ports);
  }

  /** A read-only copy of the state. */
  snapshot(): PoolSnapshot {
    this.#expire();
    const owners = [...(this.#owners ?? [])]
      .map(([owner, o]) => ({
        owner,
        ports: [...o.ports].sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol)),
      }))
      .sort((a, b) => (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0));
    const counts = (f: (p: Protocol) => number) => ({ TCP: f("TCP"), UDP: f("UDP") });
    return {
      min: this.min,
      max: this.max,
      used: counts((p) => this.#bits[p].used - this.#delayed[p]),
      free: counts((p) => this.#bits[p].free),
      delayed: counts((p) => this.#delayed[p]),
      owners,
    };
  }
}

function sameRequest(owned: Owned, specs: PortSpec[], contiguous: boolean): boolean {
  const before = owned.specs!;
  if (owned.contiguous !== contiguous || before.length !== specs.length) return false;
  for (let i = 0; i < specs.length; i++) {
    if (before[i].protocol !== specs[i].protocol || before[i].port !== specs[i].port) return false;
  }
  return true;
}

function describe(ports: HeldPort[]): string {
  return ports.map((p) => `${p.port}/${p.protocol}`).join(", ") || "nothing";
}
