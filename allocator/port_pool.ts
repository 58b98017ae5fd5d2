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
 * delay short; a request naming a delayed port fails with `port-delayed`.
 * `reserve` and `restore` record ports already in use elsewhere, so they
 * take a delayed port at once (the delay cannot undo what happened).
 *
 * The hot path (`allocate` + `release` of a new owner) costs two `Map`
 * operations each, a word-level bitmap search and one result array; the
 * port → owner index used to name the holder of a clashing port is built
 * only when a clash first needs it.
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
import { bitmapWords, PortBitmap } from "./port_bitmap.ts";
import { OwnerTable } from "./owner_table.ts";
import { findFreeInBoth } from "./pair_search.ts";
import {
  answers,
  describe,
  expand,
  heldPorts,
  overlaps,
  portKey,
  requestedPorts,
} from "./port_request.ts";
import { DelayQueue } from "./delay_queue.ts";
import type {
  AllocatedPort,
  HeldPort,
  PoolSnapshot,
  PortAllocator,
  PortConflict,
  PortRequest,
  PortSpec,
  Protocol,
  ProtocolCounts,
  RequestProtocol,
} from "./types.ts";

export { requestedPorts } from "./port_request.ts";
export type {
  AllocatedPort,
  HeldPort,
  PoolSnapshot,
  PortAllocator,
  PortConflict,
  PortRequest,
  PortSpec,
  Protocol,
  ProtocolCounts,
  RequestProtocol,
} from "./types.ts";

/** Options of {@linkcode PortPool}. */
export interface PortPoolOptions {
  /** Freed ports stay out of circulation this long. @default {0} */
  reuseDelayMs?: number;
  /** Milliseconds now; tests pass their own. @default {Date.now} */
  clock?: () => number;
  /** Storage for both bitmaps: `2 * bitmapWords(max - min + 1)` zeroed words from `offset`. */
  slab?: Uint32Array;
  /** Where in `slab` this pool's words start. @default {0} */
  offset?: number;
}

/**
 * What an owner holds: the answer to its `allocate`, then ports added by
 * `reserve`/`restore`. Never changed in place (answers are shared).
 */
type Owned = readonly AllocatedPort[];

const PROTOCOLS: readonly Protocol[] = ["TCP", "UDP"];

/** The pool: see the module documentation. */
export class PortPool implements PortAllocator {
  readonly min: number;
  readonly max: number;
  readonly #tcp: PortBitmap;
  readonly #udp: PortBitmap;
  readonly #reuseDelayMs: number;
  readonly #clock: () => number;
  /** Owner → holding, made on the first owner (ten thousand empty pools stay small). */
  #owners?: OwnerTable<Owned>;
  /** Port key → owner, built the first time a clash needs a name, kept up to date after. */
  #index?: Map<number, string>;
  /** Ports in their reuse delay, made on the first delayed release. */
  #delay?: DelayQueue;

