/**
 * `Kubernetes-HostPort` (alias `HostPortNetwork`): the node's ports.
 *
 * The webhook runs before the scheduler, so the Pod's node is not known
 * when its host ports are chosen: the allocator picks ports free on the
 * most nodes (counting Pods admitted but not yet bound), writes them into
 * the Pod spec, and the scheduler's host-port filter then places the Pod
 * where they are free. Once bound, the ports are held in that node's pool
 * until the Pod is gone.
 *
 * Conf: `ContainerPorts` (required), `PortPolicy` = `Dynamic` (default) or
 * `Passthrough` (container port := host port), `PortRange` = a configured
 * range name (default `default`). Host ports a user set in the spec
 * (Agones' Static) are kept and registered, never changed.
 *
 * @example
 * ```ts
 * const hostPort = createHostPortProvider({ allocator });
 * ```
 * @module
 */

import {
  checkConfKeys,
  confValue,
  parseContainerPorts,
  parseNetworkConf,
  podRef,
  type RequestedPort,
} from "./network_conf.ts";
import { nodeExternalAddresses, podAddresses, portName } from "./addresses.ts";
import type { Provider, RestoreConflict } from "./provider.ts";
import type { HoldingView, ProviderView } from "./view.ts";
import type { NetworkType, NetworkTypeContext } from "./network_type.ts";
import { ConfigError, parseDuration, parseRange, type PortRange } from "./settings.ts";
import { AllocationError } from "../allocator/errors.ts";
import { HostPorts } from "../allocator/host_ports.ts";
import {
  ConfError,
  type ContainerPort,
  type JsonPatchOp,
  NETWORK_TYPE_ANNOTATION,
  type NetworkPort,
  type NetworkReport,
  type Outcome,
  type Pod,
  type Protocol,
} from "./types.ts";
import { networkDisabled } from "./network_report.ts";
import { podFinished } from "./pod_status.ts";

/** The canonical name. */
export const KUBERNETES_HOST_PORT = "Kubernetes-HostPort";

/** One host port and its protocol. */
export interface HostPortSpec {
  port: number;
  protocol: Protocol;
}

/**
 * What this provider needs from the allocator (see `allocator/`): ports
 * chosen before scheduling, then held on the node the Pod lands on.
 */
export interface HostPortAllocator {
  /** Range names configured. */
  rangeNames(): string[];
  /** `[min, max]` of a range. */
  range(name: string): { min: number; max: number } | undefined;
  /**
   * Chooses one host port per entry (TCPUDP = the same number in both) in
   * `range`, free on the most nodes; idempotent per owner. Throws a
   * {@linkcode ConfError}-compatible error with a message when none fits.
   */
  choose(
    owner: string,
    range: string,
    protocols: ("TCP" | "UDP" | "TCPUDP")[],
    options: { dryRun?: boolean; evenIfFull?: boolean },
  ): number[];
  /**
   * For a Pod created with its node set: one port per entry free on
   * `node`, held there at once. Undefined when the node is not known.
   */
  chooseOn(
    owner: string,
    range: string,
    node: string,
    protocols: ("TCP" | "UDP" | "TCPUDP")[],
    options: { dryRun?: boolean },
  ): number[] | undefined;
  /** Whether `owner`'s choice holds a port no node has free (its Pod waits for a node). */
  waitsForNode(owner: string): boolean;
  /**
   * Holds `ports` on `node` for `owner` (moving a pending choice there).
   * Returns the owners already holding any of them on that node (a clash
   * the scheduler should have prevented).
   */
  bind(owner: string, node: string, ports: HostPortSpec[]): string[];
  /** Frees everything `owner` holds or has pending. */
  release(owner: string): void;
  /** Registers a pending choice found at start-up (a Pod not yet bound). */
  restorePending(owner: string, range: string, ports: HostPortSpec[]): void;
  /** Node pools follow the cluster's nodes. */
  setNode(name: string, present: boolean): void;
  /** Per range: every node's pool and owners, and the choices not yet bound. */
  snapshot(): { range: string; state: HostPortRangeState }[];
  /** Host ports held outside every range (never chosen, but in use). */
  outside(): { owner: string; node: string; ports: HostPortSpec[] }[];
}

