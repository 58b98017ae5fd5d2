/**
 * Host-port choice before scheduling. The admission webhook runs before
 * the scheduler, so gamenet cannot know the Pod's node: it picks the ports
 * used on the fewest nodes (so free on the most), counting Pods admitted
 * but not yet bound, and the scheduler's host-port filter then puts the
 * Pod on a node where they are free.
 *
 * TCP and UDP are separate spaces, as they are for the scheduler (its
 * filter compares port, protocol and host IP): each port number has three
 * usage counts, one per {@linkcode RequestProtocol} — the nodes where it is
 * taken in TCP, in UDP, and in either (what a `TCPUDP` entry needs free) —
 * each plus the pending claims and reuse delays that touch it. A
 * {@linkcode MinTree} over each count finds the least used port after the
 * next-fit cursor in O(log range) and takes an update in O(log range), so
 * neither the choice nor a node's change scans nodes or ports.
 *
 * Each node has a TCP and a UDP {@linkcode PortBitmap} (carved from shared
 * slabs) and knows its owners, so removing a node costs what it holds.
 * Owners are kept once for all nodes, each as one small array of numbers
 * (node id, then `port * 2 + (UDP ? 1 : 0)` per port), which keeps a
 * restore of 100,000 Pods light on the garbage collector. The name of the
 * owner holding a clashing port comes from an index built the first time a
 * clash needs it.
 *
 * A reuse delay keeps a freed port taken on its node for a while: it
 * becomes less preferred rather than forbidden, because the scheduler, not
 * gamenet, places the Pod (a port is never refused while a node has it
 * free). A Pod the scheduler puts on that very port ends the delay there.
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
import { MinTree } from "./min_tree.ts";
import { OwnerTable } from "./owner_table.ts";

/** Options of {@linkcode HostPortChooser}. */
export interface HostPortChooserOptions {
  /** A freed port stays taken on its node (less preferred) this long. @default {0} */
  reuseDelayMs?: number;
  /** Milliseconds now; tests pass their own. @default {Date.now} */
  clock?: () => number;
}

/** Options of {@linkcode HostPortChooser.choose}. */
export interface ChooseOptions {
  /** Compute the answer, change nothing. @default {false} */
  dryRun?: boolean;
  /**
   * Choose even when no node has the ports free (the least used ones):
   * the Pod then waits, Pending, for a node that has them (see
   * {@linkcode HostPortChooser.waitsForNode}). @default {false}
   */
  evenIfFull?: boolean;
}

/** A choice made at admission, not yet bound to a node. */
export interface PendingChoice {
  owner: string;
  /** One port per requested entry, in request order. */
  ports: number[];
  /** The protocol each entry asked for. */
  protocols: RequestProtocol[];
}

/** A read-only view of the chooser. */
export interface HostPortSnapshot {
  min: number;
  max: number;
  /** Per protocol: the best port is taken on this many nodes (pending claims included). */
  leastUsage: Record<RequestProtocol, number>;
  /** Per node (sorted by name): used, free and delayed ports, and its owners with their ports. */
  nodes: { node: string; pool: PoolSnapshot }[];
  /** Choices made at admission, not yet bound to a node. */
  pending: PendingChoice[];
  /** Freed ports (per node and protocol) still in their reuse delay. */
  delayed: number;
}

/** Keys of the owner index and the delay queue: `node id * KEY_SPACE + port * 2 + udp`. */
const KEY_SPACE = 131_072;
/** Bits of a port's occupancy of one node. */
const TAKEN_TCP = 1;
const TAKEN_UDP = 2;

interface NodeRec {
  readonly name: string;
  /** Never reused: a delay entry of a removed node cannot reach its successor. */
  readonly id: number;
  readonly tcp: PortBitmap;
  readonly udp: PortBitmap;
  /**
   * Owners bound here, in bind order. A `Set` costs 300 ns an owner at a
   * restore of 100,000; this list costs a push, and keeps owners that left
   * until `liveOwners` says half are gone (see `#nodeOwners`).
   */
  owners: string[];
  liveOwners: number;
  /** Freed ports in their reuse delay here: `port * 2 + udp` → when they come back. */
  delayed?: Map<number, number>;
  /** Entries of `delayed` per protocol. */
  delayedTCP: number;
  delayedUDP: number;
}

