/**
 * Listener names are how gamenet finds its own listeners again after a
 * restart, and how it tells them from the ones people made by hand: a
 * listener whose name does not parse here is never touched.
 *
 * - `gamenet/{namespace}/{pod}/{containerPort}/{protocol}`: a Pod port of
 *   the `TencentCloud-CLB` network type;
 * - the same followed by `/fixed/{apiVersion}/{kind}/{name}/{uid}` when the
 *   Pod asked for `Fixed`: the listener outlives the Pod as long as that
 *   workload exists;
 * - `gamenet-dcl/{namespace}/{name}`: a `DedicatedCLBListener` object's.
 *
 * @example
 * ```ts
 * const name = podListenerName({ namespace: "games", pod: "gs-0", containerPort: 7777, protocol: "UDP" });
 * parseListenerName(name); // { kind: "pod", namespace: "games", pod: "gs-0", ... }
 * ```
 * @module
 */

import type { OwnerReference } from "../types.ts";

/** The CLB API's limit on `ListenerName`. */
export const MAX_LISTENER_NAME_LENGTH = 255;

/** A Pod port's listener. */
export interface PodListenerName {
  kind: "pod";
  namespace: string;
  pod: string;
  containerPort: number;
  protocol: "TCP" | "UDP";
  /** The workload that keeps the listener when the Pod goes (`Fixed`). */
  fixed?: OwnerReference;
}

/** A `DedicatedCLBListener` object's listener. */
export interface DclListenerName {
  kind: "dcl";
  namespace: string;
  name: string;
}

/** The name of a Pod port's listener (may be longer than the API allows: check). */
export function podListenerName(l: Omit<PodListenerName, "kind">): string {
  const base = `gamenet/${l.namespace}/${l.pod}/${l.containerPort}/${l.protocol}`;
  if (!l.fixed) return base;
  const f = l.fixed;
  return `${base}/fixed/${f.apiVersion}/${f.kind}/${f.name}/${f.uid}`;
}

/** The name of a `DedicatedCLBListener`'s listener. */
export function dclListenerName(namespace: string, name: string): string {
  return `gamenet-dcl/${namespace}/${name}`;
}

/** What a listener name says, or `undefined` when it is not gamenet's. */
export function parseListenerName(
  name: string | undefined,
): PodListenerName | DclListenerName | undefined {
  if (!name) return undefined;
  const parts = name.split("/");
  if (parts[0] === "gamenet-dcl" && parts.length === 3 && parts[1] && parts[2]) {
    return { kind: "dcl", namespace: parts[1], name: parts[2] };
  }
  if (parts[0] !== "gamenet" || parts.length < 5) return undefined;
  const [, namespace, pod, portText, protocol] = parts;
  const containerPort = Number(portText);
  if (
    !namespace || !pod || !/^\d{1,5}$/.test(portText) || containerPort < 1 ||
    containerPort > 65535 || (protocol !== "TCP" && protocol !== "UDP")
  ) return undefined;
  const out: PodListenerName = { kind: "pod", namespace, pod, containerPort, protocol };
  if (parts.length === 5) return out;
  // fixed/{apiVersion (1 or 2 segments)}/{kind}/{name}/{uid}
  if (parts[5] !== "fixed" || parts.length < 10 || parts.length > 11) return undefined;
  const [kind, workload, uid] = parts.slice(-3);
  const apiVersion = parts.slice(6, -3).join("/");
  if (!kind || !workload || !apiVersion) return undefined;
  out.fixed = { apiVersion, kind, name: workload, uid };
  return out;
}
