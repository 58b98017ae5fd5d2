/**
 * What the `TencentCloud-CLB` type holds on its CLBs, by Pod name
 * (`{namespace}/{name}`, which `Fixed` keeps across the Pods of a name),
 * and what it knows of those Pods: which are live, which the core calls
 * them by, which are being reconciled (a sweep leaves those alone). With
 * the writes every holding needs: targets made to match a Pod IP (or
 * none), parked ports claimed once their CLB's range is known, a holding
 * dropped with its listeners and ports.
 *
 * @example
 * ```ts
 * const holdings = new ClbHoldings({ writer, pools, log });
 * await holdings.syncTargets(holdings.get("games/gs-0")!, "10.0.0.7");
 * ```
 * @module
 */

import type { CloudTarget } from "./clb_scan.ts";
import type { ClbWriter } from "./clb_writer.ts";
import type { ClbPools } from "./clb_pools.ts";
import type { OwnerReference, Pod } from "../types.ts";

/** One listener a Pod holds. */
export interface HeldListener {
  lb: string;
  listenerId: string;
  port: number;
  protocol: "TCP" | "UDP";
  containerPort: number;
  /** What is registered behind it, as far as gamenet knows. */
  targets: CloudTarget[];
  /** When gamenet last wrote or read it: a scan begun earlier cannot judge it. */
  since: number;
}

/** What one Pod name holds. */
export interface Holding {
  listeners: HeldListener[];
  /** The workload that keeps the holding when the Pod goes (`Fixed`). */
  fixed?: OwnerReference;
  /** A `Fixed` holding whose Pod is gone: listeners kept, no targets. */
  parked: boolean;
}

/** Whether two target lists hold the same IP:port pairs. */
export function sameTargets(a: readonly CloudTarget[], b: readonly CloudTarget[]): boolean {
  const text = (t: readonly CloudTarget[]) => t.map((x) => `${x.ip}:${x.port}`).sort().join(",");
  return text(a) === text(b);
}

/** See the module documentation. */
export class ClbHoldings {
  /** By Pod name. */
  readonly byPod = new Map<string, Holding>();
  /** The core's owner (one per Pod object) → Pod name. */
  readonly #podOfOwner = new Map<string, string>();
  /** Pod name → how many owners name it (a Pod re-created under its name has two for a while). */
  readonly #ownersOfPod = new Map<string, number>();
  /** Live Pods of the type, by Pod name. */
  readonly live = new Map<string, Pod>();
  /** Pod names being reconciled or released: a scan leaves their listeners alone. */
  readonly busy = new Set<string>();
  readonly #writer: ClbWriter;
  readonly #pools: ClbPools;
  readonly #log: (message: string) => void;

  constructor(deps: { writer: ClbWriter; pools: ClbPools; log: (message: string) => void }) {
    this.#writer = deps.writer;
    this.#pools = deps.pools;
    this.#log = deps.log;
  }
  /** Records that `owner` (a Pod object) is the Pod named `key`. */
  bindOwner(owner: string, key: string): void {
    const before = this.#podOfOwner.get(owner);
    if (before === key) return;
    if (before !== undefined) this.#forget(before);
    this.#podOfOwner.set(owner, key);
    this.#ownersOfPod.set(key, (this.#ownersOfPod.get(key) ?? 0) + 1);
  }

  /** Forgets `owner`; returns the Pod name it was (or `owner` itself when unknown). */
  unbindOwner(owner: string): string {
    const key = this.#podOfOwner.get(owner);
    if (key === undefined) return owner;
    this.#podOfOwner.delete(owner);
    this.#forget(key);
    return key;
  }

  /** Whether some owner still names the Pod `key` (a newer Pod of the same name). */
  hasOwner(key: string): boolean {
    return this.#ownersOfPod.has(key);
  }

  #forget(key: string): void {
    const n = (this.#ownersOfPod.get(key) ?? 0) - 1;
    if (n > 0) this.#ownersOfPod.set(key, n);
    else this.#ownersOfPod.delete(key);
  }

  /** What `key` holds. */
  get(key: string): Holding | undefined {
    return this.byPod.get(key);
  }

  /** Runs `work` with `key` marked busy. */
  async whileBusy<T>(key: string, work: () => Promise<T>): Promise<T> {
    this.busy.add(key);
    try {
      return await work();
    } finally {
      this.busy.delete(key);
    }
  }

  /** Registers `ip` (or nothing) behind every listener of `holding`, removing anything else. */
  async syncTargets(holding: Holding, ip: string | undefined): Promise<void> {
    const writer = this.#writer;
    await Promise.all(holding.listeners.map(async (h) => {
      const want = ip ? [{ ip, port: h.containerPort }] : [];
      const extra = h.targets.filter((t) => !want.some((w) => w.ip === t.ip && w.port === t.port));
      const missing = want.filter((w) =>
        !h.targets.some((t) => t.ip === w.ip && t.port === w.port)
      );
      if (extra.length === 0 && missing.length === 0) return;
      h.since = performance.now();
      for (const t of extra) {
        await writer.deregisterTarget(h.lb, { listenerId: h.listenerId, ...t });
        h.targets = h.targets.filter((x) => x !== t);
      }
      for (const t of missing) {
        await writer.registerTarget(h.lb, { listenerId: h.listenerId, ...t });
        h.targets = [...h.targets, t];
      }
      h.since = performance.now();
    }));
  }

  /** Parked listeners read before their CLB's range was known take their ports now. */
  claimParked(lbs: readonly string[]): void {
    for (const [key, holding] of this.byPod) {
      for (const h of holding.listeners) {
        if (!lbs.includes(h.lb)) continue;
        const holder = this.#pools.claim(h.lb, h.port, h.protocol, key);
        if (holder !== undefined) {
          this.#log(
            `CLB ${h.lb}: port ${h.port}/${h.protocol} of ${key} is also held by ${holder}`,
          );
        }
      }
    }
  }

  /** Deletes every listener of `key` and frees its ports. */
  async drop(key: string): Promise<void> {
    const holding = this.byPod.get(key);
    if (holding) {
      await Promise.all(
        holding.listeners.map((h) => this.#writer.deleteListener(h.lb, h.listenerId)),
      );
      this.byPod.delete(key);
    }
    this.#pools.release(key);
  }
}