/** One range of {@linkcode HostPortAllocator.snapshot}. */
export interface HostPortRangeState {
  min: number;
  max: number;
  nodes: {
    node: string;
    pool: {
      used: { TCP: number; UDP: number };
      free: { TCP: number; UDP: number };
      delayed: { TCP: number; UDP: number };
      owners: { owner: string; ports: readonly HostPortSpec[] }[];
    };
  }[];
  pending: { owner: string; ports: number[]; protocols: ("TCP" | "UDP" | "TCPUDP")[] }[];
}

/** Owner prefix of the host ports of Pods gamenet does not manage. */
const FOREIGN = "foreign/";

/** Allocator refusals at admission, as reasons a person reads in the workload's events. */
const ADMISSION_REASONS: Partial<Record<string, string>> = {
  "exhausted": "HostPortsExhausted",
  "exhausted-delayed": "HostPortsExhausted",
  "too-many": "HostPortsExhausted",
  "unknown-pool": "UnknownPortRange",
  "invalid-request": "InvalidNetworkConf",
};

/** Parsed conf of a HostPort Pod. */
export interface HostPortConf {
  ports: RequestedPort[];
  policy: "Dynamic" | "Passthrough";
  range: string;
}

/** Options of {@linkcode createHostPortProvider}. */
export interface HostPortProviderOptions {
  allocator: HostPortAllocator;
  /**
   * When no node has the ports free: `pending` gives the Pod the ports
   * free on the most nodes anyway, and it waits Pending until a node with
   * them free joins (as Agones and OpenKruiseGame do, so the cluster
   * autoscaler sees a Pod to add a node for); `deny` refuses it at
   * admission. @default {"pending"}
   */
  whenExhausted?: "pending" | "deny";
}

/** How long a Pod waiting for a node with its ports free waits between two looks. */
const WAIT_FOR_NODE_MS = 10_000;
/** How soon a Pod bound to a node not yet in the cache is looked at again. */
const NODE_NOT_CACHED_RETRY_MS = 1_000;

const KEYS = ["ContainerPorts", "PortPolicy", "PortRange"] as const;

/** Every host port a Pod's spec holds, with its protocol. */
function specHostPorts(pod: Pod): HostPortSpec[] {
  return (pod.spec?.containers ?? []).flatMap((c) =>
    (c.ports ?? []).filter((p) => p.hostPort).map((p) => ({
      port: p.hostPort!,
      protocol: (p.protocol ?? "TCP") as Protocol,
    }))
  );
}

function protocolsOf(p: RequestedPort): Protocol[] {
  return p.protocol === "TCPUDP" ? ["TCP", "UDP"] : [p.protocol];
}

