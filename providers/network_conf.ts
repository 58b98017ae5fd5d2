/**
 * Reading `game.kruise.io/network-conf` and the `ContainerPorts` value
 * OpenKruiseGame defined: `{container}:{port}[/{TCP|UDP|TCPUDP}],...`, one
 * `ContainerPorts` entry per container, TCP when no protocol is given, and
 * `SameAsHost` for a container port equal to the host port.
 *
 * @example
 * ```ts
 * const conf = parseNetworkConf(pod);
 * const ports = parseContainerPorts(conf, pod, { required: true });
 * ```
 * @module
 */

import {
  ConfError,
  NETWORK_CONF_ANNOTATION,
  type NetworkConfEntry,
  type Pod,
  type Protocol,
} from "./types.ts";

/** Protocols a conf may name; `TCPUDP` is one port number in both. */
export type ConfProtocol = Protocol | "TCPUDP";

/** One requested container port. */
export interface RequestedPort {
  container: string;
  /** The container port; `undefined` for `SameAsHost` (decided when the host port is). */
  containerPort?: number;
  protocol: ConfProtocol;
}

/** `namespace/name` of a Pod, or `namespace/generateName*` before it has a name. */
export function podRef(pod: Pod): string {
  const m = pod.metadata;
  return `${m.namespace ?? "default"}/${m.name || `${m.generateName ?? ""}*`}`;
}

/**
 * Parses the Pod's `network-conf` annotation (absent = no entries).
 * @throws {ConfError} when it is not a JSON array of `{name, value}` strings.
 */
export function parseNetworkConf(pod: Pod): NetworkConfEntry[] {
  const raw = pod.metadata.annotations?.[NETWORK_CONF_ANNOTATION];
  if (raw === undefined || raw.trim() === "") return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new ConfError(
      `Pod ${podRef(pod)}: ${NETWORK_CONF_ANNOTATION} is not valid JSON (${
        (err as Error).message
      }); ` +
        `write it as [{"name": "ContainerPorts", "value": "gameserver:80"}]`,
    );
  }
  if (!Array.isArray(parsed)) {
    throw new ConfError(
      `Pod ${
        podRef(pod)
      }: ${NETWORK_CONF_ANNOTATION} must be a JSON array of {"name", "value"} objects`,
    );
  }
  return parsed.map((e, i) => {
    if (typeof e !== "object" || e === null || typeof e.name !== "string") {
      throw new ConfError(
        `Pod ${
          podRef(pod)
        }: ${NETWORK_CONF_ANNOTATION} entry ${i} must be an object with a string "name"`,
      );
    }
    const value = e.value;
    if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
      throw new ConfError(
        `Pod ${
          podRef(pod)
        }: ${NETWORK_CONF_ANNOTATION} entry "${e.name}" must have a string "value"`,
      );
    }
    return { name: e.name, value: String(value) };
  });
}

/**
 * Checks that only `allowed` keys are used, so a typo ("ContainerPort")
 * is an error instead of a silently ignored setting.
 */
export function checkConfKeys(
  pod: Pod,
  type: string,
  conf: NetworkConfEntry[],
  allowed: readonly string[],
): void {
  for (const e of conf) {
    if (!allowed.includes(e.name)) {
      throw new ConfError(
        `Pod ${podRef(pod)}: ${type} has no setting "${e.name}"; it takes ${allowed.join(", ")}`,
      );
    }
  }
}

/** The value of the single entry named `name`, if any (a second one is an error). */
export function confValue(pod: Pod, conf: NetworkConfEntry[], name: string): string | undefined {
  const found = conf.filter((e) => e.name === name);
  if (found.length > 1) {
    throw new ConfError(
      `Pod ${podRef(pod)}: "${name}" is given ${found.length} times; give it once`,
    );
  }
  return found[0]?.value.trim();
}

/** Parses a port number in 1..65535. */
export function parsePort(pod: Pod, what: string, text: string): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new ConfError(
      `Pod ${podRef(pod)}: ${what} "${text}": a port is a whole number from 1 to 65535`,
    );
  }
  return n;
}

/** Parses a protocol name (case-insensitive) among `allowed`. */
export function parseProtocol<P extends string>(
  pod: Pod,
  what: string,
  text: string,
  allowed: readonly P[],
): P {
  const p = text.trim().toUpperCase() as P;
  if (!allowed.includes(p)) {
    throw new ConfError(
      `Pod ${podRef(pod)}: ${what}: protocol must be ${
        allowed.join(", ").replace(/, ([^,]*)$/, " or $1")
      }`,
    );
  }
  return p;
}

/**
 * Parses every `ContainerPorts` entry. Without any, `defaultToDeclared`
 * takes every port the containers declare (used by Kubernetes-None).
 * @throws {ConfError} on an unknown container, a bad port or protocol, or a port asked twice.
 */
