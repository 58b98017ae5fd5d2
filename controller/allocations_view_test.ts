import assert from "node:assert/strict";
import { buildAllocationsView, countAllocations, UNMANAGED_TYPE } from "./allocations_view.ts";
import { ProviderRegistry } from "../providers/registry.ts";
import type { Provider, ProviderView } from "../providers/provider.ts";
import { createNoneProvider } from "../providers/kubernetes_none.ts";
import { NETWORK_STATUS_ANNOTATION, type Pod } from "../providers/types.ts";

function fakeProvider(view: ProviderView): Provider {
  return {
    name: "Kubernetes-HostPort",
    aliases: [],
    parse: () => ({}),
    admit: () => Promise.resolve({ patch: [] }),
    reconcile: () => Promise.reject(new Error("unused")),
    release: () => Promise.resolve(),
    view: () => view,
  };
}

const status = (ip: string, state: string, ports: { port: number; protocol: "TCP" | "UDP" }[]) =>
  JSON.stringify({
    networkType: "x",
    currentNetworkState: state,
    desiredNetworkState: "Ready",
    internalAddresses: [],
    externalAddresses: [{ ip, ports }],
  });

const pods: Record<string, Pod> = {
  "games/gs-0": {
    metadata: {
      namespace: "games",
      name: "gs-0",
      annotations: { [NETWORK_STATUS_ANNOTATION]: status("203.0.113.1", "Ready", []) },
    },
    spec: { nodeName: "node-1", containers: [] },
  },
  "games/direct-0": {
    metadata: {
      namespace: "games",
      name: "direct-0",
      annotations: {
        [NETWORK_STATUS_ANNOTATION]: status("10.0.0.9", "Ready", [{ port: 7777, protocol: "UDP" }]),
      },
    },
    spec: { nodeName: "node-2", containers: [] },
  },
};

/** Holdings of every kind: an admitted Pod, a foreign Pod's port, a leak, a None Pod. */
function mixedCluster() {
  const registry = new ProviderRegistry([
    fakeProvider({
      pools: [{ kind: "node", key: "node-1", range: "8000-9000", used: 1, free: 1000, delayed: 0 }],
      holdings: [
        {
          owner: "admission/u1",
          kind: "managed",
          node: "node-1",
          ports: [{ port: 8001, protocol: "UDP" }],
        },
        {
          owner: "admission/u1",
          kind: "managed",
          node: "node-1",
          ports: [{ port: 8000, protocol: "TCP" }],
        },
        {
          owner: "foreign/kube-system/dns",
          kind: "unmanaged",
          pod: "kube-system/dns",
          node: "node-1",
          ports: [{ port: 53, protocol: "UDP" }],
        },
        {
          owner: "admission/gone",
          kind: "managed",
          node: "node-1",
          ports: [{ port: 8002, protocol: "TCP" }],
        },
      ],
    }),
    createNoneProvider(),
  ]);
  const tracked = new Map([
    ["games/gs-0", { provider: { name: "Kubernetes-HostPort" }, owner: "admission/u1" }],
    ["games/direct-0", { provider: { name: "Kubernetes-None" }, owner: "games/direct-0" }],
  ]);
  return { registry, tracked };
}

Deno.test("buildAllocationsView() joins holdings with Pods and shows leaks and foreign ports", () => {
  const { registry, tracked } = mixedCluster();
  const view = buildAllocationsView(registry, tracked, (key) => pods[key]);
  assert.equal(view.pools.length, 1);
  assert.deepEqual(view.allocations, [
    {
      type: "Kubernetes-HostPort",
      namespace: "games",
      pod: "gs-0",
      owner: "admission/u1",
      node: "node-1",
      ports: [{ port: 8000, protocol: "TCP" }, { port: 8001, protocol: "UDP" }],
      address: "203.0.113.1",
      state: "Ready",
    },
    {
      type: UNMANAGED_TYPE,
      namespace: "kube-system",
      pod: "dns",
      owner: "foreign/kube-system/dns",
      holding: "unmanaged",
      node: "node-1",
      ports: [{ port: 53, protocol: "UDP" }],
      address: undefined,
      state: undefined,
    },
    {
      type: "Kubernetes-HostPort",
      namespace: "",
      pod: "",
      owner: "admission/gone",
      holding: "unknown",
      node: "node-1",
      ports: [{ port: 8002, protocol: "TCP" }],
    },
    {
      type: "Kubernetes-None",
      namespace: "games",
      pod: "direct-0",
      owner: "games/direct-0",
      node: "node-2",
      ports: [{ name: undefined, port: 7777, protocol: "UDP" }],
      address: "10.0.0.9",
      state: "Ready",
    },
  ]);
});

