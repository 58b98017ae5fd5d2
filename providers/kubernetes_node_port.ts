/**
 * `Kubernetes-NodePort`: a game server reached at every node's address on
 * a node port, through a `NodePort` Service of its own (named after the
 * Pod, selecting exactly that Pod; see `owned_objects.ts`). The API server
 * picks the node ports; gamenet reads them back from the Service and
 * reports the Pod's node's address with them, as OpenKruiseGame's plugin
 * does.
 *
 * Conf (OpenKruiseGame's names):
 * - `PortProtocols`: `port[/TCP|UDP|TCPUDP],…` (TCP when none is given);
 *   `TCPUDP` is two Service ports, TCP and UDP, with one node port.
 * - `Fixed`: `true` keeps the Service (and its node ports) for the next
 *   Pod of the name until the workload is deleted.
 * - `AllowNotReadyContainers`: containers whose not being ready must not
 *   stop traffic (an in-place update of a sidecar): while only they are
 *   not ready, the Service publishes the Pod anyway.
 *
 * Status, as OpenKruiseGame writes it: per Service port one internal
 * address (Pod IP, the port) and one external (the node's ExternalIP,
 * else InternalIP; the node port), port names the port number. The
 * Service asks for both IP families (`PreferDualStack`): on a dual-stack
 * cluster each port has an external address per family, on others the
 * cluster's one. `Waiting` until the node ports are assigned, the Pod has an IP
 * and its node is known. `network-disabled` makes the Service select
 * nothing (the node ports are kept) and the status `NotReady`.
 *
 * @example
 * ```ts
 * const nodePort = createNodePortProvider();
 * ```
 * @module
 */

import {
  checkConfKeys,
  confValue,
  parseFixed,
  parseNetworkConf,
  parsePortProtocols,
  podRef,
  type ServicePortRequest,
} from "./network_conf.ts";
import { networkDisabled, waitingReport } from "./network_report.ts";
import { ipFamily, nodeExternalAddresses, podAddresses } from "./addresses.ts";
import type { ExtensionObject } from "./extension.ts";
import type { Provider, ProviderView } from "./provider.ts";
import type { NetworkType } from "./network_type.ts";
import {
  checkObjectName,
  ENDPOINT_SLICES,
  fixedWarning,
  gameServerLabelPatch,
  gameServerSelector,
  objectPatch,
  onlyAllowedNotReady,
  OwnedObjects,
  SERVICE_NAME_LABEL,
  SERVICES,
} from "./owned_objects.ts";
import {
  ConfError,
  type NetworkAddress,
  type NetworkReport,
  type Outcome,
  type Pod,
  type Protocol,
} from "./types.ts";

/** The canonical name. */
export const KUBERNETES_NODE_PORT = "Kubernetes-NodePort";

/** The part of an EndpointSlice read here. */
interface EndpointSlice {
  endpoints?: { addresses?: string[]; conditions?: { ready?: boolean } }[];
}

/** The index of EndpointSlices by their Service's `namespace/name`. */
const BY_SERVICE = "service";

/** A Pod whose objects are not cached yet (gamenet just started leading) is looked at again after this. */
const NOT_SYNCED_RETRY_MS = 1_000;

/** One asked port. */
export type NodePortRequest = ServicePortRequest;

/** A parsed conf. */
export interface NodePortConf {
  ports: NodePortRequest[];
  fixed: boolean;
  /** Containers allowed to be not ready without taking the Pod off the Service. */
  allowNotReady: string[];
}

/** One Service port per protocol; a `TCPUDP` request is two. */
interface ServicePort {
  name: string;
  port: number;
  targetPort: number;
  protocol: Protocol;
  nodePort?: number;
}

function protocolsOf(r: NodePortRequest): Protocol[] {
  return r.protocol === "TCPUDP" ? ["TCP", "UDP"] : [r.protocol];
}

/**
 * Service port names must be unique: the port number, as OpenKruiseGame
 * names them, and `-udp` for the UDP twin of a port asked in both.
 */
function servicePortName(port: number, protocol: Protocol, both: boolean): string {
  return both && protocol === "UDP" ? `${port}-udp` : String(port);
}

