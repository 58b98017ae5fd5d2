/**
 * Reading the CLBs back, which is how gamenet finds its own listeners
 * again (they are named after their Pod, `listener_name.ts`): before the
 * first allocation on a CLB, and at every sweep. A live Pod's listeners
 * are taken back when they are what its conf asks for, a parked `Fixed`
 * Pod's are kept, the rest deleted (a Pod deleted while gamenet was down,
 * a duplicate after a lost answer); held listeners or targets that
 * vanished from the cloud are forgotten and their Pod reconciled again.
 *
 * @example
 * ```ts
 * const adoption = new ClbAdoption({ api, writer, pools, holdings, parse: parseClbConf, log });
 * await adoption.ensureScanned("lb-abc123");
 * ```
 * @module
 */

import type { AllocatedPort } from "../../allocator/mod.ts";
import type { ClbApi } from "./clb_api.ts";
import type { ClbWriter } from "./clb_writer.ts";
import type { ClbPools } from "./clb_pools.ts";
import { type CloudListener, scanLoadBalancer } from "./clb_scan.ts";
import { parseListenerName, type PodListenerName } from "./listener_name.ts";
import type { ClbConf } from "./conf.ts";
import { type ClbHoldings, type HeldListener, type Holding, sameTargets } from "./holdings.ts";
import type { Pod } from "../types.ts";

/** A listener read from the cloud, with what its name says. */
type Found = { parsed: PodListenerName; l: CloudListener };

/** What {@linkcode ClbAdoption} works with. */
export interface ClbAdoptionDeps {
  api: Pick<ClbApi, "DescribeListeners" | "DescribeTargets">;
  writer: ClbWriter;
  pools: ClbPools;
  holdings: ClbHoldings;
  /** A Pod's conf (throws when it is not valid). */
  parse(pod: Pod): ClbConf;
  log(message: string): void;
  /** CLBs read at every sweep even while no live Pod names them. @default {[]} */
  loadBalancers?: readonly string[];
}

/**
 * The ports of `found` in the order of the conf's request, when they are
 * exactly what the conf asks for; else `undefined`.
 *
 * @example
 * ```ts
 * matchConf(conf, found); // [{ port: 501, protocol: "UDP" }]
 * ```
 */
export function matchConf(conf: ClbConf, found: Found[]): AllocatedPort[] | undefined {
  if (found.length !== conf.ports.reduce((n, p) => n + (p.protocol === "TCPUDP" ? 2 : 1), 0)) {
    return undefined;
  }
  const out: AllocatedPort[] = [];
  for (const p of conf.ports) {
    const protocols = p.protocol === "TCPUDP" ? ["TCP", "UDP"] : [p.protocol];
    const ls = protocols.map((protocol) =>
      found.filter((f) =>
        f.parsed.containerPort === p.containerPort && f.parsed.protocol === protocol
      )
    );
    if (ls.some((m) => m.length !== 1)) return undefined;
    const port = ls[0][0].l.port;
    if (ls.some((m) => m[0].l.port !== port) || port < conf.min || port > conf.max) {
      return undefined;
    }
    out.push({ port, protocol: p.protocol });
  }
  return out;
}

function toHeld(lb: string, f: Found, now: number): HeldListener {
  return {
    lb,
    listenerId: f.l.listenerId,
    port: f.l.port,
    protocol: f.parsed.protocol,
    containerPort: f.parsed.containerPort,
    targets: f.l.targets,
    since: now,
  };
}

/** See the module documentation. */
export class ClbAdoption {
  /** CLBs a sweep reads: those named by `--clb-ids`, by live Pods, by holdings. */
  readonly sweepable: Set<string>;
  /** Reconciles a Pod again (set by the sweep's context). */
  requeue: (key: string) => void = () => {};
  readonly #d: ClbAdoptionDeps;
  /** CLBs read once; a failed read is tried again. */
  readonly #scanned = new Map<string, Promise<void>>();

  constructor(deps: ClbAdoptionDeps) {
    this.#d = deps;
    this.sweepable = new Set(deps.loadBalancers ?? []);
  }

