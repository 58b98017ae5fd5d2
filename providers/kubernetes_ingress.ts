/**
 * `Kubernetes-Ingress`: HTTP and WebSocket game servers, one path each
 * behind the cluster's ingress controller. gamenet makes a ClusterIP
 * Service and an Ingress per Pod (named after it; see `owned_objects.ts`)
 * and reports the address the ingress controller writes into the
 * Ingress's `status.loadBalancer`.
 *
 * Conf (OpenKruiseGame's names): `Path` (repeatable; `<id>` is the game
 * server's ordinal, the number after the last `-` of its name, 0 without
 * one), `PathType` (repeatable: `Exact`, `Prefix`,
 * `ImplementationSpecific`), `Port` (repeatable: the container port),
 * `IngressClassName`, `Host` (may hold `<id>`), `TlsHosts` (`a,b`),
 * `TlsSecretName`, `Annotation` (repeatable, `key: value`), `Fixed`. The
 * n-th Path takes the n-th PathType and Port, or the first when there are
 * fewer, as OpenKruiseGame's manual says.
 *
 * Status: one internal address (the Pod IP) and one external address per
 * load-balancer entry of the Ingress (its IP, `endPoint` = the Host, else
 * the entry's host name), the ports named by their path. `Waiting` until
 * the ingress controller has filled the address in. A path another game
 * server's Ingress has already is refused (Event, `NotReady`).
 * `network-disabled` makes the Service select nothing: the ingress
 * controller then answers 503 for the path.
 *
 * @example
 * ```ts
 * const ingress = createIngressProvider();
 * ```
 * @module
 */

import {
  checkConfKeys,
  confValue,
  parseFixed,
  parseNetworkConf,
  parsePort,
  podRef,
} from "./network_conf.ts";
import { networkDisabled, waitingReport } from "./network_report.ts";
import { podAddresses } from "./addresses.ts";
import type { ExtensionObject } from "./extension.ts";
import type { Provider, ProviderView } from "./provider.ts";
import type { NetworkType } from "./network_type.ts";
import {
  checkObjectName,
  fixedWarning,
  gameServerLabelPatch,
  gameServerSelector,
  INGRESSES,
  objectPatch,
  OwnedObjects,
  SERVICES,
  withoutNulls,
} from "./owned_objects.ts";
import {
  ConfError,
  type NetworkAddress,
  type NetworkReport,
  type Outcome,
  type Pod,
} from "./types.ts";

/** The canonical name. */
export const KUBERNETES_INGRESS = "Kubernetes-Ingress";

/** The placeholder OpenKruiseGame replaces with the game server's ordinal. */
export const ID_PLACEHOLDER = "<id>";
const PATH_TYPES = ["Exact", "Prefix", "ImplementationSpecific"] as const;
/** The user's annotation keys on an Ingress, so that a removed one is removed. */
const USER_ANNOTATIONS = "gamenet.io/ingress-annotations";
const NOT_SYNCED_RETRY_MS = 1_000;
/** A refused path is looked at again this often (the other game server may go). */
const PATH_TAKEN_RETRY_MS = 10_000;
/** The index of Ingresses by `host path`. */
const BY_ROUTE = "route";

/** One path of the conf, `<id>` not yet replaced. */
export interface IngressPath {
  path: string;
  pathType: (typeof PATH_TYPES)[number];
  port: number;
}

/** A parsed conf. */
export interface IngressConf {
  paths: IngressPath[];
  ingressClassName?: string;
  host?: string;
  tlsHosts: string[];
  tlsSecretName?: string;
  annotations: Record<string, string>;
  fixed: boolean;
}

/** The game server's ordinal, as OpenKruiseGame reads it from the name (0 without one). */
export function gameServerOrdinal(name: string): number {
  const match = name.match(/-(\d+)$/);
  return match ? Number(match[1]) : 0;
}

function withId(text: string, id: number): string {
  return text.replace(ID_PLACEHOLDER, String(id));
}

function checkPlaceholders(pod: Pod, what: string, text: string): void {
  if (text.split(ID_PLACEHOLDER).length > 2) {
    throw new ConfError(
      `Pod ${podRef(pod)}: ${what} "${text}" has ${ID_PLACEHOLDER} more than once; write it once`,
    );
  }
}

/** The routes (`host path`) an Ingress serves, for finding a path given twice. */
function routesOf(ing: ExtensionObject): string[] {
  return (ing.spec?.rules ?? []).flatMap((
    r: { host?: string; http?: { paths?: { path: string }[] } },
  ) => (r.http?.paths ?? []).map((p) => `${r.host ?? ""} ${p.path}`));
}

/** Whether Ingress `a` was made before `b` (by name when in the same second). */
function older(a: ExtensionObject, b: ExtensionObject): boolean {
  const ta = a.metadata.creationTimestamp ?? "";
  const tb = b.metadata.creationTimestamp ?? "";
  return ta !== tb ? ta < tb : `${a.metadata.namespace}/${a.metadata.name}` <
    `${b.metadata.namespace}/${b.metadata.name}`;
}