/** The Service ports `conf` asks for, keeping the node ports `current` has for them. */
export function servicePorts(conf: NodePortConf, current?: ServicePort[]): ServicePort[] {
  const out: ServicePort[] = [];
  for (const r of conf.ports) {
    const both = r.protocol === "TCPUDP";
    let shared: number | undefined;
    for (const protocol of protocolsOf(r)) {
      const kept = current?.find((p) => p.port === r.port && p.protocol === protocol)?.nodePort;
      // The UDP twin of a TCPUDP port takes the TCP one's node port.
      const nodePort = kept ?? shared;
      shared ??= nodePort;
      out.push({
        name: servicePortName(r.port, protocol, both),
        port: r.port,
        targetPort: r.port,
        protocol,
        ...(nodePort ? { nodePort } : {}),
      });
    }
  }
  // A port asked in both protocols whose TCP port has a node port and UDP
  // twin not yet: the API server gives the twin the same one only if told.
  return out;
}

/** Creates the provider (with its Service watch). */
export function createNodePortProvider(): Provider<NodePortConf> {
  const owned = new OwnedObjects(KUBERNETES_NODE_PORT, [SERVICES, ENDPOINT_SLICES], {
    indexes: {
      [ENDPOINT_SLICES.resource]: {
        [BY_SERVICE]: (slice) => {
          const service = slice.metadata.labels?.[SERVICE_NAME_LABEL];
          return service ? [`${slice.metadata.namespace}/${service}`] : [];
        },
      },
    },
  });

  /**
   * Whether the Service's EndpointSlices list the Pod as a ready endpoint:
   * before that, kube-proxy sends a player nowhere (a Pod not Ready, or
   * the slice not written yet).
   */
  function endpointReady(pod: Pod): boolean {
    const ips = new Set(podAddresses(pod));
    return owned.byIndex(
      ENDPOINT_SLICES,
      BY_SERVICE,
      `${pod.metadata.namespace}/${pod.metadata.name}`,
    )
      .some((slice) =>
        ((slice as EndpointSlice).endpoints ?? []).some((e) =>
          e.conditions?.ready !== false && (e.addresses ?? []).some((a) => ips.has(a))
        )
      );
  }

  function desiredService(pod: Pod, conf: NodePortConf, owner: string, current?: ExtensionObject) {
    const ports = servicePorts(conf, current?.spec?.ports);
    // A TCPUDP pair is created with its TCP half first: the twin can only
    // be told its node port once the API server has picked it.
    const creatable = current
      ? ports
      : ports.filter((p, i) =>
        !(p.protocol === "UDP" && p.nodePort === undefined && i > 0 &&
          ports[i - 1].port === p.port && ports[i - 1].protocol === "TCP")
      );
    return {
      metadata: owned.metadata(pod, owner, conf.fixed),
      spec: {
        type: "NodePort",
        // Node ports on both families where the cluster has both.
        ipFamilyPolicy: "PreferDualStack",
        selector: gameServerSelector(pod, networkDisabled(pod)),
        ports: creatable,
        publishNotReadyAddresses: onlyAllowedNotReady(pod, conf.allowNotReady),
      },
    };
  }

  function report(pod: Pod, service: ExtensionObject, nodeIPs: string[]): NetworkReport {
    const disabled = networkDisabled(pod);
    const state = disabled ? "NotReady" : "Ready";
    const ports = service.spec.ports as ServicePort[];
    // A node port answers on the node's addresses of the Service's families only.
    const families: string[] = service.spec.ipFamilies ?? ["IPv4"];
    const node = nodeIPs.filter((ip) => families.includes(ipFamily(ip) === 6 ? "IPv6" : "IPv4"));
    const internal: NetworkAddress[] = [];
    const external: NetworkAddress[] = [];
    for (const p of ports) {
      const name = String(p.port);
      for (const ip of podAddresses(pod)) {
        internal.push({
          ip,
          ports: [{ name, port: p.targetPort ?? p.port, protocol: p.protocol }],
        });
      }
      for (const ip of node) {
        external.push({ ip, ports: [{ name, port: p.nodePort!, protocol: p.protocol }] });
      }
    }
    return {
      currentNetworkState: state,
      desiredNetworkState: state,
      internalAddresses: internal,
      externalAddresses: external,
    };
  }

  return {
    name: KUBERNETES_NODE_PORT,
    aliases: [],

    parse(pod: Pod): NodePortConf {
      const conf = parseNetworkConf(pod);
      checkConfKeys(pod, KUBERNETES_NODE_PORT, conf, [
        "PortProtocols",
        "Fixed",
        "AllowNotReadyContainers",
      ]);
      checkObjectName(pod, KUBERNETES_NODE_PORT);
      const ports = parsePortProtocols(pod, conf, KUBERNETES_NODE_PORT);
      const allowNotReady = (confValue(pod, conf, "AllowNotReadyContainers") ?? "").split(",")
        .map((s) => s.trim()).filter(Boolean);
      const containers = new Set((pod.spec?.containers ?? []).map((c) => c.name));
      for (const name of allowNotReady) {
        if (!containers.has(name)) {
          throw new ConfError(
            `Pod ${podRef(pod)}: AllowNotReadyContainers names "${name}", which is not a ` +
              `container of the Pod`,
          );
        }
      }
      return { ports, fixed: parseFixed(pod, confValue(pod, conf, "Fixed")), allowNotReady };
    },

    admit(pod: Pod, conf: NodePortConf, ctx) {
      const patch = gameServerLabelPatch(pod, ctx.owner);
      const warnings = fixedWarning(pod, conf.fixed);
      return Promise.resolve({ patch, warnings: warnings.length > 0 ? warnings : undefined });
    },

    async reconcile(pod: Pod, conf: NodePortConf, ctx): Promise<Outcome> {
      if (!owned.attached) return { kind: "requeueAfter", ms: NOT_SYNCED_RETRY_MS };
      const namespace = pod.metadata.namespace!;
      const name = pod.metadata.name!;
      const waiting = waitingReport(pod);
      if (await owned.labelIfMissing(pod)) {
        return { kind: "requeueAfter", ms: NOT_SYNCED_RETRY_MS, report: waiting };
      }
      const current = owned.get(SERVICES, namespace, name);
      const desired = desiredService(pod, conf, ctx.owner, current);
      if (!current) {
        await owned.apply(SERVICES, desired);
        return { kind: "requeueAfter", ms: NOT_SYNCED_RETRY_MS, report: waiting };
      }
      const patch = objectPatch(current, desired);
      if (patch) {
        await owned.apply(SERVICES, desired, patch);
        return { kind: "requeueAfter", ms: NOT_SYNCED_RETRY_MS, report: waiting };
      }
      const ports = current.spec?.ports as ServicePort[] | undefined ?? [];
      const nodeName = pod.spec?.nodeName;
      const node = nodeName ? ctx.node(nodeName) : undefined;
      const nodeIPs = node ? nodeExternalAddresses(node) : [];
      if (
        ports.some((p) => !p.nodePort) || ports.length !== desired.spec.ports.length ||
        podAddresses(pod).length === 0 || nodeIPs.length === 0 ||
        (!networkDisabled(pod) && !endpointReady(pod))
      ) {
        return { kind: "done", report: waiting };
      }
      return { kind: "done", report: report(pod, current, nodeIPs) };
    },

    async release(owner: string) {
      await owned.release(owner);
    },

    async sweep(ctx) {
      await owned.collect(ctx);
    },

    view(): ProviderView {
      return {
        pools: [],
        holdings: owned.list(SERVICES).map((svc) => ({
          ...owned.holding(svc),
          objects: [`Service/${svc.metadata.name}`],
          ports: ((svc.spec?.ports ?? []) as ServicePort[]).filter((p) => p.nodePort).map((p) => ({
            name: String(p.port),
            port: p.nodePort!,
            protocol: p.protocol,
            containerPort: p.port,
          })),
        })),
      };
    },

    extension: owned.extension(),
  };
}

/** `Kubernetes-NodePort` for `providers/mod.ts`: no settings (the API server picks node ports). */
export const nodePortType: NetworkType = {
  title: KUBERNETES_NODE_PORT,
  settings: [],
  create: () => [createNodePortProvider()],
};
