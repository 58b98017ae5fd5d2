/**
 * `AlibabaCloud-NATGW` (aliases `Ali-NatGw`, `NATGW-Network`): a Pod
 * reached through an Alibaba Cloud NAT gateway's DNAT entry. gamenet
 * allocates nothing: at admission it sets the annotations Alibaba's
 * network controller (ACK with Terway) acts on, and that controller
 * reports the entries in a `PodDNAT` object (`alibabacloud.com/v1beta1`,
 * same namespace and name as the Pod). gamenet watches those objects and
 * reports the Pod `Ready` once every port has an entry, `Waiting` before,
 * and `NotReady` with an Event when they have not come after
 * `entryTimeoutMs`.
 *
 * Conf: `Ports` (required, `80,81`), `Protocol` (`TCP` default or `UDP`),
 * `Fixed` (`true`: Alibaba keeps the entry for the Pod re-created under
 * the same name).
 *
 * @example
 * ```ts
 * const natgw = createAlibabaNatGwProvider({ entryTimeoutMs: 120_000 });
 * ```
 * @module
 */

import { checkConfKeys, confValue, parseNetworkConf, parsePort, podRef } from "./network_conf.ts";
import { networkDisabled, waitingReport } from "./network_report.ts";
import type { ExtensionContext } from "./extension.ts";
import type { Provider } from "./provider.ts";
import type { NetworkType } from "./network_type.ts";
import { parseDuration } from "./settings.ts";
import { ConfError, type JsonPatchOp, type Outcome, type Pod } from "./types.ts";

/** The canonical name. */
export const ALIBABA_NATGW = "AlibabaCloud-NATGW";

/** The annotations Alibaba's controller reads (verified against OpenKruiseGame's natgw plugin). */
export const POD_DNAT_ANNOTATION = "k8s.aliyun.com/pod-dnat";
export const POD_DNAT_PORT_ANNOTATION = "k8s.aliyun.com/pod-dnat-expose-port";
export const POD_DNAT_PROTOCOL_ANNOTATION = "k8s.aliyun.com/pod-dnat-expose-protocol";
export const POD_DNAT_FIXED_ANNOTATION = "k8s.aliyun.com/pod-dnat-fixed";

/** The cloud's object: group/version and plural. */
export const POD_DNAT_API_VERSION = "alibabacloud.com/v1beta1";
export const POD_DNAT_RESOURCE = "poddnats";

/** Entries not there after this: `NotReady` and an Event. */
export const DEFAULT_NATGW_ENTRY_TIMEOUT_MS = 120_000;
/** A waiting Pod is looked at again this often (a PodDNAT change also wakes it). */
const WAITING_RECHECK_MS = 5_000;

/** A parsed conf. */
export interface NatGwConf {
  ports: number[];
  protocol: "TCP" | "UDP";
  fixed: boolean;
}

/** Options of {@linkcode createAlibabaNatGwProvider}. */
export interface AlibabaNatGwOptions {
  /** @default {DEFAULT_NATGW_ENTRY_TIMEOUT_MS} */
  entryTimeoutMs?: number;
  /** @default {Date.now} */
  now?: () => number;
}

/** One `status.entries[]` of a PodDNAT: every field is a string. */
interface DnatEntry {
  externalIP?: string;
  externalPort?: string;
  internalIP?: string;
  internalPort?: string;
  ipProtocol?: string;
}

function escapePointer(s: string): string {
  return s.replaceAll("~", "~0").replaceAll("/", "~1");
}