/** Creates the provider. */
export function createHostPortProvider(options: HostPortProviderOptions): Provider<HostPortConf> {
  const allocator = options.allocator;
  const pending = (options.whenExhausted ?? "pending") === "pending";
  /** Host ports of Pods of other types (or none), held on their nodes under `foreign/<key>`. */
  const foreign = new Map<string, string>();
  /** A node holding for the view: another Pod's ports say whose they are. */
  const holdingOf = (owner: string, node: string, ports: readonly HostPortSpec[]): HoldingView =>
    owner.startsWith(FOREIGN)
      ? { owner, kind: "unmanaged", pod: owner.slice(FOREIGN.length), node, ports: [...ports] }
      : { owner, kind: "managed", node, ports: [...ports] };

  /**
   * Matches each requested port to the spec's port carrying its host port.
   * A SameAsHost/Passthrough request matches a port whose containerPort
   * equals its hostPort.
   */
  function assigned(
    pod: Pod,
    conf: HostPortConf,
  ): { req: RequestedPort; ports: ContainerPort[] }[] {
    const used = new Set<ContainerPort>();
    return conf.ports.map((req) => {
      const c = pod.spec?.containers.find((c) => c.name === req.container);
      const ports = protocolsOf(req).map((protocol) => {
        const match = (c?.ports ?? []).find((p) =>
          !used.has(p) && p.hostPort !== undefined && (p.protocol ?? "TCP") === protocol &&
          (conf.policy === "Passthrough" || req.containerPort === undefined
            ? p.containerPort === p.hostPort
            : p.containerPort === req.containerPort)
        );
        if (match) used.add(match);
        return match;
      });
      return { req, ports: ports.filter((p): p is ContainerPort => p !== undefined) };
    });
  }

  return {
    name: KUBERNETES_HOST_PORT,
    aliases: ["HostPortNetwork"],

    parse(pod: Pod): HostPortConf {
      const conf = parseNetworkConf(pod);
      checkConfKeys(pod, KUBERNETES_HOST_PORT, conf, KEYS);
      const policyText = confValue(pod, conf, "PortPolicy") ?? "Dynamic";
      if (policyText !== "Dynamic" && policyText !== "Passthrough") {
        throw new ConfError(
          `Pod ${podRef(pod)}: PortPolicy "${policyText}": write Dynamic or Passthrough`,
        );
      }
      const range = confValue(pod, conf, "PortRange") || "default";
      if (!allocator.range(range)) {
        throw new ConfError(
          `Pod ${podRef(pod)}: PortRange "${range}" is not configured; configured: ${
            allocator.rangeNames().join(", ")
          }`,
          "UnknownPortRange",
        );
      }
      const ports = parseContainerPorts(pod, conf, { required: true, allowSameAsHost: true });
      if (pod.spec?.hostNetwork === true && policyText === "Dynamic") {
        // The API server sets hostPort := containerPort on such a Pod and
        // refuses any other pair: there is no host port left to choose.
        throw new ConfError(
          `Pod ${podRef(pod)}: hostNetwork: true serves on the node's own ports, so each host ` +
            `port is its container port and gamenet cannot choose one; set PortPolicy ` +
            `Passthrough (gamenet chooses the port and sets the container port to it; the ` +
            `server must listen there) or remove hostNetwork`,
          "HostNetworkNeedsPassthrough",
        );
      }
      return { ports, policy: policyText, range };
    },

    admit(
      pod: Pod,
      conf: HostPortConf,
      ctx,
    ): Promise<{ patch: JsonPatchOp[]; warnings?: string[] }> {
      const containers = pod.spec?.containers ?? [];
      // Ports the user already pinned to a host port stay as they are.
      const pinned = (req: RequestedPort, protocol: Protocol) =>
        containers.find((c) => c.name === req.container)?.ports?.find((p) =>
          p.hostPort !== undefined && p.containerPort === req.containerPort &&
          (p.protocol ?? "TCP") === protocol
        );
      const toChoose = conf.ports.filter((req) =>
        conf.policy === "Passthrough" || req.containerPort === undefined ||
        protocolsOf(req).some((p) => !pinned(req, p))
      );
      let chosen: number[] = [];
      const warnings: string[] = [];
      const protocols = toChoose.map((r) => r.protocol);
      try {
        // Created with its node set: no scheduler keeps it off a clash, so
        // the ports are ones free on that node, held there from now on.
        const node = pod.spec?.nodeName;
        const onNode = toChoose.length > 0 && node
          ? allocator.chooseOn(ctx.owner, conf.range, node, protocols, { dryRun: ctx.dryRun })
          : undefined;
        if (onNode) chosen = onNode;
        else if (toChoose.length > 0) {
          try {
            chosen = allocator.choose(ctx.owner, conf.range, protocols, { dryRun: ctx.dryRun });
          } catch (err) {
            // No node has them free (a reuse delay aside: that promise holds): wait for one.
            if (!(err instanceof AllocationError && err.code === "exhausted" && pending)) throw err;
            chosen = allocator.choose(ctx.owner, conf.range, protocols, {
              dryRun: ctx.dryRun,
              evenIfFull: true,
            });
            warnings.push(
              `No node has host port(s) ${chosen.join(", ")} free now: the Pod waits Pending ` +
                `until one does (a node joins, or a game server ends)`,
            );
          }
        }
      } catch (err) {
        // A promise-returning method rejects rather than throws.
        const reason = err instanceof AllocationError ? ADMISSION_REASONS[err.code] : undefined;
        if (!reason) return Promise.reject(err);
        const r = allocator.range(conf.range);
        return Promise.reject(
          new ConfError(
            `Pod ${podRef(pod)}: no host ports for ${toChoose.length} port(s) in range ` +
              `"${conf.range}"${r ? ` (${r.min}-${r.max})` : ""}: ${(err as Error).message}`,
            reason,
          ),
        );
      }
      // On a host-network Pod the API server copied every containerPort into
      // hostPort: those are defaults, not the user's choice, and are replaced.
      const assignedHere = new Set<ContainerPort>();
      const free = (p: ContainerPort) =>
        !assignedHere.has(p) &&
        (p.hostPort === undefined ||
          (pod.spec?.hostNetwork === true && p.hostPort === p.containerPort));
      const newPorts = new Map<number, ContainerPort[]>();
      containers.forEach((c, i) => newPorts.set(i, (c.ports ?? []).map((p) => ({ ...p }))));
      toChoose.forEach((req, n) => {
        const index = containers.findIndex((c) => c.name === req.container);
        const list = newPorts.get(index)!;
        const hostPort = chosen[n];
        const containerPort = conf.policy === "Passthrough" || req.containerPort === undefined
          ? hostPort
          : req.containerPort;
        for (const protocol of protocolsOf(req)) {
          const existing = list.find((p) =>
            free(p) && p.containerPort === req.containerPort && (p.protocol ?? "TCP") === protocol
          );
          if (existing) {
            existing.hostPort = hostPort;
            existing.containerPort = containerPort;
            assignedHere.add(existing);
          } else {
            list.push({ containerPort, hostPort, protocol });
          }
        }
      });
      const patch: JsonPatchOp[] = [];
      containers.forEach((c, i) => {
        const ports = newPorts.get(i)!;
        if (JSON.stringify(ports) !== JSON.stringify(c.ports ?? [])) {
          patch.push({ op: "add", path: `/spec/containers/${i}/ports`, value: ports });
        }
      });
      return Promise.resolve({ patch, warnings: warnings.length > 0 ? warnings : undefined });
    },

    reconcile(pod: Pod, conf: HostPortConf, ctx): Promise<Outcome> {
      const disabled = networkDisabled(pod);
      const desiredNetworkState = disabled ? "NotReady" : "Ready";
      const waiting = (state: "NotReady" | "Waiting"): NetworkReport => ({
        currentNetworkState: state,
        desiredNetworkState,
        internalAddresses: [],
        externalAddresses: [],
      });
      const matches = assigned(pod, conf);
      const missing = matches.filter((m) => m.ports.length < protocolsOf(m.req).length);
      if (missing.length > 0) {
        const what = missing.map((m) =>
          `${m.req.container}:${m.req.containerPort ?? "SameAsHost"}/${m.req.protocol}`
        );
        return Promise.resolve({
          kind: "failed",
          error: new ConfError(
            `Pod ${podRef(pod)}: no host port for ${
              what.join(", ")
            }: the Pod was not admitted by gamenet's ` +
              `webhook (created while it was unreachable, or ${NETWORK_TYPE_ANNOTATION} added later); ` +
              `delete the Pod so its controller creates it again`,
            "HostPortMissing",
          ),
          report: waiting("NotReady"),
        });
      }
      const nodeName = pod.spec?.nodeName;
      if (!nodeName && allocator.waitsForNode(ctx.owner)) {
        return Promise.resolve({
          kind: "failed",
          error: new ConfError(
            `Pod ${podRef(pod)}: no node has its host ports free (range "${conf.range}"); it ` +
              `waits Pending until a node with them free joins or a game server on one ends`,
            "HostPortsUnavailable",
          ),
          report: waiting("Waiting"),
          requeueAfterMs: WAIT_FOR_NODE_MS,
        });
      }
      if (!nodeName) return Promise.resolve({ kind: "done", report: waiting("Waiting") });
      const all = specHostPorts(pod);
      const clash = allocator.bind(ctx.owner, nodeName, all);
      if (clash.length > 0) {
        return Promise.resolve({
          kind: "failed",
          error: new ConfError(
            `Pod ${podRef(pod)}: host ports ${
              all.map((p) => `${p.port}/${p.protocol}`).join(", ")
            } on node ` +
              `${nodeName} are also held by ${clash.join(", ")}`,
            "HostPortConflict",
          ),
          report: waiting("NotReady"),
        });
      }
      const node = ctx.node(nodeName);
      // The Pod's binding can come before its new node reaches the cache (two
      // watches): look again soon rather than wait for an event that came already.
      // Bound, but the node (its cache entry, its addresses) or the Pod's IP
      // is not there yet: nothing is wrong, so Waiting as the admission
      // wrote it, and a game server's status is written once, when Ready.
      if (!node) {
        return Promise.resolve({
          kind: "requeueAfter",
          ms: NODE_NOT_CACHED_RETRY_MS,
          report: waiting("Waiting"),
        });
      }
      const podIPs = podAddresses(pod);
      const nodeIPs = nodeExternalAddresses(node);
      if (podIPs.length === 0 || nodeIPs.length === 0) {
        return Promise.resolve({ kind: "done", report: waiting("Waiting") });
      }
      const internal: NetworkPort[] = [];
      const external: NetworkPort[] = [];
      for (const m of matches) {
        for (const p of m.ports) {
          const name = portName(m.req.container, m.req.containerPort ?? p.containerPort);
          const protocol = (p.protocol ?? "TCP") as Protocol;
          internal.push({ name, port: p.containerPort, protocol });
          external.push({ name, port: p.hostPort!, protocol });
        }
      }
      return Promise.resolve({
        kind: "done",
        report: {
          // A host port cannot be withdrawn from a running Pod, so a disabled
          // server stays reachable: current Ready, desired NotReady says so.
          currentNetworkState: "Ready",
          desiredNetworkState,
          internalAddresses: podIPs.map((ip) => ({ ip, ports: internal })),
          externalAddresses: nodeIPs.map((ip) => ({ ip, ports: external })),
        },
      });
    },

    release(owner: string): Promise<void> {
      allocator.release(owner);
      return Promise.resolve();
    },

    restore(pods, ctx): RestoreConflict[] {
      const conflicts: RestoreConflict[] = [];
      for (const { pod, owner } of pods) {
        let conf: HostPortConf;
        try {
          conf = this.parse(pod);
        } catch {
          conf = { ports: [], policy: "Dynamic", range: "default" };
        }
        const ports = specHostPorts(pod);
        if (ports.length === 0) continue;
        const nodeName = pod.spec?.nodeName;
        if (nodeName && ctx.node(nodeName)) {
          const clash = allocator.bind(owner, nodeName, ports);
          if (clash.length > 0) {
            conflicts.push({
              message: `Pod ${podRef(pod)} and ${
                clash.join(", ")
              } both hold host ports on node ${nodeName}`,
            });
          }
        } else {
          allocator.restorePending(owner, conf.range, ports);
        }
      }
      return conflicts;
    },

    observe(key: string, pod: Pod | undefined): void {
      const owner = `${FOREIGN}${key}`;
      const ours = pod &&
        this.aliases.concat(this.name).includes(
          pod.metadata.annotations?.[NETWORK_TYPE_ANNOTATION] ?? "",
        );
      if (!pod || ours || podFinished(pod) || !pod.spec?.nodeName) {
        if (foreign.delete(key)) allocator.release(owner);
        return;
      }
      const ports = specHostPorts(pod);
      const signature = `${pod.spec.nodeName}:${JSON.stringify(ports)}`;
      if (foreign.get(key) === signature) return;
      if (foreign.has(key)) allocator.release(owner);
      if (ports.length === 0) {
        foreign.delete(key);
        return;
      }
      foreign.set(key, signature);
      allocator.bind(owner, pod.spec.nodeName, ports);
    },

    observeNode(name: string, present: boolean): void {
      allocator.setNode(name, present);
    },

    view(): ProviderView {
      const view: ProviderView = { pools: [], holdings: [] };
      for (const { range, state } of allocator.snapshot()) {
        for (const { node, pool } of state.nodes) {
          for (const protocol of ["TCP", "UDP"] as const) {
            view.pools.push({
              kind: "node",
              key: node,
              range: `${state.min}-${state.max}`,
              rangeName: range,
              protocol,
              used: pool.used[protocol],
              free: pool.free[protocol],
              delayed: pool.delayed[protocol],
            });
          }
          for (const { owner, ports } of pool.owners) {
            view.holdings.push(holdingOf(owner, node, ports));
          }
        }
        // Chosen at admission, not on a node yet: each port as it was asked.
        for (const { owner, ports, protocols } of state.pending) {
          view.holdings.push({
            owner,
            kind: "managed",
            ports: ports.map((port, k) => ({ port, protocol: protocols[k] })),
          });
        }
      }
      for (const { owner, node, ports } of allocator.outside()) {
        view.holdings.push(holdingOf(owner, node, ports));
      }
      return view;
    },
  };
}

