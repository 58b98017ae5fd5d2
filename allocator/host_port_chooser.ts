/**
 * Host-port choice before scheduling. The admission webhook runs before
 * the scheduler, so gamenet cannot know the Pod's node: it picks the ports
 * used on the fewest nodes (so free on the most), counting Pods admitted
 * but not yet bound, and the scheduler's host-port filter then puts the
 * Pod on a node where they are free.
 *
 * Each port number has a usage count: the nodes where it is used in any
 * protocol (a node's TCP use of a number makes it a poor UDP choice there
 * too, and TCPUDP needs nothing more), plus pending claims, plus freed
 * ports still in their reuse delay. A min-tree over the counts (two
 * `Int32Array`s, 8 bytes per port) finds the least used port after the
 * next-fit cursor in O(log range) and takes an update in O(log range), so
 * neither the choice nor a node's change scans nodes or ports.
 *
 * Each node has a TCP and a UDP {@linkcode PortBitmap} (carved from shared
 * slabs); owners are kept once for all nodes, each as one small array of
 * numbers (node id, then `port * 2 + (UDP ? 1 : 0)` per port), which keeps
 * a restore of 100,000 Pods light on the garbage collector. The name of
 * the owner holding a clashing port comes from an index built the first
 * time a clash needs it.
 *
 * A reuse delay here keeps a freed port counted for a while: it becomes
 * less preferred rather than forbidden, because the scheduler, not
 * gamenet, places the Pod (a port is never refused while a node has it
 * free).
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
import { bitmapWords, PortBitmap } from "./port_bitmap.ts";
import type { HeldPort, PoolSnapshot, Protocol, ProtocolCounts, RequestProtocol } from "./types.ts";
import { WordSlab } from "./word_slab.ts";
import { DelayQueue } from "./delay_queue.ts";

/** Options of {@linkcode HostPortChooser}. */
export interface HostPortChooserOptions {
  /** A freed port stays counted (less preferred) this long. @default {0} */
  reuseDelayMs?: number;
  /** Milliseconds now; tests pass their own. @default {Date.now} */
  clock?: () => number;
}

/** A read-only view of the chooser. */
export interface HostPortSnapshot {
  min: number;
  max: number;
  /** The lowest usage count: the best port is used on this many nodes (pending claims included). */
  leastUsage: number;
  /** Per node (sorted by name): used and free ports, and its owners with their ports. */
  nodes: { node: string; pool: PoolSnapshot }[];
  /** Choices made at admission, not yet bound to a node. */
  pending: { owner: string; ports: number[]; since?: number }[];
  /** Freed ports still counted because of the reuse delay. */
  delayed: number;
}

/** Larger than any usage count: marks padding leaves and ports excluded from one choice. */
const INF = 0x3fffffff;
/** Index keys: `node id * KEYS + port * 2 + udp`. */
const KEYS = 131_072;

interface NodeRec {
  readonly name: string;
  readonly id: number;
  readonly tcp: PortBitmap;
  readonly udp: PortBitmap;
}

/** A choice made at admission, not yet bound. */
interface Pending {
  readonly ports: number[];
  /**
   * When it was first seen by `sweepPending` (or restored): `choose` reads
   * no clock, which costs as much as the rest of a choice.
   */
  since?: number;
}

/** Node id, then `port * 2 + udp` per held port. Never changed in place. */
type Holding = readonly number[];

/** The chooser: see the module documentation. */
export class HostPortChooser {
  readonly min: number;
  readonly max: number;
  readonly #size: number;
  readonly #slab: WordSlab;
  readonly #nodes = new Map<string, NodeRec>();
  readonly #byId: (NodeRec | undefined)[] = [];
  readonly #freeIds: number[] = [];
  /** Bound owners; `null` marks a released one (see `PortPool` on V8's `Map`). */
  #owners = new Map<string, Holding | null>();
  #live = 0;
  /** Index key → owner, built on first need and kept up to date after. */
  #index?: Map<number, string>;
  /** Usage count of each port offset. */
  readonly #count: Int32Array;
  /** Min-tree: leaf `#leaves + i` is `#count[i]`, each inner node the min of its two children. */
  readonly #tree: Int32Array;
  readonly #leaves: number;
  #cursor = 0;
  /** Reused by `bind`. */
  readonly #scratch: number[] = [];
  /** Admitted, not yet bound; `null` marks a dropped one (see `#owners`). */
  #pending = new Map<string, Pending | null>();
  #livePending = 0;
  /** Freed ports counted until their time, in release order. */
  readonly #delay = new DelayQueue();
  readonly #reuseDelayMs: number;
  readonly #clock: () => number;