  /** Reads `lb` unless it was read already (or is being read). */
  ensureScanned(lb: string): Promise<void> {
    let done = this.#scanned.get(lb);
    if (!done) {
      done = this.scan(lb);
      this.#scanned.set(lb, done);
      done.catch(() => this.#scanned.delete(lb));
    }
    return done;
  }

  /** Reads `lb` now and settles every gamenet listener on it. */
  async scan(lb: string): Promise<void> {
    const { api, writer, holdings } = this.#d;
    const started = performance.now();
    const cloud = await scanLoadBalancer(api, writer, lb);
    const deletions: Promise<void>[] = [];
    const unknown = new Map<string, Found[]>();
    const present = new Set<string>();
    for (const l of cloud) {
      present.add(l.listenerId);
      const parsed = parseListenerName(l.name);
      if (parsed?.kind !== "pod") continue;
      const key = `${parsed.namespace}/${parsed.pod}`;
      if (holdings.busy.has(key)) continue;
      const known = holdings.get(key)?.listeners.find((h) => h.listenerId === l.listenerId);
      if (known) {
        if (known.since < started && !sameTargets(known.targets, l.targets)) {
          known.targets = l.targets;
          known.since = started;
          this.requeue(key);
        }
        continue;
      }
      if (l.protocol !== parsed.protocol) {
        deletions.push(this.#deleteUnneeded(lb, l, "its protocol is not the one its name says"));
        continue;
      }
      const group = unknown.get(key) ?? [];
      group.push({ parsed, l });
      unknown.set(key, group);
    }
    for (const [key, found] of unknown) {
      const why = this.#settle(lb, key, found, started);
      if (why) { for (const f of found) deletions.push(this.#deleteUnneeded(lb, f.l, why)); }
    }
    for (const [key, holding] of holdings.byPod) {
      if (holdings.busy.has(key)) continue;
      const before = holding.listeners.length;
      holding.listeners = holding.listeners.filter((h) =>
        h.lb !== lb || h.since >= started || present.has(h.listenerId)
      );
      if (holding.listeners.length !== before) {
        this.#d.log(
          `CLB ${lb}: a listener of ${key} was deleted outside gamenet; it is made again`,
        );
        this.requeue(key);
      }
    }
    await Promise.all(deletions);
    this.#scanned.set(lb, Promise.resolve());
  }

  /** Deletes a listener gamenet does not need; its port stays taken until it is gone. */
  async #deleteUnneeded(lb: string, l: CloudListener, why: string): Promise<void> {
    const { pools, writer, log } = this.#d;
    const claim = `orphan:${l.listenerId}`;
    const holder = pools.claim(lb, l.port, l.protocol as "TCP" | "UDP", claim);
    log(
      `CLB ${lb}: deleting listener ${l.listenerId} (${l.name}, ${l.protocol} ${l.port}): ${why}`,
    );
    try {
      await writer.deleteListener(lb, l.listenerId);
      if (holder === undefined) pools.release(claim);
    } catch (err) {
      // Kept claimed: the next sweep finds the listener again and retries.
      log(`CLB ${lb}: deleting listener ${l.listenerId} failed: ${(err as Error).message}`);
    }
  }

  /** Takes back `found` (listeners of `key` gamenet did not know) or says why they go. */
  #settle(lb: string, key: string, found: Found[], now: number): string | undefined {
    const { pools, holdings } = this.#d;
    if (holdings.byPod.has(key)) return "a duplicate of a listener its Pod holds";
    const pod = holdings.live.get(key);
    const fixed = found[0].parsed.fixed;
    if (pod) {
      let conf: ClbConf;
      try {
        conf = this.#d.parse(pod);
      } catch {
        return "its Pod's conf is no longer valid";
      }
      if (!conf.clbIds.includes(lb)) return "its Pod no longer names this CLB";
      const ports = matchConf(conf, found);
      if (!ports) return "it does not match its Pod's conf (ports, protocols or range changed)";
      if (found.some((f) => f.parsed.fixed?.uid !== fixed?.uid)) return "Fixed changed";
      try {
        pools.serveRange([lb], conf, `Pod ${key}`);
      } catch (err) {
        return (err as Error).message;
      }
      const conflicts = pools.restore(lb, key, ports);
      if (conflicts.length > 0) {
        pools.release(key);
        return `its port is also held by ${conflicts[0].owners[0]}`;
      }
      holdings.byPod.set(key, {
        listeners: found.map((f) => toHeld(lb, f, now)),
        fixed,
        parked: false,
      });
      this.requeue(key);
      return undefined;
    }
    if (!fixed || found.some((f) => f.parsed.fixed?.uid !== fixed.uid)) return "its Pod is gone";
    // A Fixed Pod between two lives: keep the listeners (and their ports
    // if the CLB's range is known), without targets.
    for (const f of found) {
      const holder = pools.claim(lb, f.l.port, f.parsed.protocol, key);
      if (holder !== undefined) return `its port is also held by ${holder}`;
    }
    const holding: Holding = {
      listeners: found.map((f) => toHeld(lb, f, now)),
      fixed,
      parked: true,
    };
    holdings.byPod.set(key, holding);
    void holdings.syncTargets(holding, undefined).catch((err) =>
      this.#d.log(`CLB ${lb}: deregistering ${key}'s targets failed: ${(err as Error).message}`)
    );
    return undefined;
  }
}
