import assert from "node:assert/strict";
import { Manager, type ManagerSettings, slimPod } from "./manager.ts";
import { loadConfig, usage } from "./config.ts";
import { FakeKubeClient } from "../tests/fakes/fake_kube_client.ts";
import { createRegistry, NETWORK_TYPES, sectionsOf, settingsOf } from "../providers/mod.ts";
import type { NetworkType } from "../providers/network_type.ts";
import type { Provider } from "../providers/provider.ts";
import { ProviderRegistry } from "../providers/registry.ts";
import { readPodStatus } from "../providers/pod_status.ts";
import { NETWORK_TYPE_ANNOTATION, type Outcome, type Pod } from "../providers/types.ts";

const SETTINGS: ManagerSettings = {
  workers: 2,
  resyncMs: 0,
  admissionGraceMs: 60_000,
  leaderElect: false,
  namespace: "gamenet-system",
  leaseName: "gamenet",
  identity: "unit-0",
};

const node = {
  metadata: { name: "node-1" },
  status: { addresses: [{ type: "ExternalIP", address: "203.0.113.1" }] },
};

function pod(name: string, type: string): Pod {
  return {
    metadata: { namespace: "games", name, annotations: { [NETWORK_TYPE_ANNOTATION]: type } },
    spec: { nodeName: "node-1", containers: [{ name: "gs" }] },
    status: { phase: "Running", podIP: "10.0.0.7", podIPs: [{ ip: "10.0.0.7" }] },
  };
}

const ready = (ip: string): Outcome => ({
  kind: "done",
  report: {
    currentNetworkState: "Ready",
    desiredNetworkState: "Ready",
    internalAddresses: [],
    externalAddresses: [{ ip, ports: [{ name: "gs-7777", port: 7777, protocol: "UDP" }] }],
  },
});

async function until<T>(what: string, check: () => T | undefined, ms = 5_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = check();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`Timed out waiting for ${what}`);
}

/** A provider named `name` that admits, reconciles Ready and releases; `parts` replace any of that. */
function testProvider(name: string, parts: Partial<Provider> = {}): Provider {
  return {
    name,
    aliases: [],
    parse: () => ({}),
    admit: () => Promise.resolve({ patch: [] }),
    reconcile: () => Promise.resolve(ready("203.0.113.1")),
    release: () => Promise.resolve(),
    ...parts,
  };
}

/** A manager of `providers` on `api`, logging to `log`. */
function managerOf(api: FakeKubeClient, providers: Provider[], log = (_: string) => {}): Manager {
  return new Manager({
    client: api.client,
    registry: new ProviderRegistry(providers),
    settings: SETTINGS,
    log,
  });
}

Deno.test("Manager.start() syncs, restores every provider, turns ready, then reconciles", async () => {
  const api = new FakeKubeClient();
  api.put("nodes", node);
  api.put("pods", pod("gs-0", "Order-Net"));
  const calls: string[] = [];
  const recorder: Provider = {
    name: "Order-Net",
    aliases: [],
    parse: () => ({}),
    admit: () => Promise.resolve({ patch: [] }),
    observeNode: (name) => calls.push(`observeNode ${name}`),
    observe: (key) => calls.push(`observe ${key}`),
    restore(pods) {
      calls.push(`restore ${pods.map((p) => p.owner).join(",")} ready=${manager.readiness.ready}`);
      return [];
    },
    reconcile(p) {
      calls.push(`reconcile ${p.metadata.name} ready=${manager.readiness.ready}`);
      return Promise.resolve(ready("203.0.113.1"));
    },
    release: () => Promise.resolve(),
  };
  const manager: Manager = new Manager({
    client: api.client,
    registry: new ProviderRegistry([recorder]),
    settings: SETTINGS,
    log: () => {},
  });
  assert.equal(manager.readiness.ready, false);
  const refused = await manager.admit({ uid: "u", namespace: "games", pod: pod("x", "Order-Net") });
  assert.equal(refused.allowed, false, "no admission before the restore");
  try {
    await manager.start();
    await until("the Pod's status", () => readPodStatus(api.get("pods", "games/gs-0") as Pod));
    assert.deepEqual(calls.filter((c) => !c.startsWith("observe ")).slice(0, 3), [
      "observeNode node-1",
      "restore games/gs-0 ready=false",
      "reconcile gs-0 ready=true",
    ]);
    assert.ok(
      calls.indexOf("observe games/gs-0") < calls.indexOf("restore games/gs-0 ready=false"),
    );
    const status = readPodStatus(api.get("pods", "games/gs-0") as Pod)!;
    assert.equal(status.currentNetworkState, "Ready");
    assert.equal(status.networkType, "Order-Net");
  } finally {
    await manager.stop();
  }
});