export function parseContainerPorts(
  pod: Pod,
  conf: NetworkConfEntry[],
  options: { required: boolean; allowSameAsHost: boolean },
): RequestedPort[] {
  const entries = conf.filter((e) => e.name === "ContainerPorts");
  const containers = pod.spec?.containers ?? [];
  const result: RequestedPort[] = [];
  if (entries.length === 0) {
    if (options.required) {
      throw new ConfError(
        `Pod ${podRef(pod)}: no "ContainerPorts" in ${NETWORK_CONF_ANNOTATION}; add e.g. ` +
          `{"name": "ContainerPorts", "value": "${containers[0]?.name ?? "gameserver"}:7777/UDP"}`,
      );
    }
    for (const c of containers) {
      for (const p of c.ports ?? []) {
        if (p.protocol === "SCTP") continue;
        result.push({
          container: c.name,
          containerPort: p.containerPort,
          protocol: p.protocol ?? "TCP",
        });
      }
    }
    return result;
  }
  const seen = new Set<string>();
  for (const entry of entries) {
    const value = entry.value.trim();
    const colon = value.indexOf(":");
    if (colon <= 0 || colon === value.length - 1) {
      throw new ConfError(
        `Pod ${
          podRef(pod)
        }: ContainerPorts "${value}": write {container}:{port}[/{protocol}],..., e.g. gameserver:7777/UDP`,
      );
    }
    const container = value.slice(0, colon).trim();
    if (!containers.some((c) => c.name === container)) {
      throw new ConfError(
        `Pod ${podRef(pod)}: ContainerPorts "${value}": the Pod has no container "${container}" ` +
          `(it has ${containers.map((c) => `"${c.name}"`).join(", ") || "none"})`,
      );
    }
    for (const item of value.slice(colon + 1).split(",")) {
      const [portText, protoText, ...rest] = item.trim().split("/");
      const what = `ContainerPorts "${value}"`;
      if (rest.length > 0 || portText === "") {
        throw new ConfError(
          `Pod ${podRef(pod)}: ${what}: "${item.trim()}" is not {port}[/{protocol}]`,
        );
      }
      const protocol = protoText === undefined
        ? "TCP"
        : parseProtocol(pod, `${what}`, protoText, ["TCP", "UDP", "TCPUDP"] as const);
      let containerPort: number | undefined;
      if (portText.trim() === "SameAsHost") {
        if (!options.allowSameAsHost) {
          throw new ConfError(
            `Pod ${podRef(pod)}: ${what}: SameAsHost needs a host port; this type has none`,
          );
        }
      } else {
        containerPort = parsePort(pod, what, portText);
      }
      const protos = protocol === "TCPUDP" ? ["TCP", "UDP"] : [protocol];
      for (const p of protos) {
        if (containerPort === undefined) continue;
        const key = `${container}:${containerPort}/${p}`;
        if (seen.has(key)) {
          throw new ConfError(
            `Pod ${
              podRef(pod)
            }: ${what}: port ${containerPort}/${p} of "${container}" is asked twice`,
          );
        }
        seen.add(key);
      }
      result.push({ container, containerPort, protocol });
    }
  }
  return result;
}

/** One port a Service is to carry; `TCPUDP` is two Service ports on one number. */
export interface ServicePortRequest {
  port: number;
  protocol: Protocol | "TCPUDP";
}

/**
 * Parses `PortProtocols` (`port[/TCP|UDP|TCPUDP],…`, TCP when none is
 * given), refusing what a Service cannot carry: a port asked twice, and a
 * port the Pod's containers do not declare when they declare any (a
 * Service may target any port; a Pod declaring none is taken at its word).
 * @throws {ConfError} naming the value.
 */
export function parsePortProtocols(
  pod: Pod,
  conf: NetworkConfEntry[],
  type: string,
): ServicePortRequest[] {
  const text = confValue(pod, conf, "PortProtocols") ?? "";
  const ports: ServicePortRequest[] = [];
  const seen = new Set<string>();
  for (const item of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    const what = `PortProtocols "${text}"`;
    const [portText, protoText, ...rest] = item.split("/");
    if (rest.length > 0) {
      throw new ConfError(`Pod ${podRef(pod)}: ${what}: "${item}" is not {port}[/{protocol}]`);
    }
    const port = parsePort(pod, what, portText);
    const protocol = protoText === undefined
      ? "TCP"
      : parseProtocol(pod, what, protoText, ["TCP", "UDP", "TCPUDP"] as const);
    for (const p of protocol === "TCPUDP" ? ["TCP", "UDP"] : [protocol]) {
      if (seen.has(`${port}/${p}`)) {
        throw new ConfError(`Pod ${podRef(pod)}: ${what}: port ${port}/${p} is asked twice`);
      }
      seen.add(`${port}/${p}`);
    }
    ports.push({ port, protocol });
  }
  if (ports.length === 0) {
    throw new ConfError(`Pod ${podRef(pod)}: ${type} needs PortProtocols, e.g. "7777/UDP,7778"`);
  }
  const declared = (pod.spec?.containers ?? []).flatMap((c) => c.ports ?? []);
  if (declared.length > 0) {
    for (const r of ports) {
      for (const protocol of r.protocol === "TCPUDP" ? ["TCP", "UDP"] : [r.protocol]) {
        if (
          !declared.some((d) => d.containerPort === r.port && (d.protocol ?? "TCP") === protocol)
        ) {
          throw new ConfError(
            `Pod ${
              podRef(pod)
            }: PortProtocols asks for ${r.port}/${protocol}, which no container ` +
              `of the Pod declares (it declares ${
                declared.map((d) => `${d.containerPort}/${d.protocol ?? "TCP"}`).join(", ")
              })`,
            "PortNotDeclared",
          );
        }
      }
    }
  }
  return ports;
}

/** What Go's `strconv.ParseBool` accepts, as OpenKruiseGame parses `Fixed`. */
const BOOLEANS: Record<string, boolean> = {
  "1": true,
  t: true,
  T: true,
  TRUE: true,
  true: true,
  True: true,
  "0": false,
  f: false,
  F: false,
  FALSE: false,
  false: false,
  False: false,
};

/** Parses `Fixed` as OpenKruiseGame does (Go's ParseBool). */
export function parseFixed(pod: Pod, text: string | undefined): boolean {
  if (text === undefined || text === "") return false;
  const value = BOOLEANS[text.trim()];
  if (value === undefined) {
    throw new ConfError(`Pod ${podRef(pod)}: Fixed "${text}": write true or false`);
  }
  return value;
}