/** The host-port ranges by name (`default` serves Pods that name none) and the reuse delay. */
export interface HostPortSettings {
  ranges: Record<string, PortRange>;
  reuseDelayMs: number;
}

/**
 * Reads the flags, then the pools file's `hostPort` section: its `ranges`
 * replace the flag's (which stays `default` unless the file names one),
 * its `reuseDelay` wins over the flag.
 *
 * @example
 * ```ts
 * hostPortSettings(ctx); // { ranges: { default: { min: 8000, max: 9000 } }, reuseDelayMs: 0 }
 * ```
 */
export function hostPortSettings(
  ctx: Pick<NetworkTypeContext, "setting" | "section" | "source">,
): HostPortSettings {
  const settings: HostPortSettings = {
    ranges: { default: parseRange("--host-port-range", ctx.setting("host-port-range")!) },
    reuseDelayMs: parseDuration("--reuse-delay", ctx.setting("reuse-delay")!),
  };
  const section = ctx.section;
  if (section === undefined || section === null) return settings;
  const file = ctx.source;
  if (typeof section !== "object" || Array.isArray(section)) {
    throw new ConfigError(`${file}: hostPort is a mapping with ranges and reuseDelay`);
  }
  const hp = section as { ranges?: Record<string, unknown>; reuseDelay?: unknown };
  for (const key of Object.keys(hp)) {
    if (key !== "ranges" && key !== "reuseDelay") {
      throw new ConfigError(`${file}: hostPort has no "${key}"; it takes ranges and reuseDelay`);
    }
  }
  if (hp.ranges) {
    const ranges: Record<string, PortRange> = {};
    for (const [name, text] of Object.entries(hp.ranges)) {
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
        throw new ConfigError(
          `${file}: hostPort.ranges name "${name}": use letters, digits, ".", "_" or "-"`,
        );
      }
      ranges[name] = parseRange(`${file}: hostPort.ranges.${name}`, String(text));
    }
    ranges.default ??= settings.ranges.default;
    settings.ranges = ranges;
  }
  if (hp.reuseDelay !== undefined) {
    settings.reuseDelayMs = parseDuration(`${file}: hostPort.reuseDelay`, String(hp.reuseDelay));
  }
  return settings;
}