/**
 * A network type of this test alone, registered the one way the house
 * allows: an entry of the list `providers/mod.ts` gives `createRegistry`.
 * Nothing of the core knows it.
 */
const echoType: NetworkType = {
  title: "Echo-Net",
  settings: [{
    flag: "echo-address",
    env: "GAMENET_ECHO_ADDRESS",
    help: "the address every Echo-Net Pod reports",
    default: "198.51.100.7",
  }],
  create(ctx) {
    const address = ctx.setting("echo-address")!;
    return [{
      name: "Echo-Net",
      aliases: ["Echo"],
      parse: () => ({}),
      admit: () => Promise.resolve({ patch: [] }),
      reconcile: () => Promise.resolve(ready(address)),
      release: () => Promise.resolve(),
    }];
  },
};

Deno.test("a network type added to providers/mod.ts's list alone runs end to end through the core", async () => {
  const types = [...NETWORK_TYPES, echoType];
  const config = await loadConfig(["--config=", "--echo-address=192.0.2.44"], {}, {
    settings: settingsOf(types),
    sections: sectionsOf(types),
  });
  assert.match(
    usage(types),
    /Echo-Net:\n {2}--echo-address=VALUE +the address every Echo-Net Pod reports/,
  );
  const registry = createRegistry(types, {
    setting: (flag) => config.settings.get(flag),
    sections: config.sections,
    source: "none",
    env: {},
    log: { info: () => {}, warn: () => {} },
  });
  const api = new FakeKubeClient();
  api.put("nodes", node);
  const manager = new Manager({ client: api.client, registry, settings: SETTINGS, log: () => {} });
  try {
    await manager.start();
    await until("ready", () => manager.readiness.ready || undefined);
    const admitted = await manager.admit({
      uid: "u1",
      namespace: "games",
      pod: pod("echo-0", "Echo"),
    });
    assert.equal(admitted.allowed, true);
    api.put("pods", pod("echo-0", "Echo"));
    const status = await until(
      "Echo-Net's status",
      () => readPodStatus(api.get("pods", "games/echo-0") as Pod),
    );
    assert.equal(status.currentNetworkState, "Ready");
    assert.equal(status.externalAddresses[0].ip, "192.0.2.44");
    // And the types that were there keep working beside it.
    api.put("pods", {
      ...pod("direct-0", "Kubernetes-None"),
      spec: {
        nodeName: "node-1",
        containers: [{ name: "gs", ports: [{ containerPort: 7777, protocol: "UDP" }] }],
      },
    });
    const direct = await until(
      "Kubernetes-None's status",
      () => readPodStatus(api.get("pods", "games/direct-0") as Pod),
    );
    assert.equal(direct.externalAddresses[0].ip, "10.0.0.7");
  } finally {
    await manager.stop();
  }
});

Deno.test("PodController outcomes: a failure becomes an Event and NotReady, a retry waits, a gone Pod is released", async () => {
  const api = new FakeKubeClient();
  api.put("nodes", node);
  const released: string[] = [];
  let answer: Outcome = { kind: "retry", error: new Error("cloud throttled") };
  const provider = testProvider("Flaky-Net", {
    reconcile: () => Promise.resolve(answer),
    release: (owner) => (released.push(owner), Promise.resolve()),
  });
  const logs: string[] = [];
  const manager = managerOf(api, [provider], (m) => logs.push(m));
  try {
    await manager.start();
    await until("ready", () => manager.readiness.ready || undefined);
    api.put("pods", pod("gs-0", "Flaky-Net"));
    await until("the retry logged", () => logs.find((l) => l.includes("cloud throttled")));
    assert.equal(
      readPodStatus(api.get("pods", "games/gs-0") as Pod),
      undefined,
      "nothing to say yet",
    );
    const { ConfError } = await import("../providers/types.ts");
    answer = {
      kind: "failed",
      error: new ConfError("Pod games/gs-0: no port left on lb-a", "ClbPortsExhausted"),
      report: {
        currentNetworkState: "NotReady",
        desiredNetworkState: "Ready",
        internalAddresses: [],
        externalAddresses: [],
      },
    };
    // The retry's backoff brings the key back.
    await until("the Event", () => api.events.find((e) => e.reason === "ClbPortsExhausted"));
    await until(
      "NotReady",
      () =>
        readPodStatus(api.get("pods", "games/gs-0") as Pod)?.currentNetworkState === "NotReady" ||
        undefined,
    );
    api.remove("pods", "games/gs-0");
    await until("the release", () => released.length > 0 || undefined);
    assert.deepEqual(released, ["games/gs-0"]);
  } finally {
    await manager.stop();
  }
});