/** Parses the conf; see the module documentation. */
export function parseIngressConf(pod: Pod): IngressConf {
  const conf = parseNetworkConf(pod);
  checkConfKeys(pod, KUBERNETES_INGRESS, conf, [
    "Path",
    "PathType",
    "Port",
    "IngressClassName",
    "Host",
    "TlsHosts",
    "TlsSecretName",
    "Annotation",
    "Fixed",
  ]);
  checkObjectName(pod, KUBERNETES_INGRESS);
  const all = (name: string) => conf.filter((e) => e.name === name).map((e) => e.value.trim());
  const paths = all("Path");
  const pathTypes = all("PathType");
  const ports = all("Port");
  const missing = [["Path", paths], ["PathType", pathTypes], ["Port", ports]]
    .filter(([, v]) => v.length === 0).map(([n]) => n);
  if (missing.length > 0) {
    throw new ConfError(
      `Pod ${podRef(pod)}: ${KUBERNETES_INGRESS} needs ${missing.join(", ")}, e.g. ` +
        `Path "/game${ID_PLACEHOLDER}", PathType "Prefix", Port "80"`,
    );
  }
  const types = pathTypes.map((t) => {
    const found = PATH_TYPES.find((p) => p === t);
    if (!found) {
      throw new ConfError(
        `Pod ${podRef(pod)}: PathType "${t}": write ${PATH_TYPES.join(", ")}`,
      );
    }
    return found;
  });
  const portNumbers = ports.map((p) => parsePort(pod, "Port", p));
  const seen = new Set<string>();
  const parsedPaths = paths.map((path, i) => {
    if (!path.startsWith("/")) {
      throw new ConfError(`Pod ${podRef(pod)}: Path "${path}" must start with "/"`);
    }
    checkPlaceholders(pod, "Path", path);
    if (seen.has(path)) {
      throw new ConfError(`Pod ${podRef(pod)}: Path "${path}" is given twice`);
    }
    seen.add(path);
    return { path, pathType: types[i] ?? types[0], port: portNumbers[i] ?? portNumbers[0] };
  });
  const host = confValue(pod, conf, "Host") || undefined;
  if (host) checkPlaceholders(pod, "Host", host);
  const annotations: Record<string, string> = {};
  for (const text of all("Annotation")) {
    const at = text.indexOf(": ");
    const key = at > 0 ? text.slice(0, at).trim() : "";
    if (!key || text.indexOf(": ", at + 2) >= 0) {
      throw new ConfError(
        `Pod ${podRef(pod)}: Annotation "${text}": write "key: value", e.g. ` +
          `"nginx.ingress.kubernetes.io/rewrite-target: /$2"`,
      );
    }
    annotations[key] = text.slice(at + 2).trim();
  }
  return {
    paths: parsedPaths,
    ingressClassName: confValue(pod, conf, "IngressClassName") || undefined,
    host,
    tlsHosts: (confValue(pod, conf, "TlsHosts") ?? "").split(",").map((s) => s.trim())
      .filter(Boolean),
    tlsSecretName: confValue(pod, conf, "TlsSecretName") || undefined,
    annotations,
    fixed: parseFixed(pod, confValue(pod, conf, "Fixed")),
  };
}

/** The paths and host of `pod`'s Ingress, `<id>` replaced. */
function resolved(pod: Pod, conf: IngressConf) {
  const id = gameServerOrdinal(pod.metadata.name!);
  return {
    host: conf.host ? withId(conf.host, id) : undefined,
    paths: conf.paths.map((p) => ({ ...p, path: withId(p.path, id) })),
  };
}

