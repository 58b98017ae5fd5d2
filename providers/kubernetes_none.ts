/**
 * `Kubernetes-None` (aliases `None`, `Direct`): Agones' port policy None.
 * Nothing is mapped; players reach the Pod IP(s) and container ports
 * directly (IPv6, BGP-routed Pod networks). Internal and external
 * addresses are the same: one entry per IP family of the Pod.
 *
 * @example
 * ```ts
 * const provider = createNoneProvider();
 * ```
 * @module
 */

import {
  checkConfKeys,
  parseContainerPorts,
  parseNetworkConf,
  podRef,
  type RequestedPort,
} from "./network_conf.ts";
import { podAddresses, portName } from "./addresses.ts";
import type { Provider } from "./provider.ts";
import type { NetworkType } from "./network_type.ts";
import { ConfError, type NetworkPort, type Outcome, type Pod } from "./types.ts";
import { networkDisabled } from "./network_report.ts";

/** The canonical name. */
export const KUBERNETES_NONE = "Kubernetes-None";

/** Creates the provider. */
export function createNoneProvider(): Provider<RequestedPort[]> {
  return {
    name: KUBERNETES_NONE,
    aliases: ["None", "Direct"],

    parse(pod: Pod): RequestedPort[] {
      const conf = parseNetworkConf(pod);
      checkConfKeys(pod, KUBERNETES_NONE, conf, ["ContainerPorts"]);
      const ports = parseContainerPorts(pod, conf, { required: false, allowSameAsHost: false });
      if (ports.length === 0) {
        throw new ConfError(
          `Pod ${podRef(pod)}: ${KUBERNETES_NONE} has no port to report: declare containerPorts ` +
            `or set ContainerPorts, e.g. "gameserver:7777/UDP"`,
        );
      }
      return ports;
    },

    admit() {
      return Promise.resolve({ patch: [] });
    },

    reconcile(pod: Pod, ports: RequestedPort[]): Promise<Outcome> {
      const disabled = networkDisabled(pod);
      const networkPorts: NetworkPort[] = ports.flatMap((p) =>
        (p.protocol === "TCPUDP" ? ["TCP", "UDP"] as const : [p.protocol]).map((protocol) => ({
          name: portName(p.container, p.containerPort!),
          port: p.containerPort!,
          protocol,
        }))
      );
      const ips = podAddresses(pod);
      const addresses = ips.map((ip) => ({ ip, ports: networkPorts }));
      return Promise.resolve({
        kind: "done",
        report: {
          // Nothing stands between players and the Pod IP, so "disabled"
          // cannot be realised here: the status says so by keeping current
          // Ready while desired is NotReady.
          // Before the Pod has an IP nothing is wrong yet: Waiting, as the
          // admission wrote it, so the Pod gets one status write, not two.
          currentNetworkState: ips.length > 0 ? "Ready" : "Waiting",
          desiredNetworkState: disabled ? "NotReady" : "Ready",
          internalAddresses: addresses,
          externalAddresses: addresses,
        },
      });
    },

    release() {
      return Promise.resolve();
    },
  };
}

/** `Kubernetes-None` for `providers/mod.ts`: no settings. */
export const noneType: NetworkType = {
  title: KUBERNETES_NONE,
  settings: [],
  create: () => [createNoneProvider()],
};
