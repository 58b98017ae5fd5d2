import assert from "node:assert/strict";
import { countGameServers, networkState, UNKNOWN_STATE } from "./game_server_counts.ts";
import { ProviderRegistry } from "../providers/registry.ts";
import type { Provider } from "../providers/provider.ts";
import type { RecentEvent } from "./recent_events.ts";
import {
  NETWORK_STATUS_ANNOTATION,
  NETWORK_TYPE_ANNOTATION,
  type Pod,
} from "../providers/types.ts";

const provider = (name: string, aliases: string[] = []): Provider => ({
  name,
  aliases,
  parse: () => ({}),
  admit: () => Promise.resolve({ patch: [] }),
  reconcile: () => Promise.reject(new Error("not called")),
  release: () => Promise.resolve(),
});

const registry = new ProviderRegistry([
  provider("Kubernetes-HostPort", ["HostPort"]),
  provider("TencentCloud-CLB"),
]);

function pod(name: string, type: string | undefined, state?: string, phase = "Running"): Pod {
  const annotations: Record<string, string> = {};
  if (type) annotations[NETWORK_TYPE_ANNOTATION] = type;
  if (state) {
    annotations[NETWORK_STATUS_ANNOTATION] = JSON.stringify({ currentNetworkState: state });
  }
  return {
    metadata: { namespace: "games", name, annotations },
    spec: { containers: [{ name: "gs" }] },
    status: { phase },
  };
}

const warning = (reason: string): RecentEvent => ({
  type: "Warning",
  reason,
  message: "m",
  count: 1,
  lastTimestamp: "2026-01-01T00:00:00Z",
});

const sorted = (counts: ReturnType<typeof countGameServers>) =>
  counts.sort((a, b) =>
    `${a.type}/${a.state}/${a.reason}`.localeCompare(`${b.type}/${b.state}/${b.reason}`)
  );

Deno.test("countGameServers() counts by canonical type, state and the last warning while not Ready", () => {
  const pods = [
    pod("a", "Kubernetes-HostPort", "Ready"),
    pod("b", "HostPort", "Ready"),
    pod("c", "HostPort", "NotReady"),
    pod("d", "Kubernetes-HostPort", "NotReady"),
    pod("e", "TencentCloud-CLB", "Waiting"),
    pod("f", "TencentCloud-CLB"),
  ];
  const warned: Record<string, string> = {
    a: "OldTrouble",
    c: "HostPortConflict",
    d: "HostPortConflict",
  };
  const counts = countGameServers(pods, registry, (p) => {
    const reason = warned[p.metadata.name!];
    return reason ? warning(reason) : undefined;
  });
  assert.deepEqual(sorted(counts), [
    { type: "Kubernetes-HostPort", state: "NotReady", reason: "HostPortConflict", count: 2 },
    // A Ready Pod's old warning says nothing about it now.
    { type: "Kubernetes-HostPort", state: "Ready", reason: "", count: 2 },
    { type: "TencentCloud-CLB", state: UNKNOWN_STATE, reason: "", count: 1 },
    { type: "TencentCloud-CLB", state: "Waiting", reason: "", count: 1 },
  ]);
});

Deno.test("countGameServers() leaves out other Pods, unknown types and finished Pods", () => {
  const pods = [
    pod("plain", undefined),
    pod("theirs", "Someone-Elses", "Ready"),
    pod("done", "HostPort", "Ready", "Succeeded"),
    pod("failed", "HostPort", "NotReady", "Failed"),
  ];
  assert.deepEqual(countGameServers(pods, registry, () => undefined), []);
});

Deno.test("networkState() parses a Pod object's status once, and a new object anew", () => {
  const p = pod("a", "HostPort", "Waiting");
  assert.equal(networkState(p), "Waiting");
  // The cache never edits a Pod in place; this shows the parse is not repeated.
  p.metadata.annotations![NETWORK_STATUS_ANNOTATION] = JSON.stringify({
    currentNetworkState: "Ready",
  });
  assert.equal(networkState(p), "Waiting");
  assert.equal(networkState(structuredClone(p)), "Ready");
  assert.equal(networkState(pod("b", "HostPort")), UNKNOWN_STATE);
  const broken = pod("c", "HostPort");
  broken.metadata.annotations![NETWORK_STATUS_ANNOTATION] = "{not json";
  assert.equal(networkState(broken), UNKNOWN_STATE);
});
