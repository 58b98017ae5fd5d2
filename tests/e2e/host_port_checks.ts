/**
 * Checks of Kubernetes-HostPort results read from the API server (never
 * from gamenet's memory): statuses that match the Pod spec and the node,
 * no host port+protocol twice on a node, and `/allocations` equal to what
 * the Pods hold.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { KubeletStandIn } from "../controlplane/kubelet_standin.ts";
import type { Pod } from "../../providers/types.ts";
import { networkStatus } from "./helpers.ts";

/** `node port/protocol` of every host port of live Pods on a node. */
export function hostPortKeys(pods: Pod[]): Map<string, string> {
  const holders = new Map<string, string>();
  for (const pod of pods) {
    if (!pod.spec?.nodeName || pod.metadata.deletionTimestamp) continue;
    if (pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed") continue;
    for (const c of pod.spec.containers) {
      for (const p of c.ports ?? []) {
        if (!p.hostPort) continue;
        const key: string = `${pod.spec.nodeName} ${p.hostPort}/${p.protocol ?? "TCP"}`;
        const other = holders.get(key);
        assert.equal(
          other,
          undefined,
          `host port ${key} held by ${other} and ${pod.metadata.namespace}/${pod.metadata.name}`,
        );
        holders.set(key, `${pod.metadata.namespace}/${pod.metadata.name}`);
      }
    }
  }
  return holders;
}

/** Asserts a Ready status whose ports are the spec's host ports and whose IP is the node's. */
export function assertStatusMatchesSpec(pod: Pod, kubelet: KubeletStandIn): void {
  const name = `${pod.metadata.namespace}/${pod.metadata.name}`;
  const status = networkStatus(pod);
  assert.ok(status, `${name} has no network status`);
  assert.equal(status.currentNetworkState, "Ready", `${name}: ${JSON.stringify(status)}`);
  // As OpenKruiseGame does, the status names the type as the Pod wrote it (an alias stays).
  assert.equal(status.networkType, pod.metadata.annotations!["game.kruise.io/network-type"]);
  const node = pod.spec!.nodeName!;
  const externalIP = kubelet.nodeAddresses(node).find((a) => a.type === "ExternalIP")?.address;
  assert.equal(status.externalAddresses[0].ip, externalIP, `${name}: external IP`);
  assert.equal(status.internalAddresses[0].ip, pod.status!.podIP, `${name}: internal IP`);
  const external = status.externalAddresses[0].ports!;
  const internal = status.internalAddresses[0].ports!;
  const specPorts = pod.spec!.containers.flatMap((c) => c.ports ?? []).filter((p) => p.hostPort);
  assert.equal(external.length, specPorts.length, `${name}: one status port per host port`);
  external.forEach((ext, i) => {
    const match = specPorts.find((p) =>
      p.hostPort === ext.port && (p.protocol ?? "TCP") === ext.protocol &&
      p.containerPort === internal[i].port
    );
    assert.ok(match, `${name}: status port ${JSON.stringify(ext)} is not in the spec`);
  });
}

/** One allocation row of `/allocations` (JSON). */
export interface AllocationRow {
  type: string;
  namespace: string;
  pod: string;
  node?: string;
  owner: string;
  ports: { port: number; protocol: string }[];
}

/** `node port/protocol` → `namespace/pod` of every bound host port `/allocations` shows. */
export function allocatedKeys(rows: AllocationRow[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const row of rows) {
    if (!row.node) continue;
    for (const p of row.ports) {
      out.set(`${row.node} ${p.port}/${p.protocol}`, `${row.namespace}/${row.pod}`);
    }
  }
  return out;
}

/** Host ports of `pods` inside `[min, max]`, as {@linkcode hostPortKeys} gives them. */
export function withinRange(keys: Map<string, string>, min: number, max: number) {
  return new Map(
    [...keys].filter(([key]) => {
      const port = Number(key.split(" ")[1].split("/")[0]);
      return port >= min && port <= max;
    }),
  );
}