Deno.test("a node's new address re-reconciles the Pods on that node alone", async () => {
  const api = new FakeKubeClient();
  const node2 = { metadata: { name: "node-2" }, status: node.status };
  api.put("nodes", node);
  api.put("nodes", node2);
  const elsewhere = pod("gs-b", "Count-Net");
  elsewhere.spec!.nodeName = "node-2";
  api.put("pods", pod("gs-a", "Count-Net"));
  api.put("pods", elsewhere);
  const reconciled: string[] = [];
  const counter: Provider = {
    name: "Count-Net",
    aliases: [],
    parse: () => ({}),
    admit: () => Promise.resolve({ patch: [] }),
    restore: () => [],
    reconcile(p) {
      reconciled.push(p.metadata.name!);
      return Promise.resolve(ready("203.0.113.1"));
    },
    release: () => Promise.resolve(),
  };
  const manager = new Manager({
    client: api.client,
    registry: new ProviderRegistry([counter]),
    settings: SETTINGS,
    log: () => {},
  });
  try {
    await manager.start();
    await until("both Pods reconciled", () => reconciled.length >= 2 || undefined);
    await until("the queue idle", () => manager.queue.depth === 0 || undefined);
    // Status writes come back as Pod updates; let those settle too.
    await new Promise((r) => setTimeout(r, 100));
    reconciled.length = 0;
    api.put("nodes", {
      ...node,
      status: { addresses: [{ type: "ExternalIP", address: "203.0.113.99" }] },
    });
    await until("gs-a reconciled again", () => reconciled.includes("gs-a") || undefined);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(reconciled, ["gs-a"]);
  } finally {
    await manager.stop();
  }
});

Deno.test("Manager.gameServerCounts() counts a Pod refused late by its reason, and only while leading", async () => {
  const api = new FakeKubeClient();
  api.put("nodes", node);
  const { ConfError } = await import("../providers/types.ts");
  // A conf refused at reconcile: the Pod holds nothing, and is still a game server to count.
  const manager = managerOf(api, [
    testProvider("Picky-Net", {
      aliases: ["Picky"],
      parse: (p) => {
        if (p.metadata.name === "bad-0") throw new ConfError("Pod games/bad-0: no", "BadConf");
        return {};
      },
    }),
  ]);
  try {
    api.put("pods", pod("good-0", "Picky"));
    api.put("pods", pod("bad-0", "Picky-Net"));
    api.put("pods", pod("other-0", "Someone-Elses"));
    assert.equal(manager.isLeader, false);
    assert.deepEqual(manager.gameServerCounts(), [], "nothing before it leads");
    assert.deepEqual(manager.allocationCounts(), { pools: [], byType: new Map() });
    await manager.start();
    await until("ready", () => manager.readiness.ready || undefined);
    assert.equal(manager.isLeader, true);
    const counts = await until("both Pods' states", () => {
      const c = manager.gameServerCounts();
      return c.length === 2 && c.every((g) => g.state !== "Unknown") ? c : undefined;
    });
    assert.deepEqual(
      counts.sort((a, b) => a.state.localeCompare(b.state)),
      [
        { type: "Picky-Net", state: "NotReady", reason: "BadConf", count: 1 },
        { type: "Picky-Net", state: "Ready", reason: "", count: 1 },
      ],
    );
  } finally {
    await manager.stop();
  }
  assert.equal(manager.isLeader, false);
});