/** `Kubernetes-HostPort` for `providers/mod.ts`: its flags, the pools file's `hostPort` section. */
export const hostPortType: NetworkType = {
  title: KUBERNETES_HOST_PORT,
  settings: [
    {
      flag: "host-port-range",
      env: "GAMENET_HOST_PORT_RANGE",
      help: "the default host-port range (the pools file may name more)",
      // OpenKruiseGame's host-port default range.
      default: "8000-9000",
    },
    {
      flag: "reuse-delay",
      env: "GAMENET_REUSE_DELAY",
      help: "keep freed host ports out of circulation this long (e.g. 30s)",
      default: "0s",
    },
    {
      flag: "host-port-exhausted",
      env: "GAMENET_HOST_PORT_EXHAUSTED",
      help: "no node has the ports free: pending (the Pod waits for a node) or deny",
      default: "pending",
    },
  ],
  section: "hostPort",
  create(ctx) {
    const { ranges, reuseDelayMs } = hostPortSettings(ctx);
    const whenExhausted = ctx.setting("host-port-exhausted");
    if (whenExhausted !== "pending" && whenExhausted !== "deny") {
      throw new ConfigError(`--host-port-exhausted=${whenExhausted}: write pending or deny`);
    }
    let allocator: HostPorts;
    try {
      allocator = new HostPorts(ranges, { reuseDelayMs });
    } catch (err) {
      if (err instanceof AllocationError) throw new ConfigError(err.message);
      throw err;
    }
    ctx.log.info(
      `${KUBERNETES_HOST_PORT}: ranges ${
        Object.entries(ranges).map(([n, r]) => `${n}=${r.min}-${r.max}`).join(", ")
      }, reuse delay ${reuseDelayMs} ms`,
    );
    return [createHostPortProvider({ allocator, whenExhausted })];
  },
};
