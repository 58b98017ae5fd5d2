/**
 * `TencentCloud-CLB` (alias `CLB-Network`): every Pod port gets a listener
 * of its own on one of the Pod's CLBs, with the Pod IP:port as its only
 * target; players connect to the CLB VIP and the listener port.
 *
 * Conf: `ClbIds` (required, `lb-a,lb-b`: the Pod's ports all go to one of
 * them, the first with room), `PortProtocols` (required,
 * `{containerPort}[/{TCP|UDP|TCPUDP}],...`, TCP by default), `MinPort` and
 * `MaxPort` (the listener ports, default {@linkcode DEFAULT_CLB_PORT_RANGE};
 * one range per CLB), `Fixed` (`true`: the listeners and ports are kept
 * for the Pod of the same name that its workload creates next, until the
 * workload itself is deleted).
 *
 * Listener ports come from the shared {@linkcode ClbPools}; the cloud
 * writes go through a {@linkcode ClbWriter} (batched, one at a time per
 * CLB, retried). Listeners are named after the Pod (see
 * `tencent_clb/listener_name.ts`), which is how gamenet finds its own
 * again: before the first allocation on a CLB it reads the CLB's
 * listeners, takes back those of live Pods and deletes the rest; the
 * periodic sweep does the same, and repairs listeners or targets removed
 * by hand. `network-disabled=true` deregisters the target and keeps the
 * listener.
 *
 * @example
 * ```ts
 * const clb = createTencentClbProvider({ api, writer: new ClbWriter(api) });
 * ```
 * @module
 */

import { AllocationError } from "../../allocator/errors.ts";
import type { AllocatedPort } from "../../allocator/mod.ts";
import { portName } from "../addresses.ts";
import { checkConfKeys, confValue, parseNetworkConf, parsePort, podRef } from "../network_conf.ts";
import { networkDisabled, waitingReport } from "../network_report.ts";
import type { Provider, SweepContext } from "../provider.ts";
import type { ProviderView } from "../view.ts";
import type { ProviderExtension } from "../extension.ts";
import type { ClbApi } from "./clb_api.ts";
import type { ClbWriter } from "./clb_writer.ts";
import { ClbPools } from "./clb_pools.ts";
import { ClbVips } from "./clb_vips.ts";
import { loadListenerQuota } from "./clb_quota.ts";
import { type CloudListener, type CloudTarget, scanLoadBalancer } from "./clb_scan.ts";
import {
  MAX_LISTENER_NAME_LENGTH,
  parseListenerName,
  type PodListenerName,
  podListenerName,
} from "./listener_name.ts";
import {
  ConfError,
  NETWORK_TYPE_ANNOTATION,
  type NetworkPort,
  type NetworkReport,
  type Outcome,
  type OwnerReference,
  type Pod,
} from "../types.ts";

/** The canonical name. */
export const TENCENT_CLB = "TencentCloud-CLB";
const ALIASES = ["CLB-Network"] as const;

/** Listener ports when a Pod names no `MinPort`/`MaxPort` (OpenKruiseGame's default). */
export const DEFAULT_CLB_PORT_RANGE = { min: 700, max: 750 } as const;

/** How long a Pod without an IP waits before it is looked at again. */
const WAIT_FOR_POD_IP_MS = 2_000;
/** A Pod that found no free port looks again this often (another Pod may have gone). */
const EXHAUSTED_RETRY_MS = 5_000;
/** A Pod refused by the cloud (unknown CLB, bad credentials) is tried again this often. */
const CLOUD_REFUSED_RETRY_MS = 60_000;

/** One Pod port as the conf asks for it. */
export interface ClbPortRequest {
  containerPort: number;
  protocol: "TCP" | "UDP" | "TCPUDP";
}

/** A parsed conf. */
export interface ClbConf {
  clbIds: string[];
  ports: ClbPortRequest[];
  min: number;
  max: number;
  fixed: boolean;
}

/** Options of {@linkcode createTencentClbProvider}. */
export interface TencentClbOptions {
  /** For the CLBs' VIPs and listeners. */
  api: Pick<
    ClbApi,
    "DescribeLoadBalancers" | "DescribeListeners" | "DescribeTargets" | "DescribeQuota"
  >;
  /** Every listener and target write. */
  writer: ClbWriter;
  /** Shared with the `DedicatedCLBService` path. @default {new ClbPools()} */
  pools?: ClbPools;
  /** CLBs swept for orphan listeners even while no live Pod names them (`--clb-ids`). @default {[]} */
  loadBalancers?: readonly string[];
  /** Sweep period. @default {60_000} */
  sweepEveryMs?: number;
  /** @default {() => {}} */
  log?: (message: string) => void;
  /** Shared with the `DedicatedCLBService` path. @default {new ClbVips(api, writer)} */
  vips?: ClbVips;
  /** The `DedicatedCLB*` objects' controllers (sharing `pools`). */
  extension?: ProviderExtension;
}