/** Creates the provider (with its Service and Ingress watches). */
export function createIngressProvider(): Provider<IngressConf> {
  const owned = new OwnedObjects(KUBERNETES_INGRESS, [SERVICES, INGRESSES], {
    indexes: { [INGRESSES.resource]: { [BY_ROUTE]: routesOf } },
  });

  function desiredService(pod: Pod, conf: IngressConf, owner: string) {
    const ports = [...new Set(conf.paths.map((p) => p.port))].map((port) => ({
      name: String(port),
      port,
      targetPort: port,
      protocol: "TCP",
    }));
    return {
      metadata: owned.metadata(pod, owner, conf.fixed),
      spec: {
        type: "ClusterIP",
        selector: gameServerSelector(pod, networkDisabled(pod)),
        ports,
      },
    };
  }

  function desiredIngress(pod: Pod, conf: IngressConf, owner: string) {
    const { host, paths } = resolved(pod, conf);
    const name = pod.metadata.name!;
    const tls = conf.tlsHosts.length > 0 || conf.tlsSecretName
      ? [{
        ...(conf.tlsHosts.length > 0 ? { hosts: conf.tlsHosts } : {}),
        ...(conf.tlsSecretName ? { secretName: conf.tlsSecretName } : {}),
      }]
      : null;
    return {
      metadata: owned.metadata(pod, owner, conf.fixed, {
        annotations: {
          ...conf.annotations,
          [USER_ANNOTATIONS]: Object.keys(conf.annotations).sort().join(","),
        },
      }),
      spec: {
        ingressClassName: conf.ingressClassName ?? null,
        rules: [{
          ...(host ? { host } : {}),
          http: {
            paths: paths.map((p) => ({
              path: p.path,
              pathType: p.pathType,
              backend: { service: { name, port: { number: p.port } } },
            })),
          },
        }],
        tls,
      },
    };
  }

  return {
    name: KUBERNETES_INGRESS,
    aliases: [],

    parse: parseIngressConf,

    admit(pod: Pod, conf: IngressConf, ctx) {
      const warnings = fixedWarning(pod, conf.fixed);
      return Promise.resolve({
        patch: gameServerLabelPatch(pod, ctx.owner),
        warnings: warnings.length > 0 ? warnings : undefined,
      });
    },

    async reconcile(pod: Pod, conf: IngressConf, ctx): Promise<Outcome> {
      if (!owned.attached) return { kind: "requeueAfter", ms: NOT_SYNCED_RETRY_MS };
      const namespace = pod.metadata.namespace!;
      const name = pod.metadata.name!;
      const waiting = waitingReport(pod);
      const desiredState = waiting.desiredNetworkState;
      const notReady: NetworkReport = { ...waiting, currentNetworkState: "NotReady" };
      if (await owned.labelIfMissing(pod)) {
        return { kind: "requeueAfter", ms: NOT_SYNCED_RETRY_MS, report: waiting };
      }
      const { host, paths } = resolved(pod, conf);
      // Two game servers given one path: the older Ingress keeps it (both
      // may have been made before either saw the other), the other goes.
      const mine = owned.get(INGRESSES, namespace, name);
      const taken = paths.flatMap((p) =>
        owned.byIndex(INGRESSES, BY_ROUTE, `${host ?? ""} ${p.path}`)
          .filter((ing) => ing !== mine && (!mine || older(ing, mine)))
          .map((ing) => ({ path: p.path, by: `${ing.metadata.namespace}/${ing.metadata.name}` }))
      );
      if (taken.length > 0) {
        if (mine) await owned.delete(INGRESSES, namespace, name);
        if (owned.get(SERVICES, namespace, name)) await owned.delete(SERVICES, namespace, name);
        return {
          kind: "failed",
          error: new ConfError(
            `Pod ${podRef(pod)}: ${
              taken.map((t) => `path "${host ?? ""}${t.path}" is served already by Ingress ${t.by}`)
                .join("; ")
            }: give each game server its own path (Path "/game${ID_PLACEHOLDER}")`,
            "IngressPathTaken",
          ),
          report: notReady,
          requeueAfterMs: PATH_TAKEN_RETRY_MS,
        };
      }
      let changed = false;
      const service = desiredService(pod, conf, ctx.owner);
      const currentService = owned.get(SERVICES, namespace, name);
      const servicePatch = currentService ? objectPatch(currentService, service) : undefined;
      if (!currentService || servicePatch) {
        await owned.apply(SERVICES, service, servicePatch);
        changed = true;
      }
      const ingress = desiredIngress(pod, conf, ctx.owner);
      const currentIngress = mine;
      const ingressPatch = currentIngress
        ? objectPatch(currentIngress, ingress, [USER_ANNOTATIONS])
        : undefined;
      if (!currentIngress || ingressPatch) {
        // An Ingress is created without null fields (the API server keeps them out anyway).
        const body = currentIngress ? ingress : { ...ingress, spec: withoutNulls(ingress.spec) };
        await owned.apply(INGRESSES, body, ingressPatch);
        changed = true;
      }
      if (changed) return { kind: "requeueAfter", ms: NOT_SYNCED_RETRY_MS, report: waiting };
      const entries: { ip?: string; hostname?: string }[] =
        currentIngress!.status?.loadBalancer?.ingress ?? [];
      const podIPs = podAddresses(pod);
      if (entries.length === 0 || podIPs.length === 0) return { kind: "done", report: waiting };
      const ports = paths.map((p) => ({ name: p.path, port: p.port, protocol: "TCP" as const }));
      const external: NetworkAddress[] = entries.map((e) => ({
        ip: e.ip ?? "",
        ports,
        ...(host || e.hostname ? { endPoint: host ?? e.hostname } : {}),
      }));
      return {
        kind: "done",
        report: {
          currentNetworkState: desiredState,
          desiredNetworkState: desiredState,
          internalAddresses: podIPs.map((ip) => ({ ip, ports })),
          externalAddresses: external,
        },
      };
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
        holdings: owned.list(INGRESSES).map((ing) => ({
          ...owned.holding(ing),
          objects: [`Service/${ing.metadata.name}`, `Ingress/${ing.metadata.name}`],
          ports: routesOf(ing).map((route, i) => ({
            name: route.trim(),
            port: Number(
              ing.spec?.rules?.[0]?.http?.paths?.[i]?.backend?.service?.port?.number ?? 0,
            ),
            protocol: "TCP" as const,
          })),
        })),
      };
    },

    extension: owned.extension(),
  };
}

/** `Kubernetes-Ingress` for `providers/mod.ts`: no settings. */
export const ingressType: NetworkType = {
  title: KUBERNETES_INGRESS,
  settings: [],
  create: () => [createIngressProvider()],
};