Deno.test("Manager.changes moves with Pods and reconciles; restoreConflicts() and pod() read the restore and the cache", async () => {
  const api = new FakeKubeClient();
  api.put("nodes", node);
  api.put("pods", pod("gs-0", "Order-Net"));
  const manager = managerOf(api, [
    testProvider("Order-Net", {
      restore: () => [{ message: "Port 8000 on node-1 is claimed by games/gs-0 and games/gs-9" }],
    }),
  ]);
  try {
    await manager.start();
    await until("the Pod's status", () => readPodStatus(api.get("pods", "games/gs-0") as Pod));
    assert.deepEqual(manager.restoreConflicts(), [
      { message: "Port 8000 on node-1 is claimed by games/gs-0 and games/gs-9" },
    ]);
    assert.equal(manager.pod("games", "gs-0")?.metadata.name, "gs-0");
    assert.equal(manager.pod("games", "nope"), undefined);
    const before = manager.changes;
    api.put("pods", pod("gs-1", "Order-Net"));
    await until("a change counted", () => manager.changes > before ? true : undefined);
  } finally {
    await manager.stop();
  }
});

Deno.test("slimPod() keeps every annotation and shares what Pods of one node and pool have alike", () => {
  const pod = (name: string, ip: string) =>
    JSON.parse(JSON.stringify({
      metadata: {
        name,
        namespace: "ns",
        uid: `uid-${name}`,
        annotations: {
          "game.kruise.io/network-type": "Kubernetes-HostPort",
          "game.kruise.io/network-conf": '[{"name":"ContainerPorts","value":"gs:7777/UDP"}]',
          "example.com/address": `${name}.example.com`,
          "kubectl.kubernetes.io/last-applied-configuration": "{}",
        },
        managedFields: [{ manager: "x" }],
      },
      spec: {
        nodeName: "node-1",
        containers: [{ name: "gs", image: "gs:1", ports: [{ containerPort: 7777 }] }],
      },
      status: { phase: "Running", podIP: ip, podIPs: [{ ip }], hostIP: "10.0.0.1" },
    })) as Pod;
  const a = slimPod(pod("a", "10.1.0.1"));
  const b = slimPod(pod("b", "10.1.0.2"));
  assert.deepEqual(b, {
    metadata: {
      name: "b",
      namespace: "ns",
      uid: "uid-b",
      resourceVersion: undefined,
      creationTimestamp: undefined,
      deletionTimestamp: undefined,
      labels: undefined,
      annotations: {
        "game.kruise.io/network-type": "Kubernetes-HostPort",
        "game.kruise.io/network-conf": '[{"name":"ContainerPorts","value":"gs:7777/UDP"}]',
        "example.com/address": "b.example.com",
      },
      ownerReferences: undefined,
    },
    spec: {
      nodeName: "node-1",
      hostNetwork: undefined,
      containers: [{ name: "gs", ports: [{ containerPort: 7777 }] }],
    },
    status: {
      phase: "Running",
      podIP: "10.1.0.2",
      podIPs: [{ ip: "10.1.0.2" }],
      hostIP: "10.0.0.1",
    },
  });
  assert.equal(a.spec!.containers, b.spec!.containers);
  assert.throws(() => b.spec!.containers[0].ports!.push({ containerPort: 1 } as never), TypeError);
  assert.notEqual(a.metadata.annotations, b.metadata.annotations);
});

Deno.test("Manager.allocations() serves one build to readers while nothing changes, and builds again after a change", async () => {
  const api = new FakeKubeClient();
  api.put("nodes", node);
  api.put("pods", pod("gs-0", "Order-Net"));
  let builds = 0;
  const manager = managerOf(api, [
    testProvider("Order-Net", { view: () => (builds++, { pools: [], holdings: [] }) }),
  ]);
  try {
    await manager.start();
    await until("the Pod's status", () => readPodStatus(api.get("pods", "games/gs-0") as Pod));
    // Nothing runs between two calls in one turn: the second reads the first's build.
    const first = manager.allocations();
    assert.equal(manager.allocations(), first);
    assert.equal(builds, 1);
    const before = manager.changes;
    api.put("pods", pod("gs-1", "Order-Net"));
    await until("a change counted", () => manager.changes > before ? true : undefined);
    assert.notEqual(manager.allocations(), first);
    assert.equal(builds, 2);
  } finally {
    await manager.stop();
  }
});