  constructor(min: number, max: number, options: HostPortChooserOptions = {}) {
    if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1 || max > 65535 || min > max) {
      throw new AllocationError(
        "invalid-range",
        `A port range is low-high within 1-65535, not ${min}-${max}`,
      );
    }
    this.min = min;
    this.max = max;
    this.#size = max - min + 1;
    this.#slab = new WordSlab(2 * bitmapWords(this.#size));
    this.#count = new Int32Array(this.#size);
    let leaves = 1;
    while (leaves < this.#size) leaves *= 2;
    this.#leaves = leaves;
    this.#tree = new Int32Array(2 * leaves).fill(INF);
    this.#tree.fill(0, leaves, leaves + this.#size);
    for (let j = leaves - 1; j >= 1; j--) {
      this.#tree[j] = Math.min(this.#tree[2 * j], this.#tree[2 * j + 1]);
    }
    this.#reuseDelayMs = options.reuseDelayMs ?? 0;
    this.#clock = options.clock ?? Date.now;
  }

  /** Nodes known. */
  get nodeCount(): number {
    return this.#nodes.size;
  }

  /** Owners bound on a node. */
  get ownerCount(): number {
    return this.#live;
  }

  /** How many nodes use `port` plus pending claims and delays on it (0 outside the range). */
  usage(port: number): number {
    this.#expire();
    return this.#count[port - this.min] ?? 0;
  }