  constructor(min: number, max: number, options: PortPoolOptions = {}) {
    if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1 || max > 65535 || min > max) {
      throw new AllocationError(
        "invalid-range",
        `A port range is low-high within 1-65535, not ${min}-${max}`,
      );
    }
    const delay = options.reuseDelayMs ?? 0;
    if (!(delay >= 0) || !Number.isFinite(delay)) {
      throw new AllocationError(
        "invalid-request",
        `reuseDelayMs must be 0 or more milliseconds, not ${delay}`,
      );
    }
    this.min = min;
    this.max = max;
    const words = bitmapWords(max - min + 1);
    const slab = options.slab ?? new Uint32Array(2 * words);
    const offset = options.offset ?? 0;
    this.#tcp = new PortBitmap(min, max, slab, offset);
    this.#udp = new PortBitmap(min, max, slab, offset + words);
    this.#reuseDelayMs = delay;
    this.#clock = options.clock ?? Date.now;
  }

  /** Where the pool's bits live: its `slab` and `offset` options, or its own array. */
  get storage(): { words: Uint32Array; offset: number } {
    return this.#tcp.storage;
  }

  /** Ports in the range. */
  get size(): number {
    return this.max - this.min + 1;
  }

  #bits(protocol: Protocol): PortBitmap {
    return protocol === "TCP" ? this.#tcp : this.#udp;
  }

  /** Whether `port` is held (or delayed) in `protocol`, or in either when `protocol` is omitted. */
  has(port: number, protocol?: Protocol): boolean {
    this.#expire();
    if (protocol === undefined) return this.#tcp.has(port) || this.#udp.has(port);
    return this.#bits(protocol).has(port);
  }

  /** The owner holding `port` in `protocol`, if any (undefined for a free or delayed port). */
  ownerOf(port: number, protocol: Protocol): string | undefined {
    if (port < this.min || port > this.max || !this.#bits(protocol).has(port)) return undefined;
    return this.#holders().get(portKey(port, protocol));
  }

  /** What `owner` holds, one entry per protocol (undefined when nothing). */
  holdings(owner: string): HeldPort[] | undefined {
    const owned = this.#owners?.get(owner);
    return owned ? heldPorts(owned) : undefined;
  }

  /** What `owner` holds, as its `allocate` answer (`TCPUDP` entries kept whole). */
  ports(owner: string): readonly AllocatedPort[] | undefined {
    return this.#owners?.get(owner);
  }

  /** Number of owners. */
  get ownerCount(): number {
    return this.#owners?.size ?? 0;
  }

  /** Free ports of `protocol` (delayed ones excluded). */
  free(protocol: Protocol): number {
    this.#expire();
    return this.#bits(protocol).free;
  }

  /** Used ports of `protocol` (held by owners; delayed ones excluded). */
  used(protocol: Protocol): number {
    this.#expire();
    return this.#bits(protocol).used - this.#delayedCount(protocol);
  }

  /** Ports of `protocol` waiting out their reuse delay. */
  delayed(protocol: Protocol): number {
    this.#expire();
    return this.#delayedCount(protocol);
  }

  #delayedCount(protocol: Protocol): number {
    return this.#delay?.tally[protocol === "TCP" ? 0 : 1] ?? 0;
  }

  /** Brings delayed ports whose time has come back into circulation. */
  #expire(): void {
    const delay = this.#delay;
    if (delay === undefined || delay.size === 0) return;
    delay.expire(this.#clock(), (k) => ((k & 1) === 1 ? this.#udp : this.#tcp).release(k >>> 1));
  }

  /**
   * Allocates every port of `request` to `owner`, or none. Named ports
   * are taken as named; the others next-fit. An owner that already holds
   * ports gets them back when they answer the request (same count, same
   * protocols, named ports equal, consecutive if `contiguous`), including
   * ports it got from `restore`.
   *
   * The answer is shared with the pool: do not modify it.
   *
   * @example
   * ```ts
   * const pool = new PortPool(7000, 8000);
   * pool.allocate("ns/a", { count: 2, protocol: "UDP" }); // [{port: 7000, …}, {port: 7001, …}]
   * pool.allocate("ns/a", { count: 2, protocol: "UDP" }); // the same
   * ```
   * @throws {AllocationError} (`invalid-request`, `out-of-range`, `too-many`, `exhausted`,
   * `exhausted-delayed`, `conflict`, `port-delayed`, `owner-mismatch`) and changes nothing.
   */
  allocate(owner: string, request: PortRequest): readonly AllocatedPort[] {
    const specs = requestedPorts(request);
    const contiguous = request.contiguous ?? false;
    const owners = this.#owners ??= new OwnerTable();
    const existing = owners.get(owner);
    if (existing) {
      if (answers(existing, specs, contiguous)) return existing;
      throw new AllocationError(
        "owner-mismatch",
        `Owner ${owner} already holds ${
          describe(existing)
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
    const answer = specs.length === 1 && !contiguous
      ? this.#allocateOne(owner, specs[0])
      : this.#allocateMany(owner, specs, contiguous);
    owners.set(owner, answer);
    this.#indexAll(owner, answer);
    return answer;
  }

  /** The common case, one port: no rollback list. */
  #allocateOne(owner: string, s: PortSpec): AllocatedPort[] {
    const protocol = s.protocol;
    let port = s.port;
    if (port === undefined) {
      port = this.#next(protocol, [s]);
    } else {
      this.#check(port, protocol, owner);
    }
    if (protocol !== "UDP") this.#tcp.allocate(port);
    if (protocol !== "TCP") this.#udp.allocate(port);
    return [{ port, protocol }];
  }

  #allocateMany(owner: string, specs: readonly PortSpec[], contiguous: boolean): AllocatedPort[] {
    const tcpCursor = this.#tcp.cursor;
    const udpCursor = this.#udp.cursor;
    const answer: AllocatedPort[] = new Array(specs.length);
    try {
      if (contiguous) {
        const start = this.#findBlock(specs, owner);
        for (let i = 0; i < specs.length; i++) {
          answer[i] = { port: start + i, protocol: specs[i].protocol };
          this.#markAll(start + i, specs[i].protocol);
        }
      } else {
        // Named ports first, so a free choice never lands on one of them.
        for (let i = 0; i < specs.length; i++) {
          const s = specs[i];
          if (s.port === undefined) continue;
          for (let j = 0; j < i; j++) {
            if (specs[j].port === s.port && overlaps(specs[j].protocol, s.protocol)) {
              throw new AllocationError(
                "invalid-request",
                `Port ${s.port}/${s.protocol} is named twice in one request`,
              );
            }
          }
          this.#check(s.port, s.protocol, owner);
          answer[i] = { port: s.port, protocol: s.protocol };
          this.#markAll(s.port, s.protocol);
        }
        // Then TCPUDP, which needs a number free in both: a single-protocol
        // port taken first could be the only such number.
        for (const both of [true, false]) {
          for (let i = 0; i < specs.length; i++) {
            const s = specs[i];
            if (s.port !== undefined || (s.protocol === "TCPUDP") !== both) continue;
            const port = this.#next(s.protocol, specs);
            answer[i] = { port, protocol: s.protocol };
            this.#markAll(port, s.protocol);
          }
        }
      }
    } catch (err) {
      for (const a of answer) if (a) this.#unmarkAll(a.port, a.protocol);
      this.#tcp.cursor = tcpCursor;
      this.#udp.cursor = udpCursor;
      // Judged mid-request, "would the delayed ports help" missed the ports
      // this request had taken already: judge it again on the pool as it is.
      if (err instanceof AllocationError && err.code.startsWith("exhausted") && !contiguous) {
        const first = specs.find((s) => s.port === undefined);
        if (first) throw this.#exhausted(first.protocol, specs);
      }
      throw err;
    }
    return answer;
  }

  #markAll(port: number, protocol: RequestProtocol): void {
    if (protocol !== "UDP") this.#tcp.allocate(port);
    if (protocol !== "TCP") this.#udp.allocate(port);
  }

  /**
   * Adds recorded `entries` of `owner` to the index, if there is one. Only
   * once recorded: an index built in between (for a clash), from the
   * recorded holdings, could not see them.
   */
  #indexAll(owner: string, entries: readonly AllocatedPort[]): void {
    const index = this.#index;
    if (!index) return;
    for (const { port, protocol } of entries) {
      if (protocol !== "UDP") index.set(port * 2, owner);
      if (protocol !== "TCP") index.set(port * 2 + 1, owner);
    }
  }

  #unmarkAll(port: number, protocol: RequestProtocol): void {
    if (protocol !== "UDP") {
      this.#tcp.release(port);
      this.#index?.delete(port * 2);
    }
    if (protocol !== "TCP") {
      this.#udp.release(port);
      this.#index?.delete(port * 2 + 1);
    }
  }

  /** Throws unless `port` is free in every protocol of `protocol`. */
  #check(port: number, protocol: RequestProtocol, owner: string): void {
    if (protocol !== "UDP" && this.#tcp.has(port)) throw this.#taken(port, "TCP", owner);
    if (protocol !== "TCP" && this.#udp.has(port)) throw this.#taken(port, "UDP", owner);
  }

  /** The error for a named port that is not free: who holds it, or when it comes back. */
  #taken(port: number, protocol: Protocol, owner: string): AllocationError {
    const holder = this.#holders().get(portKey(port, protocol));
    if (holder !== undefined) {
      return new AllocationError(
        "conflict",
        `Port ${port}/${protocol} is held by ${holder}`,
        { owners: [holder, owner] },
      );
    }
    const until = this.#delay?.until(portKey(port, protocol)) ?? this.#clock();
    const retryAfterMs = Math.max(0, until - this.#clock());
    return new AllocationError(
      "port-delayed",
      `Port ${port}/${protocol} was freed recently and is in its reuse delay for ` +
        `${retryAfterMs} ms more`,
      { retryAfterMs },
    );
  }

  /** Port key → owner, built on first use and kept up to date after. */
  #holders(): Map<number, string> {
    if (this.#index) return this.#index;
    const index = new Map<number, string>();
    this.#owners?.forEach((owned, owner) => {
      for (const a of owned) {
        if (a.protocol !== "UDP") index.set(a.port * 2, owner);
        if (a.protocol !== "TCP") index.set(a.port * 2 + 1, owner);
      }
    });
    return this.#index = index;
  }

  /** A free port (next-fit) for `protocol`; TCPUDP = free in both. */
  #next(protocol: RequestProtocol, specs: readonly PortSpec[]): number {
    if (protocol !== "TCPUDP") {
      const bits = protocol === "TCP" ? this.#tcp : this.#udp;
      const i = bits.findFree(bits.cursor);
      if (i < 0) throw this.#exhausted(protocol, specs);
      bits.cursor = i + 1;
      return this.min + i;
    }
    const from = this.#tcp.cursor;
    let i = this.#findBoth(from, this.size);
    if (i < 0) i = this.#findBoth(0, from);
    if (i < 0) throw this.#exhausted("TCPUDP", specs);
    this.#tcp.cursor = i + 1;
    this.#udp.cursor = i + 1;
    return this.min + i;
  }

  #findBoth(from: number, to: number): number {
    return findFreeInBoth(this.#tcp, this.#udp, from, to);
  }

  /** Start of a run of `specs.length` consecutive ports free in each spec's protocols. */
  #findBlock(specs: readonly PortSpec[], owner: string): number {
    const n = specs.length;
    const busy = (port: number, p: RequestProtocol): Protocol | undefined =>
      p !== "UDP" && this.#tcp.has(port)
        ? "TCP"
        : p !== "TCP" && this.#udp.has(port)
        ? "UDP"
        : undefined;
    const fixed = specs.findIndex((s) => s.port !== undefined);
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
      for (let k = 0; k < n; k++) {
        const p = busy(start + k, specs[k].protocol);
        if (p) throw this.#taken(start + k, p, owner);
      }
      return start;
    }
    const both = specs.some((s) => s.protocol === "TCPUDP") ||
      (specs.some((s) => s.protocol === "TCP") && specs.some((s) => s.protocol === "UDP"));
    const protocol: RequestProtocol = both ? "TCPUDP" : specs[0].protocol;
    // Obstacles are checked per spec, so a mixed block may sit on ports free in one protocol only.
    const firstObstacle = (start: number): number => {
      for (let k = 0; k < n; k++) {
        if (busy(start + k, specs[k].protocol)) return start + k - this.min;
      }
      return -1;
    };
    const uniform = specs.every((s) => s.protocol === specs[0].protocol);
    let from = 0;
    while (from + n <= this.size) {
      const i = protocol === "TCPUDP"
        ? this.#firstFreeInAny(specs, from, this.size - n + 1)
        : this.#bits(protocol).findFreeIn(from, this.size - n + 1);
      if (i < 0) break;
      const obstacle = firstObstacle(this.min + i);
      if (obstacle < 0) return this.min + i;
      // One protocol throughout: no block can cover the obstacle. Mixed: try the next start.
      from = uniform ? obstacle + 1 : i + 1;
    }
    throw this.#exhausted(protocol, specs, n);
  }

  /** For a mixed block: first offset in `[from, to)` where the first spec's protocols are free. */
  #firstFreeInAny(specs: readonly PortSpec[], from: number, to: number): number {
    const p = specs[0].protocol;
    return p === "TCPUDP" ? this.#findBoth(from, to) : this.#bits(p).findFreeIn(from, to);
  }

  /** `exhausted`, or `exhausted-delayed` when the delayed ports would have been enough. */
  #exhausted(protocol: RequestProtocol, specs: readonly PortSpec[], block = 1): AllocationError {
    const what = block > 1 ? `${block} consecutive ${protocol} ports` : `free ${protocol} port`;
    const message = `No ${what} left in ${this.min}-${this.max}`;
    const need: ProtocolCounts = { TCP: 0, UDP: 0 };
    for (const s of specs) for (const p of expand(s.protocol)) need[p]++;
    const delayedHelps = PROTOCOLS.some((p) =>
      need[p] > 0 && this.#delayedCount(p) > 0 &&
      this.#bits(p).free + this.#delayedCount(p) >= need[p]
    );
    if (!delayedHelps) return new AllocationError("exhausted", message);
    const retryAfterMs = Math.max(0, this.#delay!.earliest! - this.#clock());
    return new AllocationError(
      "exhausted-delayed",
      `${message}; ${this.#delay!.size} freed ports are in their reuse delay, ` +
        `the first is back in ${retryAfterMs} ms`,
      { retryAfterMs },
    );
  }

  /**
   * Adds `port` to what `owner` holds: a port chosen elsewhere (a static
   * host port, one of a Pod gamenet does not manage). Idempotent. A port
   * in its reuse delay is taken at once.
   *
   * @example
   * ```ts
   * pool.reserve(7777, "UDP", "default/static-0");
   * ```
   * @throws {AllocationError} `conflict` naming both owners, `out-of-range`, `invalid-request`.
   */
  reserve(port: number, protocol: RequestProtocol, owner: string): void {
    const conflict = this.claim(port, protocol, owner);
    if (conflict) {
      throw new AllocationError(
        "conflict",
        `Port ${port}/${protocol} is held by ${conflict}; ${owner} cannot have it too`,
        { owners: [conflict, owner] },
      );
    }
  }

  /**
   * Rebuilds `owner`'s holding at start-up: each port is added to what
   * the owner holds (`TCPUDP` entries count as one, so a later `allocate`
   * with the same request returns them). A port another owner holds is
   * not taken over: it comes back as a conflict naming both; the other
   * ports are still taken, because they are in use.
   *
   * @example
   * ```ts
   * const conflicts = pool.restore("default/gs-0", [{ port: 7000, protocol: "UDP" }]);
   * ```
   * @throws {AllocationError} `out-of-range` or `invalid-request` for a bad entry, before taking any.
   */
  restore(owner: string, ports: readonly AllocatedPort[]): PortConflict[] {
    for (let k = 0; k < ports.length; k++) this.#validate(ports[k].port, ports[k].protocol);
    this.#expire();
    const owners = this.#owners ??= new OwnerTable();
    // The start-up case first: single-protocol ports nobody holds, taken in one step.
    const fresh: AllocatedPort[] = [];
    let k = 0;
    for (; k < ports.length; k++) {
      const { port, protocol } = ports[k];
      if (protocol === "TCPUDP") break;
      const bits = protocol === "TCP" ? this.#tcp : this.#udp;
      if (bits.has(port)) break;
      bits.allocate(port);
      fresh.push({ port, protocol });
    }
    if (fresh.length > 0) this.#hold(owner, owners.get(owner), fresh);
    const conflicts: PortConflict[] = [];
    for (; k < ports.length; k++) {
      const { port, protocol } = ports[k];
      if (protocol === "TCPUDP") {
        const t = this.#holderOther(port, "TCP", owner);
        const u = this.#holderOther(port, "UDP", owner);
        if (t !== undefined) conflicts.push({ port, protocol: "TCP", owners: [t, owner] });
        if (u !== undefined) conflicts.push({ port, protocol: "UDP", owners: [u, owner] });
        if (t !== undefined && u !== undefined) continue;
        if (t === undefined && u === undefined) {
          this.claim(port, "TCPUDP", owner);
        } else {
          this.claim(port, t === undefined ? "TCP" : "UDP", owner);
        }
      } else {
        const holder = this.claim(port, protocol, owner);
        if (holder !== undefined) conflicts.push({ port, protocol, owners: [holder, owner] });
      }
    }
    return conflicts;
  }

  #validate(port: number, protocol: RequestProtocol): void {
    if (protocol !== "TCP" && protocol !== "UDP" && protocol !== "TCPUDP") {
      throw new AllocationError(
        "invalid-request",
        `Protocol must be TCP, UDP or TCPUDP, not "${protocol}"`,
      );
    }
    if (!Number.isInteger(port) || port < this.min || port > this.max) {
      throw new AllocationError("out-of-range", `Port ${port} is outside ${this.min}-${this.max}`);
    }
  }

  /** The owner other than `owner` holding `port`, if any. */
  #holderOther(port: number, protocol: Protocol, owner: string): string | undefined {
    if (!this.#bits(protocol).has(port)) return undefined;
    const holder = this.#holders().get(portKey(port, protocol));
    return holder === owner ? undefined : holder;
  }

  /**
   * {@linkcode reserve} without the exception: adds `port` to `owner`'s
   * holding unless another owner holds it, and returns that other owner.
   * Takes a delayed port out of its delay. Idempotent.
   *
   * @example
   * ```ts
   * const holder = pool.claim(7000, "UDP", "default/gs-1");
   * if (holder !== undefined) console.log(`7000/UDP is ${holder}'s`);
   * ```
   * @throws {AllocationError} `out-of-range` or `invalid-request` for a bad port or protocol.
   */
  claim(port: number, protocol: RequestProtocol, owner: string): string | undefined {
    this.#validate(port, protocol);
    if (protocol === "TCPUDP") {
      for (const p of PROTOCOLS) {
        const other = this.#holderOther(port, p, owner);
        if (other !== undefined) return other;
      }
    }
    this.#expire();
    const owners = this.#owners ??= new OwnerTable();
    const owned = owners.get(owner);
    if (protocol !== "TCPUDP") {
      const bits = protocol === "TCP" ? this.#tcp : this.#udp;
      if (bits.has(port)) {
        const holder = this.#holders().get(portKey(port, protocol));
        if (holder === owner) return undefined;
        if (holder !== undefined) return holder;
        this.#undelay(port, protocol);
      }
      bits.allocate(port);
      this.#hold(owner, owned, [{ port, protocol }]);
      return undefined;
    }
    const added: AllocatedPort[] = [];
    for (const p of expand(protocol)) {
      const bits = this.#bits(p);
      if (bits.has(port)) {
        const holder = this.#holders().get(portKey(port, p));
        if (holder === owner) continue;
        if (holder !== undefined) return holder;
        this.#undelay(port, p);
      }
      bits.allocate(port);
      added.push({ port, protocol: p });
    }
    if (added.length === 0) return undefined;
    this.#hold(owner, owned, added.length === 2 ? [{ port, protocol }] : added);
    return undefined;
  }

  /** Adds `entries` to what `owner` holds (`owned`: its current holding). */
  #hold(owner: string, owned: Owned | undefined, entries: AllocatedPort[]): void {
    this.#indexAll(owner, entries);
    // Copy on write: answers handed out earlier never change under their holder.
    this.#owners!.set(owner, owned ? [...owned, ...entries] : entries);
  }

  /** Takes `port` out of the delay queue (its bit stays set: the caller takes it). */
  #undelay(port: number, protocol: Protocol): void {
    this.#delay?.remove(portKey(port, protocol));
  }

  /**
   * Frees exactly what `owner` held (into the reuse delay, if any) and
   * returns it, one entry per protocol; `[]` when it held nothing.
   *
   * @example
   * ```ts
   * pool.release("default/gs-0"); // [{ port: 7000, protocol: "UDP" }]
   * ```
   */
  release(owner: string): readonly HeldPort[] {
    const owned = this.#owners?.delete(owner);
    if (!owned) return [];
    const delay = this.#reuseDelayMs;
    const until = delay > 0 ? this.#clock() + delay : 0;
    const ports = owned;
    for (let i = 0; i < ports.length; i++) {
      const { port, protocol } = ports[i];
      if (protocol !== "UDP") this.#free(port, 0, until);
      if (protocol !== "TCP") this.#free(port, 1, until);
    }
    return heldPorts(ports);
  }

  #free(port: number, udp: 0 | 1, until: number): void {
    const k = port * 2 + udp;
    this.#index?.delete(k);
    if (until > 0) {
      (this.#delay ??= new DelayQueue()).push(k, until);
    } else {
      (udp ? this.#udp : this.#tcp).release(port);
    }
  }

  /**
   * Calls `fn` for every owner and its ports.
   *
   * @example
   * ```ts
   * pool.forEach((owner, ports) => console.log(owner, ports.length));
   * ```
   */
  forEach(fn: (owner: string, ports: readonly AllocatedPort[]) => void): void {
    this.#owners?.forEach((owned, owner) => fn(owner, owned));
  }

  /**
   * A read-only copy of the state, for `/allocations`.
   *
   * @example
   * ```ts
   * const { used, free, delayed, owners } = pool.snapshot();
   * ```
   */
  snapshot(): PoolSnapshot {
    this.#expire();
    const owners: { owner: string; ports: HeldPort[] }[] = [];
    this.forEach((owner, ports) => {
      owners.push({
        owner,
        ports: heldPorts(ports).slice().sort((a, b) =>
          a.port - b.port || (a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : 0)
        ),
      });
    });
    owners.sort((a, b) => (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0));
    return {
      min: this.min,
      max: this.max,
      used: {
        TCP: this.#tcp.used - this.#delayedCount("TCP"),
        UDP: this.#udp.used - this.#delayedCount("UDP"),
      },
      free: { TCP: this.#tcp.free, UDP: this.#udp.free },
      delayed: { TCP: this.#delayedCount("TCP"), UDP: this.#delayedCount("UDP") },
      owners,
    };
  }
}
