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
 * CLB, retried). The conf is read in `conf.ts`; what each Pod name holds,
 * and the writes every holding needs, are in `holdings.ts`; reading the
 * CLBs back (listeners named after their Pod, `listener_name.ts`: live
 * Pods' taken back, orphans deleted, hand-made changes repaired) is
 * `adoption.ts`. This file makes a Pod's listeners and reports them.
 * `network-disabled=true` deregisters the target and keeps the listener.
 *
 * @example
 * ```ts
 * const clb = createTencentClbProvider({ api, writer: new ClbWriter(api) });
 * ```
 * @module
 */

import { AllocationError } from "../../allocator/errors.ts";
import { podRef } from "../network_conf.ts";
import { networkDisabled, waitingReport } from "../network_report.ts";
import type { Provider, SweepContext } from "../provider.ts";
import type { ProviderView } from "../view.ts";
import type { ProviderExtension } from "../extension.ts";
import type { ClbReadApi } from "./clb_api.ts";
import type { ClbWriter } from "./clb_writer.ts";
import { ClbPools } from "./clb_pools.ts";
import { ClbVips } from "./clb_vips.ts";
import { loadListenerQuota } from "./clb_quota.ts";
import { MAX_LISTENER_NAME_LENGTH, podListenerName } from "./listener_name.ts";
import { CLB_ALIASES, type ClbConf, parseClbConf, TENCENT_CLB } from "./conf.ts";
import { ClbHoldings, type HeldListener } from "./holdings.ts";
import { ClbAdoption } from "./adoption.ts";
import {
  ConfError,
  NETWORK_TYPE_ANNOTATION,
  type NetworkPort,
  type NetworkReport,
  type Outcome,
  type OwnerReference,
  type Pod,
} from "../types.ts";

export { type ClbConf, type ClbPortRequest, DEFAULT_CLB_PORT_RANGE, TENCENT_CLB } from "./conf.ts";

/** How long a Pod without an IP waits before it is looked at again. */
const WAIT_FOR_POD_IP_MS = 2_000;
/** A Pod that found no free port looks again this often (another Pod may have gone). */
const EXHAUSTED_RETRY_MS = 5_000;
/** A Pod refused by the cloud (unknown CLB, bad credentials) is tried again this often. */
const CLOUD_REFUSED_RETRY_MS = 60_000;

/** Options of {@linkcode createTencentClbProvider}. */
export interface TencentClbOptions {
  /** For the CLBs' VIPs and listeners. */
  api: ClbReadApi;
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
  /** The `CLBPortPool` / `CLBPodBinding` controllers (sharing `pools`), synced on their own. */
  extensions?: readonly ProviderExtension[];
}

/** Creates the provider. */
export function createTencentClbProvider(options: TencentClbOptions): Provider<ClbConf> {
  const { api, writer } = options;
  const pools = options.pools ?? new ClbPools();
  const log = options.log ?? (() => {});
  const vips = options.vips ?? new ClbVips(api, writer);
  const holdings = new ClbHoldings({ writer, pools, log });
  const adoption = new ClbAdoption({
    api,
    writer,
    pools,
    holdings,
    parse: parseClbConf,
    log,
    loadBalancers: options.loadBalancers,
  });

  const isMine = (pod: Pod) => {
    const type = pod.metadata.annotations?.[NETWORK_TYPE_ANNOTATION];
    return type === TENCENT_CLB || (CLB_ALIASES as readonly string[]).includes(type ?? "");
  };
  const keyOf = (pod: Pod) => `${pod.metadata.namespace ?? ""}/${pod.metadata.name ?? ""}`;
  const vipOf = (lb: string) => vips.get(lb);

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
      const conf = parseClbConf(pod);
      // The allocator says which ran out: the range, or the CLBs' listener quota.
      const why = /quota/.test(err.message)
        ? err.message.replace(/\.$/, "")
        : `no listener port free on ${conf.clbIds.join(", ")} in ${conf.min}-${conf.max}`;
      return failed(
        new ConfError(
          `Pod ${
            podRef(pod)
          }: ${why} for ${conf.ports.length} port(s); it waits for one to be released`,
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
      await Promise.all([
        ...conf.clbIds.map((lb) => adoption.ensureScanned(lb)),
        loadListenerQuota(api, writer, pools),
      ]);
      let holding = holdings.get(key);
      const stale = holding &&
        (holding.fixed?.uid !== fixed?.uid ||
          holding.listeners.some((h) => !conf.clbIds.includes(h.lb)));
      if (stale) await holdings.drop(key);
      if (conf.listenerQuota !== undefined) {
        for (const lb of conf.clbIds) pools.setQuota(lb, conf.listenerQuota);
      }
      const unbound = conf.clbIds.filter((lb) => !pools.rangeOf(lb));
      pools.serveRange(conf.clbIds, conf, `Pod ${podRef(pod)}`);
      if (unbound.length > 0) holdings.claimParked(unbound);
      const protocols = conf.ports.map((p) => p.protocol);
      let chosen;
      try {
        chosen = pools.allocate(conf.clbIds, key, protocols, conf);
      } catch (err) {
        if (!(err instanceof AllocationError && err.code === "owner-mismatch")) throw err;
        // The conf changed (ports or protocols): start again from nothing.
        await holdings.drop(key);
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
      holdings.byPod.set(key, holding);
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
      await holdings.syncTargets(holding, disabled ? undefined : ip);
      const ordered = wanted.map((w) =>
        holding!.listeners.find((h) => h.port === w.port && h.protocol === w.protocol)!
      );
      // OpenKruiseGame's shape for this type: one address entry per listener,
      // the port named by its container port number.
      const port = (h: HeldListener, external: boolean): NetworkPort => ({
        name: String(h.containerPort),
        port: external ? h.port : h.containerPort,
        protocol: h.protocol,
      });
      const state = disabled ? "NotReady" : "Ready";
      return {
        kind: "done",
        report: {
          currentNetworkState: state,
          desiredNetworkState: state,
          internalAddresses: ordered.map((h) => ({ ip, ports: [port(h, false)] })),
          externalAddresses: ordered.map((h) => ({ ip: vip, ports: [port(h, true)] })),
        },
      };
    } catch (err) {
      return outcomeOf(pod, err, waiting);
    }
  }

  const provider: Provider<ClbConf> = {
    name: TENCENT_CLB,
    aliases: CLB_ALIASES,
    sweepEveryMs: options.sweepEveryMs ?? 60_000,
    extension: options.extension,
    extensions: options.extensions,

    parse: parseClbConf,

    // Listener ports are chosen once the Pod has an IP to put behind them.
    admit() {
      return Promise.resolve({ patch: [] });
    },

    // Cloud writes take a while (tasks, batches shared with other Pods): the
    // core lets a slow reconcile go on in the background and calls again when it ends.
    reconcile(pod: Pod, conf: ClbConf, ctx): Promise<Outcome> {
      const key = keyOf(pod);
      holdings.bindOwner(ctx.owner, key);
      return holdings.whileBusy(key, () => reconcile(pod, conf, key));
    },

    async release(owner: string): Promise<void> {
      const key = holdings.unbindOwner(owner);
      // A newer Pod of the same name holds it now.
      if (holdings.hasOwner(key)) return;
      const holding = holdings.get(key);
      if (holding?.fixed) {
        await holdings.whileBusy(key, async () => {
          await holdings.syncTargets(holding, undefined);
          holding.parked = true;
        });
        return;
      }
      await holdings.drop(key);
    },

    observe(key: string, pod: Pod | undefined): void {
      if (pod && isMine(pod)) holdings.live.set(key, pod);
      else holdings.live.delete(key);
    },

    async restore(pods, _ctx) {
      for (const { pod, owner } of pods) {
        const key = keyOf(pod);
        holdings.live.set(key, pod);
        holdings.bindOwner(owner, key);
        try {
          const conf = parseClbConf(pod);
          for (const lb of conf.clbIds) adoption.sweepable.add(lb);
          // The live Pods' ranges bind their CLBs before any listener is read.
          pools.serveRange(conf.clbIds, conf, `Pod ${key}`);
        } catch {
          // Reported when the Pod is reconciled.
        }
      }
      const failures: { message: string }[] = [];
      await Promise.all(
        [...adoption.sweepable].map((lb) =>
          adoption.ensureScanned(lb).catch((err) => {
            failures.push({ message: `CLB ${lb} not read: ${(err as Error).message}` });
          })
        ),
      );
      return failures;
    },

    async sweep(ctx: SweepContext): Promise<void> {
      adoption.requeue = ctx.requeue;
      for (const pod of holdings.live.values()) {
        try {
          for (const lb of parseClbConf(pod).clbIds) adoption.sweepable.add(lb);
        } catch {
          // not this Pod's problem here
        }
      }
      for (const holding of holdings.byPod.values()) {
        for (const h of holding.listeners) adoption.sweepable.add(h.lb);
      }
      for (const lb of adoption.sweepable) {
        try {
          await adoption.scan(lb);
        } catch (err) {
          log(`CLB ${lb}: sweep failed: ${(err as Error).message}`);
        }
      }
      // Parked Fixed holdings live as long as their workload.
      for (const [key, holding] of holdings.byPod) {
        if (
          !holding.parked || !holding.fixed || holdings.live.has(key) || holdings.busy.has(key)
        ) continue;
        const namespace = key.slice(0, key.indexOf("/"));
        if (await ctx.workloadExists(namespace, holding.fixed)) continue;
        log(
          `${key}: its workload ${holding.fixed.kind} ${holding.fixed.name} is gone; its listeners go`,
        );
        try {
          await holdings.drop(key);
        } catch (err) {
          log(`${key}: deleting listeners failed: ${(err as Error).message}`);
        }
      }
    },

    view(): ProviderView {
      const view: ProviderView = { pools: pools.view(), holdings: [] };
      for (const [owner, holding] of holdings.byPod) {
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

/** The name of a Pod port's listener that is not `Fixed` (tests and tools). */
export function listenerName(
  namespace: string,
  pod: string,
  containerPort: number,
  protocol: "TCP" | "UDP",
): string {
  return podListenerName({ namespace, pod, containerPort, protocol });
}