Deno.test("buildAllocationsView() names the namespace and Pod of an admission whose Pod is not seen yet", () => {
  const registry = new ProviderRegistry([
    fakeProvider({
      pools: [],
      holdings: [{
        owner: "admission/u9",
        kind: "managed",
        ports: [{ port: 8004, protocol: "UDP" }, { port: 8005, protocol: "TCPUDP" }],
      }],
    }),
  ]);
  const admissions = new Map([["admission/u9", {
    namespace: "games",
    pod: "gs-*",
    type: "Kubernetes-HostPort",
    at: 0,
  }]]);
  const view = buildAllocationsView(registry, new Map(), () => undefined, (o) => admissions.get(o));
  assert.deepEqual(view.allocations, [{
    type: "Kubernetes-HostPort",
    namespace: "games",
    pod: "gs-*",
    owner: "admission/u9",
    holding: "admission",
    ports: [{ port: 8004, protocol: "UDP" }, { port: 8005, protocol: "TCPUDP" }],
  }]);
});

Deno.test("buildAllocationsView() gives a row that is not Ready the reason and message of its last warning", () => {
  const registry = new ProviderRegistry([createNoneProvider()]);
  const waiting = (name: string, state: string): Pod => ({
    metadata: {
      namespace: "games",
      name,
      uid: `uid-${name}`,
      annotations: { [NETWORK_STATUS_ANNOTATION]: status("10.0.0.9", state, []) },
    },
    spec: { nodeName: "node-2", containers: [] },
  });
  const cluster: Record<string, Pod> = {
    "games/stuck-0": waiting("stuck-0", "NotReady"),
    "games/fine-0": waiting("fine-0", "Ready"),
  };
  const tracked = new Map(
    Object.keys(cluster).map((k) => [k, {
      provider: { name: "Kubernetes-None" },
      owner: k,
    }]),
  );
  const asked: string[] = [];
  const view = buildAllocationsView(registry, tracked, (k) => cluster[k], undefined, (p) => {
    asked.push(`${p.metadata.name} ${p.metadata.uid}`);
    return {
      type: "Warning",
      reason: "NoPodIP",
      message: `${p.metadata.name} has no IP yet`,
      count: 1,
      lastTimestamp: "2026-11-30T17:00:00Z",
    };
  });
  const rows = Object.fromEntries(view.allocations.map((r) => [r.pod, r]));
  assert.equal(rows["stuck-0"].reason, "NoPodIP");
  assert.equal(rows["stuck-0"].message, "stuck-0 has no IP yet");
  assert.equal(rows["fine-0"].reason, undefined, "a Ready row keeps no old warning");
  assert.equal(rows["fine-0"].message, undefined);
  assert.deepEqual(asked, ["stuck-0 uid-stuck-0"]);
});

Deno.test("countAllocations() counts by type what buildAllocationsView() lists", () => {
  const { registry, tracked } = mixedCluster();
  const view = buildAllocationsView(registry, tracked, (key) => pods[key]);
  const listed = new Map<string, number>();
  for (const row of view.allocations) listed.set(row.type, (listed.get(row.type) ?? 0) + 1);
  const counts = countAllocations(registry, tracked, (key) => pods[key]);
  assert.deepEqual(counts.byType, listed);
  assert.deepEqual(
    counts.byType,
    new Map([["Kubernetes-HostPort", 2], [UNMANAGED_TYPE, 1], ["Kubernetes-None", 1]]),
  );
  assert.deepEqual(counts.pools, view.pools);
});