interface HeldListener {
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

/** What one Pod name holds (by `{namespace}/{name}`, which `Fixed` keeps across Pods). */
interface Holding {
  listeners: HeldListener[];
  /** The workload that keeps the holding when the Pod goes (`Fixed`). */
  fixed?: OwnerReference;
  /** A `Fixed` holding whose Pod is gone: listeners kept, no targets. */
  parked: boolean;
}

const CLB_ID = /^lb-[0-9a-z]{4,}$/;

/** Creates the provider. */
export function createTencentClbProvider(options: TencentClbOptions): Provider<ClbConf> {
  const { api, writer } = options;
  const pools = options.pools ?? new ClbPools();
  const log = options.log ?? (() => {});
  /** By `{namespace}/{name}`. */
  const holdings = new Map<string, Holding>();
  /** The core's owner (one per Pod object) → `{namespace}/{name}`. */
  const podOfOwner = new Map<string, string>();
  /** Live Pods of this type, by `{namespace}/{name}`. */
  const live = new Map<string, Pod>();
  /** Pods being reconciled: a sweep leaves their listeners alone. */
  const busy = new Set<string>();
  const vips = options.vips ?? new ClbVips(api, writer);
  /** CLBs read once (their listeners taken back or deleted); a failed read is retried. */
  const scanned = new Map<string, Promise<void>>();
  const sweepable = new Set<string>(options.loadBalancers ?? []);
  let requeue: (key: string) => void = () => {};

  const isMine = (pod: Pod) => {
    const type = pod.metadata.annotations?.[NETWORK_TYPE_ANNOTATION];
    return type === TENCENT_CLB || (ALIASES as readonly string[]).includes(type ?? "");
  };
  const keyOf = (pod: Pod) => `${pod.metadata.namespace ?? ""}/${pod.metadata.name ?? ""}`;

  const vipOf = (lb: string) => vips.get(lb);

  function ensureScanned(lb: string): Promise<void> {
    let done = scanned.get(lb);
    if (!done) {
      done = scan(lb);
      scanned.set(lb, done);
      done.catch(() => scanned.delete(lb));
    }
    return done;
  }

  /** Deletes a listener gamenet does not need; its port stays taken until it is gone. */
  async function deleteUnneeded(lb: string, l: CloudListener, why: string): Promise<void> {
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

  /**
   * The ports of `found` in the order of the conf's request, when they are
   * exactly what the conf asks for on `lb`; else `undefined`.
   */
  function matchConf(
    conf: ClbConf,
    found: { parsed: PodListenerName; l: CloudListener }[],
  ): AllocatedPort[] | undefined {
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

  const toHeld = (lb: string, f: { parsed: PodListenerName; l: CloudListener }, now: number) => ({
    lb,
    listenerId: f.l.listenerId,
    port: f.l.port,
    protocol: f.parsed.protocol,
    containerPort: f.parsed.containerPort,
    targets: f.l.targets,
    since: now,
  });

  /**
   * Reads `lb` and settles every gamenet listener on it: a live Pod's are
   * taken back (if they are what its conf asks for), a parked `Fixed`
   * Pod's are kept, the rest deleted; held listeners or targets that
   * vanished from the cloud are forgotten and their Pod reconciled again.
   */
  async function scan(lb: string): Promise<void> {
    const started = performance.now();
    const cloud = await scanLoadBalancer(api, writer, lb);
    const deletions: Promise<void>[] = [];
    const unknown = new Map<string, { parsed: PodListenerName; l: CloudListener }[]>();
    const present = new Set<string>();
    for (const l of cloud) {
      present.add(l.listenerId);
      const parsed = parseListenerName(l.name);
      if (parsed?.kind !== "pod") continue;
      const key = `${parsed.namespace}/${parsed.pod}`;
      if (busy.has(key)) continue;
      const known = holdings.get(key)?.listeners.find((h) => h.listenerId === l.listenerId);
      if (known) {
        if (known.since < started && !sameTargets(known.targets, l.targets)) {
          known.targets = l.targets;
          known.since = started;
          requeue(key);
        }
        continue;
      }
      if (l.protocol !== parsed.protocol) {
        deletions.push(deleteUnneeded(lb, l, "its protocol is not the one its name says"));
        continue;
      }
      const group = unknown.get(key) ?? [];
      group.push({ parsed, l });
      unknown.set(key, group);
    }
    for (const [key, found] of unknown) {
      const why = settle(lb, key, found, started);
      if (why) { for (const f of found) deletions.push(deleteUnneeded(lb, f.l, why)); }
    }
    for (const [key, holding] of holdings) {
      if (busy.has(key)) continue;
      const before = holding.listeners.length;
      holding.listeners = holding.listeners.filter((h) =>
        h.lb !== lb || h.since >= started || present.has(h.listenerId)
      );
      if (holding.listeners.length !== before) {
        log(`CLB ${lb}: a listener of ${key} was deleted outside gamenet; it is made again`);
        requeue(key);
      }
    }
    await Promise.all(deletions);
  }

  /** Takes back `found` (listeners of `key` gamenet did not know) or says why they go. */
  function settle(
    lb: string,
    key: string,
    found: { parsed: PodListenerName; l: CloudListener }[],
    now: number,
  ): string | undefined {
    if (holdings.has(key)) return "a duplicate of a listener its Pod holds";
    const pod = live.get(key);
    const fixed = found[0].parsed.fixed;
    if (pod) {
      let conf: ClbConf | undefined;
      try {
        conf = provider.parse(pod);
      } catch {
        return "its Pod's conf is no longer valid";
      }
      if (!conf.clbIds.includes(lb)) return "its Pod no longer names this CLB";
      const ports = matchConf(conf, found);
      if (!ports) return "it does not match its Pod's conf (ports, protocols or range changed)";
      if (found.some((f) => f.parsed.fixed?.uid !== fixed?.uid)) return "Fixed changed";
      try {
        pools.bind([lb], conf, `Pod ${key}`);
      } catch (err) {
        return (err as Error).message;
      }
      const conflicts = pools.restore(lb, key, ports);
      if (conflicts.length > 0) {
        pools.release(key);
        return `its port is also held by ${conflicts[0].owners[0]}`;
      }
      holdings.set(key, {
        listeners: found.map((f) => toHeld(lb, f, now)),
        fixed,
        parked: false,
      });
      requeue(key);
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
    holdings.set(key, holding);
    void syncTargets(holding, undefined).catch((err) =>
      log(`CLB ${lb}: deregistering ${key}'s targets failed: ${(err as Error).message}`)
    );
    return undefined;
  }

  /** Registers `ip` (or nothing) behind every listener of `holding`, removing anything else. */
  async function syncTargets(holding: Holding, ip: string | undefined): Promise<void> {
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
  function claimParked(lbs: readonly string[]): void {
    for (const [key, holding] of holdings) {
      for (const h of holding.listeners) {
        if (!lbs.includes(h.lb)) continue;
        const holder = pools.claim(h.lb, h.port, h.protocol, key);
        if (holder !== undefined) {
          log(`CLB ${h.lb}: port ${h.port}/${h.protocol} of ${key} is also held by ${holder}`);
        }
      }
    }
  }

  /** Deletes every listener of `key` and frees its ports. */
  async function drop(key: string): Promise<void> {
    const holding = holdings.get(key);
    if (holding) {
      await Promise.all(holding.listeners.map((h) => writer.deleteListener(h.lb, h.listenerId)));
      holdings.delete(key);
    }
    pools.release(key);
  }

  function failed(error: ConfError, report: NetworkReport, requeueAfterMs?: number): Outcome {
    return {
      kind: "failed",
      error,
      report: { ...report, currentNetworkState: "NotReady" },
      requeueAfterMs,
    };
  }

  /** Errors of a reconcile, as the Pod's outcome. */
  function outcomeOf(pod: Pod, err: unknown, waiting: NetworkReport): Outcome {
    if (err instanceof ConfError) {
      const message = err.message.startsWith("Pod ")
        ? err.message
        : `Pod ${podRef(pod)}: ${err.message}`;
      return failed(new ConfError(message, err.reason), waiting, CLOUD_REFUSED_RETRY_MS);
    }
    if (err instanceof AllocationError && err.code.startsWith("exhausted")) {
      const conf = provider.parse(pod);
      return failed(
        new ConfError(
          `Pod ${podRef(pod)}: no listener port free on ${conf.clbIds.join(", ")} in ` +
            `${conf.min}-${conf.max} for ${conf.ports.length} port(s); it waits for one to be released`,
          "ClbPortsExhausted",
        ),
        waiting,
        EXHAUSTED_RETRY_MS,
      );
    }
    const e = err as Error & { code?: string; retryable?: boolean };
    if (e.retryable === false) {
      // The cloud refused (unknown CLB, signature, quota): the person must act; the code says why.
      return failed(
        new ConfError(`Pod ${podRef(pod)}: ${e.message}`, "ClbRequestFailed"),
        waiting,
        CLOUD_REFUSED_RETRY_MS,
      );
    }
    return { kind: "retry", error: e, report: waiting };
  }

  function workloadOf(pod: Pod): OwnerReference | undefined {
    const ref = pod.metadata.ownerReferences?.find((r) => r.controller);
    return ref && { apiVersion: ref.apiVersion, kind: ref.kind, name: ref.name, uid: ref.uid };
  }

  async function reconcile(pod: Pod, conf: ClbConf, key: string): Promise<Outcome> {
    const ip = pod.status?.podIP;
    const disabled = networkDisabled(pod);
    const waiting = waitingReport(pod);
    if (!ip) return { kind: "requeueAfter", ms: WAIT_FOR_POD_IP_MS, report: waiting };
    const [namespace, name] = [pod.metadata.namespace ?? "", pod.metadata.name ?? ""];
    const fixed = conf.fixed ? workloadOf(pod) : undefined;
    if (conf.fixed && !fixed) {
      return failed(
        new ConfError(
          `Pod ${podRef(pod)}: Fixed=true keeps ports for the Pod its workload re-creates, ` +
            `but this Pod has no controlling workload (StatefulSet, GameServerSet)`,
        ),
        waiting,
      );
    }
    const nameOf = (containerPort: number, protocol: "TCP" | "UDP") =>
      podListenerName({ namespace, pod: name, containerPort, protocol, fixed });
    const longest = nameOf(65535, "TCP");
    if (longest.length > MAX_LISTENER_NAME_LENGTH) {
      return failed(
        new ConfError(
          `Pod ${podRef(pod)}: the listener name "${longest}" is longer than the CLB's ` +
            `${MAX_LISTENER_NAME_LENGTH} characters: shorten the namespace, Pod or workload name`,
        ),
        waiting,
      );
    }
    try {
      // Every CLB named must exist, whichever gets the ports.
      await Promise.all(conf.clbIds.map(vipOf));
      await Promise.all([...conf.clbIds.map(ensureScanned), loadListenerQuota(api, writer, pools)]);
      let holding = holdings.get(key);
      const stale = holding &&
        (holding.fixed?.uid !== fixed?.uid ||
          holding.listeners.some((h) => !conf.clbIds.includes(h.lb)));
      if (stale) await drop(key);
      const unbound = conf.clbIds.filter((lb) => !pools.rangeOf(lb));
      pools.bind(conf.clbIds, conf, `Pod ${podRef(pod)}`);
      if (unbound.length > 0) claimParked(unbound);
      const protocols = conf.ports.map((p) => p.protocol);
      let chosen;
      try {
        chosen = pools.allocate(conf.clbIds, key, protocols, conf);
      } catch (err) {
        if (!(err instanceof AllocationError && err.code === "owner-mismatch")) throw err;
        // The conf changed (ports or protocols): start again from nothing.
        await drop(key);
        chosen = pools.allocate(conf.clbIds, key, protocols, conf);
      }
      const lb = chosen.key;
      const vip = await vipOf(lb);
      const wanted = conf.ports.flatMap((p, i) =>
        (p.protocol === "TCPUDP" ? ["TCP", "UDP"] as const : [p.protocol]).map((protocol) => ({
          port: chosen.ports[i].port,
          protocol,
          containerPort: p.containerPort,
        }))
      );
      holding = holdings.get(key) ?? { listeners: [], fixed, parked: false };
      holdings.set(key, holding);
      holding.parked = false;
      const have = holding.listeners;
      const unwanted = have.filter((h) =>
        !wanted.some((w) =>
          h.lb === lb && w.port === h.port && w.protocol === h.protocol &&
          w.containerPort === h.containerPort
        )
      );
      await Promise.all(unwanted.map((h) => writer.deleteListener(h.lb, h.listenerId)));
      holding.listeners = have.filter((h) => !unwanted.includes(h));
      await Promise.all(wanted.map(async (w) => {
        if (holding!.listeners.some((h) => h.port === w.port && h.protocol === w.protocol)) return;
        const listenerId = await writer.createListener(lb, {
          port: w.port,
          protocol: w.protocol,
          name: nameOf(w.containerPort, w.protocol),
        });
        holding!.listeners.push({ lb, listenerId, ...w, targets: [], since: performance.now() });
      }));
      await syncTargets(holding, disabled ? undefined : ip);
      const container = pod.spec?.containers[0]?.name ?? "";
      const ordered = wanted.map((w) =>
        holding!.listeners.find((h) => h.port === w.port && h.protocol === w.protocol)!
      );
      const port = (h: HeldListener, external: boolean): NetworkPort => ({
        name: portName(container, h.containerPort),
        port: external ? h.port : h.containerPort,
        protocol: h.protocol,
      });
      const state = disabled ? "NotReady" : "Ready";
      return {
        kind: "done",
        report: {
          currentNetworkState: state,
          desiredNetworkState: state,
          internalAddresses: [{ ip, ports: ordered.map((h) => port(h, false)) }],
          externalAddresses: [{ ip: vip, ports: ordered.map((h) => port(h, true)) }],
        },
      };
    } catch (err) {
      return outcomeOf(pod, err, waiting);
    }
  }

  const provider: Provider<ClbConf> = {
    name: TENCENT_CLB,
    aliases: ALIASES,
    sweepEveryMs: options.sweepEveryMs ?? 60_000,
    extension: options.extension,

    parse(pod: Pod): ClbConf {
      const conf = parseNetworkConf(pod);
      checkConfKeys(pod, TENCENT_CLB, conf, [
        "ClbIds",
        "PortProtocols",
        "MinPort",
        "MaxPort",
        "Fixed",
      ]);
      const idsText = confValue(pod, conf, "ClbIds") ?? "";
      const clbIds = idsText.split(",").map((s) => s.trim()).filter(Boolean);
      if (clbIds.length === 0) {
        throw new ConfError(`Pod ${podRef(pod)}: ${TENCENT_CLB} needs ClbIds, e.g. "lb-abc123"`);
      }
      for (const id of clbIds) {
        if (!CLB_ID.test(id)) {
          throw new ConfError(
            `Pod ${podRef(pod)}: ClbIds "${idsText}": "${id}" is not a CLB id (like lb-abc123)`,
          );
        }
      }
      const portsText = confValue(pod, conf, "PortProtocols") ?? "";
      const ports: ClbPortRequest[] = [];
      for (const part of portsText.split(",").map((s) => s.trim()).filter(Boolean)) {
        const [portText, protoText = "TCP", extra] = part.split("/");
        const protocol = protoText.trim().toUpperCase();
        if (extra !== undefined || !["TCP", "UDP", "TCPUDP"].includes(protocol)) {
          throw new ConfError(
            `Pod ${podRef(pod)}: PortProtocols "${part}": write {port}/{protocol} with protocol ` +
              `TCP, UDP or TCPUDP, e.g. "7777/UDP"`,
          );
        }
        const containerPort = parsePort(pod, "PortProtocols", portText);
        if (ports.some((p) => p.containerPort === containerPort)) {
          throw new ConfError(
            `Pod ${
              podRef(pod)
            }: PortProtocols "${portsText}": port ${containerPort} is asked twice`,
          );
        }
        ports.push({ containerPort, protocol: protocol as ClbPortRequest["protocol"] });
      }
      if (ports.length === 0) {
        throw new ConfError(
          `Pod ${podRef(pod)}: ${TENCENT_CLB} needs PortProtocols, e.g. "7777/UDP,7778/TCP"`,
        );
      }
      const minText = confValue(pod, conf, "MinPort");
      const maxText = confValue(pod, conf, "MaxPort");
      const min = minText ? parsePort(pod, "MinPort", minText) : DEFAULT_CLB_PORT_RANGE.min;
      const max = maxText ? parsePort(pod, "MaxPort", maxText) : DEFAULT_CLB_PORT_RANGE.max;
      if (min > max) {
        throw new ConfError(`Pod ${podRef(pod)}: MinPort ${min} is above MaxPort ${max}`);
      }
      const fixedText = (confValue(pod, conf, "Fixed") ?? "false").toLowerCase();
      if (fixedText !== "true" && fixedText !== "false") {
        throw new ConfError(`Pod ${podRef(pod)}: Fixed "${fixedText}": write true or false`);
      }
      return { clbIds, ports, min, max, fixed: fixedText === "true" };
    },

    // Listener ports are chosen once the Pod has an IP to put behind them.
    admit() {
      return Promise.resolve({ patch: [] });
    },

    // Cloud writes take a while (tasks, batches shared with other Pods): the
    // core lets a slow reconcile go on in the background and calls again when it ends.
    async reconcile(pod: Pod, conf: ClbConf, ctx): Promise<Outcome> {
      const key = keyOf(pod);
      podOfOwner.set(ctx.owner, key);
      busy.add(key);
      try {
        return await reconcile(pod, conf, key);
      } finally {
        busy.delete(key);
      }
    },

    async release(owner: string): Promise<void> {
      const key = podOfOwner.get(owner) ?? owner;
      podOfOwner.delete(owner);
      // A newer Pod of the same name holds it now.
      if ([...podOfOwner.values()].includes(key)) return;
      const holding = holdings.get(key);
      if (holding?.fixed) {
        busy.add(key);
        try {
          await syncTargets(holding, undefined);
          holding.parked = true;
        } finally {
          busy.delete(key);
        }
        return;
      }
      await drop(key);
    },

    observe(key: string, pod: Pod | undefined): void {
      if (pod && isMine(pod)) live.set(key, pod);
      else live.delete(key);
    },

    async restore(pods, _ctx) {
      for (const { pod, owner } of pods) {
        const key = keyOf(pod);
        live.set(key, pod);
        podOfOwner.set(owner, key);
        try {
          const conf = provider.parse(pod);
          for (const lb of conf.clbIds) sweepable.add(lb);
          // The live Pods' ranges bind their CLBs before any listener is read.
          pools.bind(conf.clbIds, conf, `Pod ${key}`);
        } catch {
          // Reported when the Pod is reconciled.
        }
      }
      const failures: { message: string }[] = [];
      await Promise.all([...sweepable].map((lb) =>
        ensureScanned(lb).catch((err) => {
          failures.push({ message: `CLB ${lb} not read: ${(err as Error).message}` });
        })
      ));
      return failures;
    },

    async sweep(ctx: SweepContext): Promise<void> {
      requeue = ctx.requeue;
      for (const key of live.keys()) {
        try {
          for (const lb of provider.parse(live.get(key)!).clbIds) sweepable.add(lb);
        } catch {
          // not this Pod's problem here
        }
      }
      for (const holding of holdings.values()) {
        for (const h of holding.listeners) sweepable.add(h.lb);
      }
      for (const lb of sweepable) {
        try {
          await scan(lb);
          scanned.set(lb, Promise.resolve());
        } catch (err) {
          log(`CLB ${lb}: sweep failed: ${(err as Error).message}`);
        }
      }
      // Parked Fixed holdings live as long as their workload.
      for (const [key, holding] of holdings) {
        if (!holding.parked || !holding.fixed || live.has(key) || busy.has(key)) continue;
        const namespace = key.slice(0, key.indexOf("/"));
        if (await ctx.workloadExists(namespace, holding.fixed)) continue;
        log(
          `${key}: its workload ${holding.fixed.kind} ${holding.fixed.name} is gone; its listeners go`,
        );
        try {
          await drop(key);
        } catch (err) {
          log(`${key}: deleting listeners failed: ${(err as Error).message}`);
        }
      }
    },

    view(): ProviderView {
      const view: ProviderView = { pools: pools.view(), holdings: [] };
      for (const [owner, holding] of holdings) {
        view.holdings.push({
          owner,
          kind: holding.parked ? "parked" : "managed",
          // Held by Pod name (`Fixed` keeps it across Pods of the name).
          pod: owner,
          lb: holding.listeners[0]?.lb,
          ports: holding.listeners.map((h) => ({ port: h.port, protocol: h.protocol })),
        });
      }
      return view;
    },
  };
  return provider;
}

function sameTargets(a: readonly CloudTarget[], b: readonly CloudTarget[]): boolean {
  const text = (t: readonly CloudTarget[]) => t.map((x) => `${x.ip}:${x.port}`).sort().join(",");
  return text(a) === text(b);
}

/** The name of a Pod port's listener that is not `Fixed` (tests and tools). */
export function listenerName(
  namespace: string,
  pod: string,
  containerPort: number,
  protocol: "TCP" | "UDP",
): string {
  return podListenerName({ namespace, pod, containerPort, protocol });
}