/** A choice made at admission, as kept. */
interface Pending {
  readonly ports: number[];
  readonly protocols: RequestProtocol[];
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
  /**
   * Bound owners. Those of a removed node stay until next asked about
   * (see `#bound`): removing a node then costs what it holds, not a table
   * update per owner.
   */
  readonly #owners = new OwnerTable<Holding>();
  /** Entries of `#owners` whose node is gone. */
  #orphans = 0;
  /** Index key → owner, built on first need and kept up to date after. */
  #index?: Map<number, string>;
  /** Usage counts per port offset, by what a request entry needs free. */
  readonly #use: Record<RequestProtocol, MinTree>;
  #cursor = 0;
  /** Reused by `bind`. */
  readonly #scratch: number[] = [];
  /** Count changes of the bind under way: offset, then TCP, UDP and either, per row. */
  #deltas = new Int32Array(4 * 8);
  #deltaRows = 0;
  /** Admitted, not yet bound. */
  readonly #pending = new OwnerTable<Pending>();
  /** Freed ports as index keys, in release order; an entry a later bind ended is skipped. */
  readonly #delay = new DelayQueue();
  /** Entries of the nodes' `delayed` maps. */
  #delayedLive = 0;
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
    this.#use = {
      TCP: new MinTree(this.#size),
      UDP: new MinTree(this.#size),
      TCPUDP: new MinTree(this.#size),
    };
    this.#reuseDelayMs = options.reuseDelayMs ?? 0;
    this.#clock = options.clock ?? Date.now;
  }

  /** Nodes known. */
  get nodeCount(): number {
    return this.#nodes.size;
  }

  /** Owners bound on a node. */
  get ownerCount(): number {
    return this.#owners.size - this.#orphans;
  }

  /**
   * On how many nodes `port` is taken for a `protocol` entry, plus the
   * pending claims on it (0 outside the range). `TCPUDP`: taken in either.
   *
   * @example
   * ```ts
   * chooser.usage(8000, "UDP"); // e.g. 3
   * ```
   */
  usage(port: number, protocol: RequestProtocol = "TCPUDP"): number {
    this.#expire();
    if (!(port >= this.min && port <= this.max)) return 0;
    return this.#use[protocol].get(port - this.min);
  }

  /** What `port` occupies on `n`: taken (bound or delayed) in TCP, UDP, both or neither. */
  #occupancy(n: NodeRec, port: number): number {
    const key = port * 2;
    return (n.tcp.has(port) || (n.delayedTCP > 0 && n.delayed!.has(key)) ? TAKEN_TCP : 0) |
      (n.udp.has(port) || (n.delayedUDP > 0 && n.delayed!.has(key + 1)) ? TAKEN_UDP : 0);
  }