/** Creates the provider (with its PodDNAT watch). */
export function createAlibabaNatGwProvider(options: AlibabaNatGwOptions = {}): Provider<NatGwConf> {
  const timeoutMs = options.entryTimeoutMs ?? DEFAULT_NATGW_ENTRY_TIMEOUT_MS;
  const now = options.now ?? Date.now;
  /** The core's view of PodDNATs, once this replica leads. */
  let cloud: ExtensionContext | undefined;

  return {
    name: ALIBABA_NATGW,
    aliases: ["Ali-NatGw", "NATGW-Network"],

    parse(pod: Pod): NatGwConf {
      const conf = parseNetworkConf(pod);
      checkConfKeys(pod, ALIBABA_NATGW, conf, ["Ports", "Protocol", "Fixed"]);
      const portsText = confValue(pod, conf, "Ports") ?? "";
      const ports = portsText.split(",").map((s) => s.trim()).filter(Boolean)
        .map((p) => parsePort(pod, "Ports", p));
      if (ports.length === 0) {
        throw new ConfError(`Pod ${podRef(pod)}: ${ALIBABA_NATGW} needs Ports, e.g. "80,81"`);
      }
      if (new Set(ports).size !== ports.length) {
        throw new ConfError(`Pod ${podRef(pod)}: Ports "${portsText}": a port is asked twice`);
      }
      const protocolText = (confValue(pod, conf, "Protocol") ?? "TCP").trim().toUpperCase();
      if (protocolText !== "TCP" && protocolText !== "UDP") {
        throw new ConfError(
          `Pod ${podRef(pod)}: Protocol "${confValue(pod, conf, "Protocol")}": ` +
            `a NAT gateway entry is TCP or UDP`,
        );
      }
      const fixedText = (confValue(pod, conf, "Fixed") ?? "false").trim().toLowerCase();
      if (fixedText !== "true" && fixedText !== "false") {
        throw new ConfError(`Pod ${podRef(pod)}: Fixed "${fixedText}": write true or false`);
      }
      return { ports, protocol: protocolText, fixed: fixedText === "true" };
    },

    admit(pod: Pod, conf: NatGwConf) {
      const annotations = pod.metadata.annotations ?? {};
      const wanted: Record<string, string> = {
        [POD_DNAT_ANNOTATION]: "",
        [POD_DNAT_PORT_ANNOTATION]: conf.ports.join(","),
        // Alibaba documents lower case.
        [POD_DNAT_PROTOCOL_ANNOTATION]: conf.protocol.toLowerCase(),
      };
      if (conf.fixed) wanted[POD_DNAT_FIXED_ANNOTATION] = "true";
      const patch: JsonPatchOp[] = Object.entries(wanted)
        .filter(([k, v]) => annotations[k] !== v)
        .map(([k, v]) => ({
          op: k in annotations ? "replace" as const : "add" as const,
          path: `/metadata/annotations/${escapePointer(k)}`,
          value: v,
        }));
      return Promise.resolve({ patch });
    },

    reconcile(pod: Pod, conf: NatGwConf): Promise<Outcome> {
      const ip = pod.status?.podIP;
      const disabled = networkDisabled(pod);
      const waiting = waitingReport(pod);
      const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
      const entries: DnatEntry[] = cloud?.get(POD_DNAT_RESOURCE, key)?.status?.entries ?? [];
      const found = conf.ports.map((port) =>
        entries.find((e) =>
          Number(e.internalPort) === port &&
          // An entry still pointing at a previous Pod of this name is not this Pod's yet.
          (!e.internalIP || e.internalIP === ip) &&
          (!e.ipProtocol || e.ipProtocol.toUpperCase() === conf.protocol) && e.externalIP &&
          Number(e.externalPort) > 0
        )
      );
      if (!ip || found.some((e) => !e)) {
        const since = Date.parse(pod.metadata.creationTimestamp ?? "") || now();
        const missing = conf.ports.filter((_, i) => !found[i]);
        if (ip && now() - since > timeoutMs) {
          return Promise.resolve({
            kind: "failed",
            error: new ConfError(
              `Pod ${podRef(pod)}: no NAT gateway entry for port(s) ${missing.join(", ")} after ` +
                `${Math.round(timeoutMs / 1000)} s: check the PodDNAT ${key} and the NAT ` +
                `gateway (Alibaba's network controller creates the entries)`,
              "NatGwEntriesMissing",
            ),
            report: { ...waiting, currentNetworkState: "NotReady" },
            requeueAfterMs: WAITING_RECHECK_MS,
          });
        }
        return Promise.resolve({ kind: "requeueAfter", ms: WAITING_RECHECK_MS, report: waiting });
      }
      const state = disabled ? "NotReady" : "Ready";
      const portName = (port: number) => String(port);
      return Promise.resolve({
        kind: "done",
        report: {
          currentNetworkState: state,
          desiredNetworkState: state,
          internalAddresses: [{
            ip,
            ports: conf.ports.map((p) => ({ name: portName(p), port: p, protocol: conf.protocol })),
          }],
          externalAddresses: byIp(found as DnatEntry[], conf),
        },
      });
    },

    // The entries are Alibaba's: nothing of gamenet's to give back.
    release() {
      return Promise.resolve();
    },

    extension: {
      kinds: [{ apiVersion: POD_DNAT_API_VERSION, resource: POD_DNAT_RESOURCE, kind: "PodDNAT" }],
      controllers: [{
        name: "poddnats",
        resource: POD_DNAT_RESOURCE,
        // A PodDNAT's change is its Pod's news.
        reconcile(key, ctx) {
          ctx.requeuePod(key);
          return Promise.resolve({});
        },
      }],
      restore(ctx) {
        cloud = ctx;
        return Promise.resolve();
      },
    },
  };
}

/** One external address per NAT IP, its ports in conf order. */
function byIp(entries: DnatEntry[], conf: NatGwConf) {
  const out = new Map<string, { name: string; port: number; protocol: "TCP" | "UDP" }[]>();
  entries.forEach((e, i) => {
    const ports = out.get(e.externalIP!) ?? [];
    ports.push({
      name: String(conf.ports[i]),
      port: Number(e.externalPort),
      protocol: conf.protocol,
    });
    out.set(e.externalIP!, ports);
  });
  return [...out].map(([ip, ports]) => ({ ip, ports }));
}

/** `AlibabaCloud-NATGW` for `providers/mod.ts`. */
export const alibabaNatGwType: NetworkType = {
  title: ALIBABA_NATGW,
  settings: [{
    flag: "natgw-entry-timeout",
    env: "GAMENET_NATGW_ENTRY_TIMEOUT",
    help: "a NAT gateway Pod whose DNAT entries have not come after this is NotReady",
    default: "2m",
  }],
  create: (ctx) => [
    createAlibabaNatGwProvider({
      entryTimeoutMs: parseDuration("--natgw-entry-timeout", ctx.setting("natgw-entry-timeout")!),
    }),
  ],
};