  /** Sets leaf `i` of the min-tree and fixes its ancestors (stops once one is unchanged). */
  #setLeaf(i: number, value: number): void {
    const tree = this.#tree;
    let j = this.#leaves + i;
    tree[j] = value;
    while (j > 1) {
      const parent = j >>> 1;
      const m = Math.min(tree[j], tree[j ^ 1]);
      if (tree[parent] === m) return;
      tree[parent] = m;
      j = parent;
    }
  }

  #add(i: number, delta: number): void {
    const c = this.#count[i] + delta;
    this.#count[i] = c;
    this.#setLeaf(i, c);
  }

  /** First offset at or after `from` whose count is at most `target`, or -1. */
  #firstAtMost(from: number, target: number): number {
    const tree = this.#tree;
    let j = this.#leaves + from;
    if (tree[j] <= target) return from;
    // Climb until a right sibling holds a small enough leaf, then descend to its leftmost one.
    while (true) {
      if ((j & 1) === 0 && tree[j + 1] <= target) {
        j++;
        break;
      }
      j >>>= 1;
      if (j <= 1) return -1;
    }
    while (j < this.#leaves) j = tree[2 * j] <= target ? 2 * j : 2 * j + 1;
    return j - this.#leaves;
  }

  #expire(): void {
    if (this.#delay.size === 0) return;
    this.#delay.expire(this.#clock(), (i) => this.#add(i, -1));
  }

  /**
   * Adds a node (idempotent).
   *
   * @example
   * ```ts
   * chooser.addNode("node-1");
   * ```
   */
  addNode(name: string): void {
    this.#node(name);
  }

  #node(name: string): NodeRec {
    const found = this.#nodes.get(name);
    if (found) return found;
    const region = this.#slab.take();
    const id = this.#freeIds.pop() ?? this.#byId.length;
    const words = bitmapWords(this.#size);
    const rec: NodeRec = {
      name,
      id,
      tcp: new PortBitmap(this.min, this.max, region.words, region.offset),
      udp: new PortBitmap(this.min, this.max, region.words, region.offset + words),
    };
    this.#nodes.set(name, rec);
    this.#byId[id] = rec;
    return rec;
  }

  /**
   * Removes a node: what was bound there is forgotten (no reuse delay,
   * the node is gone) and its owners are returned.
   *
   * @example
   * ```ts
   * chooser.removeNode("node-1"); // ["default/gs-0"]
   * ```
   */
  removeNode(name: string): string[] {
    const n = this.#nodes.get(name);
    if (!n) return [];
    const owners: string[] = [];
    for (const [owner, rec] of this.#owners) {
      if (rec && rec[0] === n.id) owners.push(owner);
    }
    for (const owner of owners) {
      const rec = this.#owners.get(owner)!;
      for (let k = 1; k < rec.length; k++) this.#index?.delete(n.id * KEYS + rec[k]);
      this.#owners.set(owner, null);
      this.#live--;
    }
    for (let i = 0; i < this.#size; i++) {
      const port = this.min + i;
      if (n.tcp.has(port) || n.udp.has(port)) this.#add(i, -1);
    }
    this.#nodes.delete(name);
    this.#byId[n.id] = undefined;
    this.#freeIds.push(n.id);
    this.#slab.give(n.tcp.storage);
    this.#compactIfSparse();
    return owners;
  }

  /**
   * Chooses one port per entry for `owner`, used on the fewest nodes
   * (next-fit among equals), and counts them as pending until
   * {@linkcode bind}. Idempotent per owner. With `dryRun`, the answer is
   * computed and nothing changes.
   *
   * @example
   * ```ts
   * chooser.choose("default/gs-0", ["UDP", "TCPUDP"]); // e.g. [8012, 8013]
   * ```
   * @throws {AllocationError} `exhausted` when even the least used port is used on every node;
   * `invalid-request`, `too-many`, `owner-mismatch`.
   */
  choose(
    owner: string,
    protocols: RequestProtocol[],
    options: { dryRun?: boolean } = {},
  ): number[] {
    const existing = this.#pending.get(owner);
    if (existing) return [...existing.ports];
    const bound = this.#owners.get(owner);
    if (bound) {
      throw new AllocationError(
        "owner-mismatch",
        `Owner ${owner} is already bound on node ${this.#byId[bound[0]]!.name}`,
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
    const k = protocols.length;
    const chosen: number[] = new Array(k);
    let from = this.#cursor;
    let worst = 0;
    for (let n = 0; n < k; n++) {
      const least = this.#tree[1];
      let i = this.#firstAtMost(from, least);
      if (i < 0) i = this.#firstAtMost(0, least);
      chosen[n] = i;
      if (this.#count[i] > worst) worst = this.#count[i];
      // Out of this choice's reach until it is made: one port per entry.
      if (k > 1) this.#setLeaf(i, INF);
      from = i + 1 === this.#size ? 0 : i + 1;
    }
    const nodes = this.#nodes.size;
    const fails = nodes > 0 && worst >= nodes;
    const keep = !fails && options.dryRun !== true;
    for (let n = 0; n < k; n++) {
      const i = chosen[n];
      if (keep) this.#add(i, 1);
      else if (k > 1) this.#setLeaf(i, this.#count[i]);
      chosen[n] = this.min + i;
    }
    if (fails) {
      throw new AllocationError(
        "exhausted",
        `No host port in ${this.min}-${this.max} is free on any of the ${nodes} nodes ` +
          `(counting Pods admitted but not yet scheduled); widen the range or add nodes`,
      );
    }
    if (keep) {
      this.#cursor = from;
      this.#setPending(owner, { ports: chosen });
    }
    return chosen.slice();
  }

  /**
   * Holds `ports` on `node` for `owner`: a pending choice moves there, a
   * static or foreign port is registered (the node is added if new; an
   * owner bound elsewhere moves). Ports outside the range are ignored.
   * Idempotent. Returns the owners already holding one of them there (a
   * clash the scheduler should have prevented); those ports stay theirs.
   *
   * @example
   * ```ts
   * chooser.bind("default/gs-0", "node-7", [{ port: 8012, protocol: "UDP" }]); // []
   * ```
   * @throws {AllocationError} `invalid-request` for a protocol other than TCP or UDP, before any change.
   */
  bind(owner: string, node: string, ports: readonly HeldPort[]): string[] {
    for (let k = 0; k < ports.length; k++) {
      const p = ports[k].protocol;
      if (p !== "TCP" && p !== "UDP") {
        throw new AllocationError("invalid-request", `Protocol must be TCP or UDP, not "${p}"`);
      }
    }
    // A pending port that becomes used on the node keeps its count: no update either way.
    const pending = this.#takePending(owner);
    const n = this.#node(node);
    let rec = this.#owners.get(owner);
    if (rec && rec[0] !== n.id) {
      this.#unbind(owner, rec);
      rec = null;
    }
    // New keys collect in a scratch array, so the holding is made once at its exact size.
    const scratch = this.#scratch;
    scratch[0] = n.id;
    let end = 1;
    let clashes: string[] | undefined;
    for (let k = 0; k < ports.length; k++) {
      const { port, protocol } = ports[k];
      if (!(port >= this.min && port <= this.max) || !Number.isInteger(port)) continue;
      const udp = protocol === "UDP" ? 1 : 0;
      const key = port * 2 + udp;
      const bits = udp ? n.udp : n.tcp;
      if (bits.has(port)) {
        // Already this owner's: from before, or earlier in this call.
        if (rec?.includes(key, 1) || scratch.lastIndexOf(key, end - 1) > 0) continue;
        const holder = this.#holders().get(n.id * KEYS + key)!;
        clashes ??= [];
        if (!clashes.includes(holder)) clashes.push(holder);
        continue;
      }
      const wasUsed = n.tcp.has(port) || n.udp.has(port);
      bits.allocate(port);
      if (!wasUsed) {
        const j = pending ? pending.indexOf(port) : -1;
        if (j >= 0) pending![j] = -1;
        else this.#add(port - this.min, 1);
      }
      scratch[end++] = key;
    }
    if (pending) { for (const p of pending) if (p >= 0) this.#add(p - this.min, -1); }
    if (end > 1) {
      const next = rec ? rec.concat(scratch.slice(1, end)) : scratch.slice(0, end);
      this.#owners.set(owner, next);
      // Only now: an index built during the loop (for a clash) could not see these.
      const index = this.#index;
      if (index) {
        for (let k = 1; k < next.length; k++) index.set(n.id * KEYS + next[k], owner);
      }
      if (!rec) this.#live++;
      if (rec === null) this.#compactIfSparse();
    }
    return clashes ?? [];
  }

  #setPending(owner: string, pending: Pending): void {
    const had = this.#pending.get(owner);
    this.#pending.set(owner, pending);
    if (!had) this.#livePending++;
  }

  /** Drops `owner`'s pending claim and its usage; false when it had none. */
  #dropPending(owner: string): boolean {
    const ports = this.#takePending(owner);
    if (!ports) return false;
    for (const p of ports) this.#add(p - this.min, -1);
    return true;
  }

  /** Removes `owner`'s pending claim and returns its ports; their usage is the caller's to undo. */
  #takePending(owner: string): number[] | undefined {
    const pending = this.#pending.get(owner);
    if (!pending) return undefined;
    this.#pending.set(owner, null);
    this.#livePending--;
    const dead = this.#pending.size - this.#livePending;
    if (dead > 1024 && dead > this.#livePending) {
      const live = new Map<string, Pending | null>();
      for (const [k, v] of this.#pending) if (v) live.set(k, v);
      this.#pending = live;
    }
    return pending.ports;
  }

  /** Index key → owner. */
  #holders(): Map<number, string> {
    if (this.#index) return this.#index;
    const index = new Map<number, string>();
    for (const [owner, rec] of this.#owners) {
      if (!rec) continue;
      for (let k = 1; k < rec.length; k++) index.set(rec[0] * KEYS + rec[k], owner);
    }
    return this.#index = index;
  }

  /** Frees what `owner` holds on its node; its ports stay counted through the reuse delay. */
  #unbind(owner: string, rec: Holding): void {
    this.#owners.set(owner, null);
    this.#live--;
    const n = this.#byId[rec[0]]!;
    const until = this.#reuseDelayMs > 0 ? this.#clock() + this.#reuseDelayMs : 0;
    for (let k = 1; k < rec.length; k++) {
      const key = rec[k];
      const port = key >>> 1;
      (key & 1 ? n.udp : n.tcp).release(port);
      this.#index?.delete(n.id * KEYS + key);
      // Still used there in the other protocol: still counted once.
      if (n.tcp.has(port) || n.udp.has(port)) continue;
      if (until > 0) {
        this.#delay.push(port - this.min, until);
      } else {
        this.#add(port - this.min, -1);
      }
    }
  }

  /** Drops released owners' `null` marks once they outnumber the live owners. */
  #compactIfSparse(): void {
    const dead = this.#owners.size - this.#live;
    if (dead <= 1024 || dead <= this.#live) return;
    const live = new Map<string, Holding | null>();
    for (const [k, v] of this.#owners) if (v) live.set(k, v);
    this.#owners = live;
  }

  /**
   * Frees what `owner` holds or has pending. Idempotent.
   *
   * @example
   * ```ts
   * chooser.release("default/gs-0");
   * ```
   */
  release(owner: string): void {
    this.#dropPending(owner);
    const rec = this.#owners.get(owner);
    if (rec) {
      this.#unbind(owner, rec);
      this.#compactIfSparse();
    }
  }

  /**
   * Registers a pending claim found at start-up (a Pod admitted, not yet
   * bound). Ports outside the range are ignored; an owner already known
   * is left as it is.
   *
   * @example
   * ```ts
   * chooser.restorePending("default/gs-3", [8040]);
   * ```
   */
  restorePending(owner: string, ports: number[], since: number = this.#clock()): void {
    if (this.#pending.get(owner) || this.#owners.get(owner)) return;
    const kept = [...new Set(ports)].filter((p) =>
      Number.isInteger(p) && p >= this.min && p <= this.max
    );
    for (const p of kept) this.#add(p - this.min, 1);
    this.#setPending(owner, { ports: kept, since });
  }

  /**
   * Pending owners that `isLive` denies and that have waited at least
   * `olderThanMs`: released and returned. A choice's wait is counted from
   * the first sweep that sees it (or from `restorePending`'s `since`), so
   * it is dropped after `olderThanMs` plus at most one sweep interval,
   * never sooner.
   *
   * @example
   * ```ts
   * chooser.sweepPending((owner) => livePods.has(owner), 60_000);
   * ```
   */
  sweepPending(isLive: (owner: string) => boolean, olderThanMs: number): string[] {
    const now = this.#clock();
    const cutoff = now - olderThanMs;
    const gone: string[] = [];
    for (const [owner, p] of this.#pending) {
      if (!p) continue;
      if (p.since === undefined) p.since = now;
      else if (p.since <= cutoff && !isLive(owner)) gone.push(owner);
    }
    for (const owner of gone) this.release(owner);
    return gone;
  }

  /** Whether `owner` has a pending choice. */
  isPending(owner: string): boolean {
    return !!this.#pending.get(owner);
  }

  /** The node `owner` is bound on, if any. */
  nodeOf(owner: string): string | undefined {
    const rec = this.#owners.get(owner);
    return rec ? this.#byId[rec[0]]!.name : undefined;
  }

  /** What `owner` holds on its node (sorted), if bound. */
  holdings(owner: string): HeldPort[] | undefined {
    const rec = this.#owners.get(owner);
    return rec ? heldOf(rec) : undefined;
  }

  /** The owner holding `port` in `protocol` on `node`, if any. */
  ownerOf(node: string, port: number, protocol: Protocol): string | undefined {
    const n = this.#nodes.get(node);
    if (!n || !(protocol === "UDP" ? n.udp : n.tcp).has(port)) return undefined;
    return this.#holders().get(n.id * KEYS + port * 2 + (protocol === "UDP" ? 1 : 0));
  }

  /** Used and free ports of `node` per protocol, if known. */
  nodeUsage(node: string): { used: ProtocolCounts; free: ProtocolCounts } | undefined {
    const n = this.#nodes.get(node);
    if (!n) return undefined;
    return {
      used: { TCP: n.tcp.used, UDP: n.udp.used },
      free: { TCP: n.tcp.free, UDP: n.udp.free },
    };
  }

  /**
   * A read-only copy of the state, nodes sorted by name.
   *
   * @example
   * ```ts
   * const { leastUsage, nodes, pending } = chooser.snapshot();
   * ```
   */
  snapshot(): HostPortSnapshot {
    this.#expire();
    const byNode = new Map<number, { owner: string; ports: HeldPort[] }[]>();
    for (const [owner, rec] of this.#owners) {
      if (!rec) continue;
      let list = byNode.get(rec[0]);
      if (!list) byNode.set(rec[0], list = []);
      list.push({ owner, ports: heldOf(rec) });
    }
    const nodes = [...this.#nodes.values()].map((n) => ({
      node: n.name,
      pool: {
        min: this.min,
        max: this.max,
        used: { TCP: n.tcp.used, UDP: n.udp.used },
        free: { TCP: n.tcp.free, UDP: n.udp.free },
        delayed: { TCP: 0, UDP: 0 },
        owners: (byNode.get(n.id) ?? []).sort((a, b) =>
          a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0
        ),
      },
    })).sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
    return {
      min: this.min,
      max: this.max,
      leastUsage: this.#tree[1],
      nodes,
      pending: [...this.#pending].flatMap(([owner, p]) =>
        p
          ? [{ owner, ports: [...p.ports], ...(p.since === undefined ? {} : { since: p.since }) }]
          : []
      ),
      delayed: this.#delay.size,
    };
  }
}

/** A holding's ports, sorted by port then protocol. */
function heldOf(rec: Holding): HeldPort[] {
  const out: HeldPort[] = [];
  for (let k = 1; k < rec.length; k++) {
    out.push({ port: rec[k] >>> 1, protocol: rec[k] & 1 ? "UDP" : "TCP" });
  }
  return out.sort((a, b) => a.port - b.port || (a.protocol < b.protocol ? -1 : 1));
}