  /** Moves offset `i`'s counts from one node occupancy to another. */
  #occupancyChanged(i: number, before: number, after: number): void {
    if (before === after) return;
    const tcp = (after & TAKEN_TCP) - (before & TAKEN_TCP);
    const udp = ((after & TAKEN_UDP) - (before & TAKEN_UDP)) >> 1;
    const either = (after !== 0 ? 1 : 0) - (before !== 0 ? 1 : 0);
    if (tcp !== 0) this.#use.TCP.add(i, tcp);
    if (udp !== 0) this.#use.UDP.add(i, udp);
    if (either !== 0) this.#use.TCPUDP.add(i, either);
  }

  /** Adds to offset `i`'s changes in the bind under way (a few ports: a linear search). */
  #delta(i: number, tcp: number, udp: number, either: number): void {
    let d = this.#deltas;
    let row = 0;
    while (row < this.#deltaRows && d[4 * row] !== i) row++;
    if (row === this.#deltaRows) {
      if (4 * (row + 1) > d.length) {
        const grown = new Int32Array(2 * d.length);
        grown.set(d);
        d = this.#deltas = grown;
      }
      d[4 * row] = i;
      d[4 * row + 1] = d[4 * row + 2] = d[4 * row + 3] = 0;
      this.#deltaRows++;
    }
    d[4 * row + 1] += tcp;
    d[4 * row + 2] += udp;
    d[4 * row + 3] += either;
  }

  /** Applies what {@linkcode #delta} gathered and starts afresh. */
  #applyDeltas(): void {
    const d = this.#deltas;
    for (let row = 0; row < this.#deltaRows; row++) {
      const i = d[4 * row];
      if (d[4 * row + 1] !== 0) this.#use.TCP.add(i, d[4 * row + 1]);
      if (d[4 * row + 2] !== 0) this.#use.UDP.add(i, d[4 * row + 2]);
      if (d[4 * row + 3] !== 0) this.#use.TCPUDP.add(i, d[4 * row + 3]);
    }
    this.#deltaRows = 0;
  }

  /** Counts (`sign` 1) or uncounts (-1) a pending choice: one node's worth per entry. */
  #countPending(p: Pending, sign: 1 | -1): void {
    for (let k = 0; k < p.ports.length; k++) {
      const i = p.ports[k] - this.min;
      const protocol = p.protocols[k];
      if (protocol !== "UDP") this.#use.TCP.add(i, sign);
      if (protocol !== "TCP") this.#use.UDP.add(i, sign);
      this.#use.TCPUDP.add(i, sign);
    }
  }

  #expire(): void {
    if (this.#delay.size === 0) return;
    this.#delay.expire(this.#clock(), (entry, until) => {
      const n = this.#byId[Math.floor(entry / KEY_SPACE)];
      const key = entry % KEY_SPACE;
      // Node gone, or the delay ended by a bind (and perhaps begun again later).
      if (!n || n.delayed?.get(key) !== until) return;
      const port = key >>> 1;
      const before = this.#occupancy(n, port);
      this.#endDelay(n, key);
      this.#occupancyChanged(port - this.min, before, this.#occupancy(n, port));
    });
  }

  #endDelay(n: NodeRec, key: number): void {
    n.delayed!.delete(key);
    if (key & 1) n.delayedUDP--;
    else n.delayedTCP--;
    this.#delayedLive--;
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
    const words = bitmapWords(this.#size);
    const rec: NodeRec = {
      name,
      id: this.#byId.length,
      tcp: new PortBitmap(this.min, this.max, region.words, region.offset),
      udp: new PortBitmap(this.min, this.max, region.words, region.offset + words),
      owners: [],
      liveOwners: 0,
      delayedTCP: 0,
      delayedUDP: 0,
    };
    this.#nodes.set(name, rec);
    this.#byId.push(rec);
    return rec;
  }

  /**
   * Removes a node: what was bound or delayed there is forgotten (the node
   * is gone) and its owners are returned. Costs what the node holds.
   *
   * @example
   * ```ts
   * chooser.removeNode("node-1"); // ["default/gs-0"]
   * ```
   */
  removeNode(name: string): string[] {
    const n = this.#nodes.get(name);
    if (!n) return [];
    this.#expire();
    // Its owners become orphans, dropped when next asked about (`#bound`).
    const owners = n.owners.length === n.liveOwners ? n.owners : this.#nodeOwners(n);
    this.#orphans += owners.length;
    if (this.#index) {
      for (const owner of owners) {
        const rec = this.#owners.get(owner)!;
        for (let k = 1; k < rec.length; k++) this.#index.delete(n.id * KEY_SPACE + rec[k]);
      }
    }
    // Every port the node takes leaves the counts at once; the trees are
    // rebuilt in one pass (cheaper than hundreds of single updates).
    const use = this.#use;
    const forget = (port: number) => {
      const occupied = this.#occupancy(n, port);
      const i = port - this.min;
      if (occupied & TAKEN_TCP) use.TCP.adjust(i, -1);
      if (occupied & TAKEN_UDP) use.UDP.adjust(i, -1);
      if (occupied) use.TCPUDP.adjust(i, -1);
    };
    n.tcp.forEach(forget);
    n.udp.forEach((port) => {
      if (!n.tcp.has(port)) forget(port);
    });
    for (const key of n.delayed?.keys() ?? []) {
      const port = key >>> 1;
      const seen = n.tcp.has(port) || n.udp.has(port) ||
        ((key & 1) === 1 && n.delayed!.has(key - 1));
      if (!seen) forget(port);
    }
    use.TCP.rebuild();
    use.UDP.rebuild();
    use.TCPUDP.rebuild();
    this.#delayedLive -= n.delayedTCP + n.delayedUDP;
    this.#nodes.delete(name);
    this.#byId[n.id] = undefined;
    this.#slab.give(n.tcp.storage);
    return owners;
  }

  /**
   * Chooses one port per entry for `owner`, each taken on the fewest
   * nodes for its protocol (next-fit among equals), and counts them as
   * pending until {@linkcode bind}. Entries of one protocol get distinct
   * numbers; a TCP and a UDP entry may share one, as the scheduler allows.
   * Idempotent per owner.
   *
   * @example
   * ```ts
   * chooser.choose("default/gs-0", ["UDP", "TCPUDP"]); // e.g. [8012, 8013]
   * ```
   * @throws {AllocationError} `exhausted` when even the least used port is
   * taken on every node (`exhausted-delayed`, with `retryAfterMs`, when
   * freed ports in their reuse delay are part of the reason);
   * `invalid-request`, `too-many`, `owner-mismatch`.
   */
  choose(owner: string, protocols: RequestProtocol[], options: ChooseOptions = {}): number[] {
    const existing = this.#pending.get(owner);
    if (existing) return [...existing.ports];
    const bound = this.#bound(owner);
    if (bound) {
      throw new AllocationError(
        "owner-mismatch",
        `Owner ${owner} is already bound on node ${this.#byId[bound[0]]!.name}`,
      );
    }
    const k = protocols.length;
    if (k === 0) {
      throw new AllocationError("invalid-request", "A request needs at least one port");
    }
    let tcp = 0;
    let udp = 0;
    let both = 0;
    for (let n = 0; n < k; n++) {
      const p = protocols[n];
      if (p === "TCP") tcp++;
      else if (p === "UDP") udp++;
      else if (p === "TCPUDP") both++;
      else {
        throw new AllocationError(
          "invalid-request",
          `Protocol must be TCP, UDP or TCPUDP, not "${p}"`,
        );
      }
    }
    // Each protocol needs its own numbers; TCPUDP entries count in both.
    const most = both + Math.max(tcp, udp);
    if (most > this.#size) {
      throw new AllocationError(
        "too-many",
        `${most} ports of one protocol asked, but ${this.min}-${this.max} holds only ${this.#size}`,
      );
    }
    this.#expire();
    const use = this.#use;
    const nodes = this.#nodes.size;
    const ports: number[] = new Array(k);
    let from = this.#cursor;
    let short: RequestProtocol | undefined;
    // TCPUDP entries first (pass 0), then the others: a port free in both is
    // also what a TCP or a UDP entry could take, never the other way round,
    // so this order fails only when no assignment exists.
    for (let pass = both > 0 ? 0 : 1; pass < 2; pass++) {
      for (let n = 0; n < k; n++) {
        const protocol = protocols[n];
        if ((protocol === "TCPUDP") !== (pass === 0)) continue;
        const tree = use[protocol];
        const least = tree.min;
        let i = tree.firstAtMost(from, least);
        if (i < 0) i = tree.firstAtMost(0, least);
        ports[n] = i;
        if (nodes > 0 && tree.get(i) >= nodes) short ??= protocol;
        // Out of this choice's reach for the entries it would clash with: a
        // number serves one TCP and one UDP entry, or one TCPUDP entry.
        if (k > 1) {
          if (protocol !== "UDP") use.TCP.hide(i);
          if (protocol !== "TCP") use.UDP.hide(i);
          use.TCPUDP.hide(i);
        }
        from = i + 1 === this.#size ? 0 : i + 1;
      }
    }
    for (let n = 0; n < k; n++) {
      const i = ports[n];
      if (k > 1) {
        use.TCP.show(i);
        use.UDP.show(i);
        use.TCPUDP.show(i);
      }
      ports[n] = this.min + i;
    }
    if (short && !options.evenIfFull) throw this.#exhausted(short, nodes);
    if (options.dryRun !== true) {
      const pending: Pending = { ports, protocols: protocols.slice() };
      this.#countPending(pending, 1);
      this.#cursor = from;
      this.#pending.set(owner, pending);
    }
    return ports.slice();
  }

  /**
   * For a Pod created with its node already set (no scheduler will move
   * it off a clash): ports free on `node`, held there at once so that the
   * next admission for that node sees them taken. Undefined when the node
   * is not known (the caller then chooses as for any Pod).
   *
   * @example
   * ```ts
   * chooser.chooseOn("admission/7f3c", "node-7", ["UDP"]); // e.g. [8003], bound on node-7
   * ```
   * @throws {AllocationError} `exhausted` when `node` has not enough ports free,
   * `invalid-request` for an unknown protocol, `owner-mismatch` when bound elsewhere.
   */
  chooseOn(
    owner: string,
    node: string,
    protocols: RequestProtocol[],
    options: { dryRun?: boolean } = {},
  ): number[] | undefined {
    const n = this.#nodes.get(node);
    if (!n) return undefined;
    for (const p of protocols) {
      if (p !== "TCP" && p !== "UDP" && p !== "TCPUDP") {
        throw new AllocationError(
          "invalid-request",
          `Protocol must be TCP, UDP or TCPUDP, not "${p}"`,
        );
      }
    }
    const bound = this.#bound(owner);
    if (bound) {
      // A reinvoked admission: the ports it was given, entry by entry.
      if (this.#byId[bound[0]]!.name !== node) {
        throw new AllocationError("owner-mismatch", `Owner ${owner} is bound on another node`);
      }
      const held = heldOf(bound);
      const given = new Set<string>();
      const free = (port: number, p: Protocol) =>
        !given.has(`${port}/${p}`) && held.some((h) => h.port === port && h.protocol === p);
      return protocols.map((p) => {
        const wanted: Protocol[] = p === "TCPUDP" ? ["TCP", "UDP"] : [p];
        const port = held.find((h) => wanted.every((w) => free(h.port, w)))?.port ?? held[0].port;
        for (const w of wanted) given.add(`${port}/${w}`);
        return port;
      });
    }
    this.#expire();
    const ports: number[] = new Array(protocols.length);
    const takenHere = new Map<number, number>();
    // TCPUDP entries first, as choose() does: a number free in both also
    // serves a TCP or a UDP entry, never the other way round.
    for (let pass = 0; pass < 2; pass++) {
      for (let k = 0; k < protocols.length; k++) {
        const protocol = protocols[k];
        if ((protocol === "TCPUDP") !== (pass === 0)) continue;
        const need = protocol === "TCP"
          ? TAKEN_TCP
          : protocol === "UDP"
          ? TAKEN_UDP
          : TAKEN_TCP | TAKEN_UDP;
        let found = -1;
        for (let i = 0; i < this.#size; i++) {
          const port = this.min + (this.#cursor + i) % this.#size;
          if (((this.#occupancy(n, port) | (takenHere.get(port) ?? 0)) & need) === 0) {
            found = port;
            break;
          }
        }
        if (found < 0) {
          throw new AllocationError(
            "exhausted",
            `node ${node} has no ${protocol} port free in ${this.min}-${this.max}`,
          );
        }
        ports[k] = found;
        takenHere.set(found, (takenHere.get(found) ?? 0) | need);
      }
    }
    if (!options.dryRun) {
      const held: HeldPort[] = protocols.flatMap((p, k) =>
        (p === "TCPUDP" ? ["TCP", "UDP"] as const : [p]).map((protocol) => ({
          port: ports[k],
          protocol,
        }))
      );
      this.bind(owner, node, held);
      this.#cursor = (ports[ports.length - 1] - this.min + 1) % this.#size;
    }
    return ports;
  }

  #exhausted(protocol: RequestProtocol, nodes: number): AllocationError {
    const what = protocol === "TCPUDP"
      ? "host port free in both TCP and UDP"
      : `${protocol} host port`;
    const message = `No ${what} in ${this.min}-${this.max} is free on any of the ${nodes} ` +
      `nodes (counting Pods admitted but not yet scheduled)`;
    const advice = "widen the range or add nodes";
    const earliest = this.#delay.earliest;
    if (this.#delayedLive === 0 || earliest === undefined) {
      return new AllocationError("exhausted", `${message}; ${advice}`);
    }
    const retryAfterMs = Math.max(0, earliest - this.#clock());
    return new AllocationError(
      "exhausted-delayed",
      `${message}; ${this.#delayedLive} freed host port(s) are held back by the reuse delay, ` +
        `the first for another ${Math.ceil(retryAfterMs / 1000)} s; wait, shorten the reuse ` +
        `delay, ${advice}`,
      { retryAfterMs },
    );
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
    // A pending choice moving onto its node changes no count: its counts and
    // the node's are summed per port first, and only what differs is applied.
    const pending = this.#takePending(owner);
    if (pending) {
      for (let k = 0; k < pending.ports.length; k++) {
        const p = pending.protocols[k];
        this.#delta(pending.ports[k] - this.min, p !== "UDP" ? -1 : 0, p !== "TCP" ? -1 : 0, -1);
      }
    }
    const n = this.#node(node);
    let rec: Holding | null | undefined = this.#bound(owner);
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
        const holder = this.#holders().get(n.id * KEY_SPACE + key)!;
        clashes ??= [];
        if (!clashes.includes(holder)) clashes.push(holder);
        continue;
      }
      const before = this.#occupancy(n, port);
      bits.allocate(port);
      // Delayed in this protocol: taken before and after.
      if ((udp ? n.delayedUDP : n.delayedTCP) > 0 && n.delayed!.has(key)) this.#endDelay(n, key);
      const after = before | (udp ? TAKEN_UDP : TAKEN_TCP);
      if (pending) {
        this.#delta(
          port - this.min,
          (after & TAKEN_TCP) - (before & TAKEN_TCP),
          ((after & TAKEN_UDP) - (before & TAKEN_UDP)) >> 1,
          before === 0 ? 1 : 0,
        );
      } else {
        this.#occupancyChanged(port - this.min, before, after);
      }
      scratch[end++] = key;
    }
    if (pending) this.#applyDeltas();
    if (end > 1) {
      const next = rec ? rec.concat(scratch.slice(1, end)) : scratch.slice(0, end);
      this.#owners.set(owner, next);
      if (!rec) {
        n.owners.push(owner);
        n.liveOwners++;
      }
      // Only now: an index built during the loop (for a clash) could not see these.
      const index = this.#index;
      if (index) {
        for (let k = 1; k < next.length; k++) index.set(n.id * KEY_SPACE + next[k], owner);
      }
    }
    return clashes ?? [];
  }

  /** Removes `owner`'s pending choice and returns it; its counts are the caller's to undo. */
  #takePending(owner: string): Pending | undefined {
    return this.#pending.delete(owner);
  }

  /** Index key → owner. */
  #holders(): Map<number, string> {
    if (this.#index) return this.#index;
    const index = new Map<number, string>();
    this.#owners.forEach((rec, owner) => {
      if (!this.#byId[rec[0]]) return;
      for (let k = 1; k < rec.length; k++) index.set(rec[0] * KEY_SPACE + rec[k], owner);
    });
    return this.#index = index;
  }

  /** Frees what `owner` holds on its node; with a reuse delay its ports stay taken there a while. */
  #unbind(owner: string, rec: Holding): void {
    this.#owners.delete(owner);
    const n = this.#byId[rec[0]]!;
    if (--n.liveOwners * 2 < n.owners.length && n.owners.length > 64) {
      n.owners = this.#nodeOwners(n);
    }
    const until = this.#reuseDelayMs > 0 ? this.#clock() + this.#reuseDelayMs : 0;
    for (let k = 1; k < rec.length; k++) {
      const key = rec[k];
      const port = key >>> 1;
      const udp = key & 1;
      this.#index?.delete(n.id * KEY_SPACE + key);
      if (until > 0) {
        // Taken before and after (bound, then delayed): no count changes.
        (udp ? n.udp : n.tcp).release(port);
        (n.delayed ??= new Map()).set(key, until);
        if (udp) n.delayedUDP++;
        else n.delayedTCP++;
        this.#delayedLive++;
        this.#delay.push(n.id * KEY_SPACE + key, until);
      } else {
        const before = this.#occupancy(n, port);
        (udp ? n.udp : n.tcp).release(port);
        this.#occupancyChanged(port - this.min, before, this.#occupancy(n, port));
      }
    }
  }

  /** What `owner` holds on a node that still exists; an orphan found is dropped. */
  #bound(owner: string): Holding | undefined {
    const rec = this.#owners.get(owner);
    if (!rec || this.#byId[rec[0]]) return rec;
    this.#owners.delete(owner);
    this.#orphans--;
    return undefined;
  }

  /** The owners bound on `n` now, each once. */
  #nodeOwners(n: NodeRec): string[] {
    const seen = new Set<string>();
    return n.owners.filter((owner) => {
      if (seen.has(owner) || this.#owners.get(owner)?.[0] !== n.id) return false;
      seen.add(owner);
      return true;
    });
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
    const pending = this.#takePending(owner);
    if (pending) this.#countPending(pending, -1);
    const rec = this.#bound(owner);
    if (rec) this.#unbind(owner, rec);
  }

  /**
   * Registers a pending choice found at start-up (a Pod admitted, not yet
   * bound): a number held in both TCP and UDP is one `TCPUDP` entry. Ports
   * outside the range are ignored; an owner already known is left as it is.
   *
   * @example
   * ```ts
   * chooser.restorePending("default/gs-3", [{ port: 8040, protocol: "UDP" }]);
   * ```
   */
  restorePending(owner: string, held: readonly HeldPort[]): void {
    if (this.#pending.has(owner) || this.#bound(owner)) return;
    const byPort = new Map<number, RequestProtocol>();
    for (const { port, protocol } of held) {
      if (!Number.isInteger(port) || port < this.min || port > this.max) continue;
      const had = byPort.get(port);
      byPort.set(port, had && had !== protocol ? "TCPUDP" : protocol);
    }
    const pending: Pending = { ports: [...byPort.keys()], protocols: [...byPort.values()] };
    this.#countPending(pending, 1);
    this.#pending.set(owner, pending);
  }

  /**
   * Whether `owner`'s pending choice holds a port no node has free (so its
   * Pod waits for a node to join, or for one to free the port).
   *
   * @example
   * ```ts
   * chooser.waitsForNode("admission/7f3c"); // true: every node uses 8000/UDP
   * ```
   */
  waitsForNode(owner: string): boolean {
    const p = this.#pending.get(owner);
    if (!p) return false;
    this.#expire();
    const nodes = this.#nodes.size;
    // Its own claim counts once: taken elsewhere on every node means over the node count.
    return p.ports.some((port, k) => this.#use[p.protocols[k]].get(port - this.min) > nodes);
  }

  /** Whether `owner` has a pending choice. */
  isPending(owner: string): boolean {
    return this.#pending.has(owner);
  }

  /** The node `owner` is bound on, if any. */
  nodeOf(owner: string): string | undefined {
    const rec = this.#bound(owner);
    return rec ? this.#byId[rec[0]]!.name : undefined;
  }

  /** What `owner` holds on its node (sorted), if bound. */
  holdings(owner: string): HeldPort[] | undefined {
    const rec = this.#bound(owner);
    return rec ? heldOf(rec) : undefined;
  }

  /** The owner holding `port` in `protocol` on `node`, if any. */
  ownerOf(node: string, port: number, protocol: Protocol): string | undefined {
    const n = this.#nodes.get(node);
    if (!n || !(protocol === "UDP" ? n.udp : n.tcp).has(port)) return undefined;
    return this.#holders().get(n.id * KEY_SPACE + port * 2 + (protocol === "UDP" ? 1 : 0));
  }

  /** Used, free and delayed ports of `node` per protocol, if known. */
  nodeUsage(
    node: string,
  ): { used: ProtocolCounts; free: ProtocolCounts; delayed: ProtocolCounts } | undefined {
    this.#expire();
    const n = this.#nodes.get(node);
    return n && this.#counts(n);
  }

  #counts(n: NodeRec): { used: ProtocolCounts; free: ProtocolCounts; delayed: ProtocolCounts } {
    const [dt, du] = [n.delayedTCP, n.delayedUDP];
    return {
      used: { TCP: n.tcp.used, UDP: n.udp.used },
      free: { TCP: n.tcp.free - dt, UDP: n.udp.free - du },
      delayed: { TCP: dt, UDP: du },
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
    const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
    const nodes = [...this.#nodes.values()].map((n) => ({
      node: n.name,
      pool: {
        min: this.min,
        max: this.max,
        ...this.#counts(n),
        owners: this.#nodeOwners(n).sort(byName).map((owner) => ({
          owner,
          ports: heldOf(this.#owners.get(owner)!),
        })),
      },
    })).sort((a, b) => byName(a.node, b.node));
    return {
      min: this.min,
      max: this.max,
      leastUsage: {
        TCP: this.#use.TCP.min,
        UDP: this.#use.UDP.min,
        TCPUDP: this.#use.TCPUDP.min,
      },
      nodes,
      pending: [...this.#pending.entries()].map(([owner, p]) => ({
        owner,
        ports: [...p.ports],
        protocols: [...p.protocols],
      })),
      delayed: this.#delayedLive,
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
