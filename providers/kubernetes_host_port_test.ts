import assert from "node:assert/strict";
import {
  createHostPortProvider,
  type HostPortConf,
  hostPortSettings,
  hostPortType,
} from "./kubernetes_host_port.ts";
import { ConfigError } from "./settings.ts";
import type { Provider } from "./provider.ts";
import { HostPorts } from "../allocator/host_ports.ts";
import {
  ConfError,
  type ContainerPort,
  type JsonPatchOp,
  NETWORK_CONF_ANNOTATION,
  NETWORK_DISABLED_LABEL,
  NETWORK_TYPE_ANNOTATION,
  type Node,
  type Pod,
} from "./types.ts";

const NODES: Record<string, Node> = {
  "node-1": {
    metadata: { name: "node-1" },
    status: {
      addresses: [{ type: "InternalIP", address: "172.18.0.1" }, {
        type: "ExternalIP",
        address: "203.0.113.1",
      }],
    },
  },
  "node-2": {
    metadata: { name: "node-2" },
    status: { addresses: [{ type: "InternalIP", address: "172.18.0.2" }] },
  },
};

function setup(
  ranges = { default: { min: 8000, max: 8009 }, game: { min: 9000, max: 9001 } },
  whenExhausted: "pending" | "deny" = "pending",
) {
  const allocator = new HostPorts(ranges);
  for (const name of Object.keys(NODES)) allocator.setNode(name, true);
  const provider = createHostPortProvider({ allocator, whenExhausted }) as Provider<HostPortConf>;
  return { allocator, provider };
}

function pod(
  conf: Record<string, string>,
  opts: { ports?: ContainerPort[]; name?: string; node?: string; disabled?: boolean } = {},
): Pod {
  return {
    metadata: {
      namespace: "default",
      name: opts.name ?? "gs-0",
      labels: opts.disabled ? { [NETWORK_DISABLED_LABEL]: "true" } : {},
      annotations: {
        [NETWORK_TYPE_ANNOTATION]: "Kubernetes-HostPort",
        [NETWORK_CONF_ANNOTATION]: JSON.stringify(
          Object.entries(conf).map(([name, value]) => ({ name, value })),
        ),
      },
    },
    spec: {
      nodeName: opts.node,
      containers: [{
        name: "gs",
        ports: opts.ports ?? [{ containerPort: 7777, protocol: "UDP" }],
      }],
    },
    status: opts.node ? { podIP: "10.128.0.7", podIPs: [{ ip: "10.128.0.7" }] } : {},
  };
}

/** Applies the `add /spec/containers/i/ports` ops of an admission patch. */
function applyPatch(p: Pod, patch: JsonPatchOp[]): Pod {
  const out: Pod = structuredClone(p);
  for (const op of patch) {
    const m = /^\/spec\/containers\/(\d+)\/ports$/.exec(op.path);
    if (m) out.spec!.containers[Number(m[1])].ports = op.value as ContainerPort[];
  }
  return out;
}

async function admitted(provider: Provider<HostPortConf>, p: Pod, owner = "admission/1") {
  const { patch } = await provider.admit(p, provider.parse(p), { owner, dryRun: false });
  return applyPatch(p, patch);
}

const ctx = (owner: string) => ({ owner, node: (name: string) => NODES[name] });

Deno.test("parse() refuses an unknown PortRange and names the configured ones", () => {
  const { provider } = setup();
  assert.throws(
    () => provider.parse(pod({ ContainerPorts: "gs:7777/UDP", PortRange: "nowhere" })),
    (err: unknown) =>
      err instanceof ConfError && err.reason === "UnknownPortRange" &&
      /"nowhere" is not configured; configured: default, game/.test(err.message),
  );
});

Deno.test("parse() refuses an unknown PortPolicy and a missing ContainerPorts", () => {
  const { provider } = setup();
  assert.throws(
    () => provider.parse(pod({ ContainerPorts: "gs:7777/UDP", PortPolicy: "Static" })),
    /PortPolicy "Static": write Dynamic or Passthrough/,
  );
  assert.throws(() => provider.parse(pod({})), ConfError);
});

Deno.test("admit() writes a host port from the range into the matching container port", async () => {
  const { provider } = setup();
  const p = await admitted(provider, pod({ ContainerPorts: "gs:7777/UDP" }));
  const [port] = p.spec!.containers[0].ports!;
  assert.equal(port.containerPort, 7777);
  assert.equal(port.protocol, "UDP");
  assert.ok(port.hostPort! >= 8000 && port.hostPort! <= 8009);
});

Deno.test("admit() gives TCPUDP the same number in both protocols", async () => {
  const { provider } = setup();
  const p = await admitted(
    provider,
    pod({ ContainerPorts: "gs:7777/TCPUDP" }, { ports: [{ containerPort: 7777 }] }),
  );
  const ports = p.spec!.containers[0].ports!;
  assert.equal(ports.length, 2);
  assert.deepEqual(ports.map((x) => x.protocol ?? "TCP").sort(), ["TCP", "UDP"]);
  assert.equal(ports[0].hostPort, ports[1].hostPort);
});

Deno.test("admit() with Passthrough sets the container port to the host port", async () => {
  const { provider } = setup();
  const p = await admitted(
    provider,
    pod({ ContainerPorts: "gs:7777/UDP", PortPolicy: "Passthrough" }),
  );
  const [port] = p.spec!.containers[0].ports!;
  assert.equal(port.containerPort, port.hostPort);
});

Deno.test("admit() keeps a host port the user set and chooses none for it", async () => {
  const { provider, allocator } = setup();
  const p = pod({ ContainerPorts: "gs:7777/UDP" }, {
    ports: [{ containerPort: 7777, hostPort: 8005, protocol: "UDP" }],
  });
  const { patch } = await provider.admit(p, provider.parse(p), {
    owner: "admission/1",
    dryRun: false,
  });
  assert.deepEqual(patch, []);
  assert.deepEqual(allocator.snapshot()[0].state.pending, []);
});

Deno.test("admit() takes a named range and is idempotent for one owner", async () => {
  const { provider } = setup();
  const p = pod({ ContainerPorts: "gs:7777/UDP", PortRange: "game" });
  const first = await admitted(provider, p, "admission/a");
  const again = await admitted(provider, p, "admission/a");
  const port = first.spec!.containers[0].ports![0].hostPort!;
  assert.ok(port === 9000 || port === 9001);
  assert.equal(again.spec!.containers[0].ports![0].hostPort, port);
});

Deno.test("admit() in dry run holds nothing", async () => {
  const { provider, allocator } = setup();
  const p = pod({ ContainerPorts: "gs:7777/UDP" });
  await provider.admit(p, provider.parse(p), { owner: "admission/dry", dryRun: true });
  assert.deepEqual(provider.view!().holdings, []);
  assert.equal(allocator.snapshot().every((r) => r.state.pending.length === 0), true);
});

Deno.test("admit() with deny refuses with HostPortsExhausted when no port is free on any node", async () => {
  const { provider } = setup(undefined, "deny");
  const p = pod({ ContainerPorts: "gs:7777/UDP", PortRange: "game" });
  // 2 ports × 2 nodes.
  for (let i = 0; i < 4; i++) await admitted(provider, p, `admission/${i}`);
  await assert.rejects(
    () => provider.admit(p, provider.parse(p), { owner: "admission/5", dryRun: false }),
    (err: unknown) =>
      err instanceof ConfError && err.reason === "HostPortsExhausted" &&
      /range "game" \(9000-9001\)/.test(err.message),
  );
});

Deno.test("reconcile() waits while unscheduled, then reports the node's ExternalIP", async () => {
  const { provider } = setup();
  const spec = await admitted(provider, pod({ ContainerPorts: "gs:7777/UDP" }));
  const waiting = await provider.reconcile(spec, provider.parse(spec), ctx("admission/1"));
  assert.equal(waiting.kind === "done" && waiting.report.currentNetworkState, "Waiting");
  const bound = {
    ...spec,
    spec: { ...spec.spec!, nodeName: "node-1" },
    status: { podIP: "10.128.0.7" },
  };
  const outcome = await provider.reconcile(bound, provider.parse(bound), ctx("admission/1"));
  const hostPort = spec.spec!.containers[0].ports![0].hostPort!;
  assert.deepEqual(outcome.kind === "done" && outcome.report, {
    currentNetworkState: "Ready",
    desiredNetworkState: "Ready",
    internalAddresses: [{
      ip: "10.128.0.7",
      ports: [{ name: "gs-7777", port: 7777, protocol: "UDP" }],
    }],
    externalAddresses: [{
      ip: "203.0.113.1",
      ports: [{ name: "gs-7777", port: hostPort, protocol: "UDP" }],
    }],
  });
  const view = provider.view!();
  assert.deepEqual(view.holdings, [{
    owner: "admission/1",
    kind: "managed",
    node: "node-1",
    ports: [{ port: hostPort, protocol: "UDP" }],
  }]);
});

Deno.test("reconcile() looks again soon at a Pod bound to a node not yet in the cache", async () => {
  const { provider } = setup();
  const p = pod({ ContainerPorts: "gs:7777/UDP" }, {
    node: "node-new",
    ports: [{ containerPort: 7777, hostPort: 8003, protocol: "UDP" }],
  });
  const early = await provider.reconcile(p, provider.parse(p), ctx("default/gs-0"));
  assert.equal(early.kind, "requeueAfter", "the node's watch event may still be on its way");
  assert.ok(early.kind === "requeueAfter" && early.ms <= 1_000);
  assert.equal(early.report?.currentNetworkState, "Waiting");
});

Deno.test("reconcile() falls back to the InternalIP on a node without ExternalIP", async () => {
  const { provider } = setup();
  const p = pod({ ContainerPorts: "gs:7777/UDP" }, {
    node: "node-2",
    ports: [{ containerPort: 7777, hostPort: 8003, protocol: "UDP" }],
  });
  const outcome = await provider.reconcile(p, provider.parse(p), ctx("default/gs-0"));
  assert.equal(outcome.kind === "done" && outcome.report.externalAddresses[0].ip, "172.18.0.2");
});

Deno.test("reconcile() reports a Pod the webhook never saw as HostPortMissing", async () => {
  const { provider } = setup();
  const p = pod({ ContainerPorts: "gs:7777/UDP" }, { node: "node-1" });
  const outcome = await provider.reconcile(p, provider.parse(p), ctx("default/gs-0"));
  assert.equal(outcome.kind, "failed");
  assert.ok(outcome.kind === "failed" && outcome.error instanceof ConfError);
  assert.equal(outcome.kind === "failed" && (outcome.error as ConfError).reason, "HostPortMissing");
  assert.equal(outcome.report?.currentNetworkState, "NotReady");
});

Deno.test("reconcile() with network-disabled keeps the ports and asks for NotReady", async () => {
  const { provider } = setup();
  const p = pod({ ContainerPorts: "gs:7777/UDP" }, {
    node: "node-1",
    disabled: true,
    ports: [{ containerPort: 7777, hostPort: 8003, protocol: "UDP" }],
  });
  const outcome = await provider.reconcile(p, provider.parse(p), ctx("default/gs-0"));
  assert.ok(outcome.kind === "done");
  assert.equal(outcome.report.desiredNetworkState, "NotReady");
  assert.equal(outcome.report.currentNetworkState, "Ready");
  assert.equal(outcome.report.externalAddresses[0].ports![0].port, 8003);
});

Deno.test("reconcile() reports two Pods holding one host port on a node as HostPortConflict", async () => {
  const { provider } = setup();
  const ports = [{ containerPort: 7777, hostPort: 8003, protocol: "UDP" as const }];
  const a = pod({ ContainerPorts: "gs:7777/UDP" }, { node: "node-1", ports, name: "a" });
  const b = pod({ ContainerPorts: "gs:7777/UDP" }, { node: "node-1", ports, name: "b" });
  assert.equal((await provider.reconcile(a, provider.parse(a), ctx("default/a"))).kind, "done");
  const outcome = await provider.reconcile(b, provider.parse(b), ctx("default/b"));
  assert.equal(
    outcome.kind === "failed" && (outcome.error as ConfError).reason,
    "HostPortConflict",
  );
  assert.match(outcome.kind === "failed" ? outcome.error.message : "", /held by default\/a/);
});

Deno.test("release() frees the owner's ports for the next Pod", async () => {
  const { provider } = setup(
    { default: { min: 8000, max: 8000 }, game: { min: 9000, max: 9000 } },
    "deny",
  );
  const p = pod({ ContainerPorts: "gs:7777/UDP" });
  // One port, two nodes: two owners fit, a third does not until one goes.
  await admitted(provider, p, "admission/1");
  await admitted(provider, p, "admission/2");
  await assert.rejects(() => admitted(provider, p, "admission/3"), ConfError);
  await provider.release("admission/1");
  const third = await admitted(provider, p, "admission/3");
  assert.equal(third.spec!.containers[0].ports![0].hostPort, 8000);
});

Deno.test("restore() binds scheduled Pods and reports two Pods on one port", async () => {
  const { provider } = setup();
  const ports = [{ containerPort: 7777, hostPort: 8001, protocol: "UDP" as const }];
  const conflicts = await provider.restore!([
    {
      pod: pod({ ContainerPorts: "gs:7777/UDP" }, { node: "node-1", ports, name: "a" }),
      owner: "default/a",
    },
    {
      pod: pod({ ContainerPorts: "gs:7777/UDP" }, { node: "node-1", ports, name: "b" }),
      owner: "default/b",
    },
    { pod: pod({ ContainerPorts: "gs:7777/UDP" }, { ports, name: "c" }), owner: "default/c" },
  ], { node: (name) => NODES[name] });
  assert.equal(conflicts.length, 1);
  assert.match(
    conflicts[0].message,
    /default\/b and default\/a both hold host ports on node node-1/,
  );
  const owners = provider.view!().holdings.map((h) => `${h.owner}@${h.node ?? "pending"}`).sort();
  assert.deepEqual(owners, ["default/a@node-1", "default/c@pending"]);
});

Deno.test("observe() keeps other Pods' host ports out of every choice on their node", async () => {
  const { provider } = setup({ default: { min: 8000, max: 8001 }, game: { min: 9000, max: 9000 } });
  const foreign = (name: string, node: string, hostPort: number): Pod => ({
    metadata: { namespace: "kube-system", name },
    spec: {
      nodeName: node,
      containers: [{ name: "c", ports: [{ containerPort: 1, hostPort, protocol: "UDP" }] }],
    },
  });
  provider.observe!("kube-system/a", foreign("a", "node-1", 8000));
  provider.observe!("kube-system/b", foreign("b", "node-2", 8000));
  const p = pod({ ContainerPorts: "gs:7777/UDP" });
  const chosen = await admitted(provider, p, "admission/1");
  assert.equal(chosen.spec!.containers[0].ports![0].hostPort, 8001);
  const rows = provider.view!().holdings.filter((h) => h.kind === "unmanaged");
  assert.equal(rows.length, 2);
  assert.deepEqual(rows.map((h) => h.pod).sort(), ["kube-system/a", "kube-system/b"]);
  provider.observe!("kube-system/a", undefined);
  assert.equal(provider.view!().holdings.filter((h) => h.kind === "unmanaged").length, 1);
});

Deno.test("view() lists one TCP and one UDP pool per node and range", () => {
  const { provider } = setup();
  const pools = provider.view!().pools;
  assert.equal(pools.length, 2 * 2 * 2);
  const p = pools.find((x) =>
    x.key === "node-1" && x.rangeName === "default" && x.protocol === "UDP"
  );
  assert.deepEqual(p, {
    kind: "node",
    key: "node-1",
    range: "8000-8009",
    rangeName: "default",
    protocol: "UDP",
    used: 0,
    free: 10,
    delayed: 0,
  });
});

/** A host-network Pod as the API server hands it over: every containerPort copied into hostPort. */
function hostNetworkPod(conf: Record<string, string>, node?: string): Pod {
  const p = pod(conf, { node, ports: [{ containerPort: 7777, hostPort: 7777, protocol: "UDP" }] });
  p.spec!.hostNetwork = true;
  return p;
}

Deno.test("parse() refuses hostNetwork with PortPolicy Dynamic and says what to do", () => {
  const { provider } = setup();
  assert.throws(
    () => provider.parse(hostNetworkPod({ ContainerPorts: "gs:7777/UDP" })),
    (err: unknown) =>
      err instanceof ConfError && err.reason === "HostNetworkNeedsPassthrough" &&
      /hostNetwork: true .* set PortPolicy Passthrough .* or remove hostNetwork/.test(err.message),
  );
});

Deno.test("admit() with hostNetwork and Passthrough replaces the defaulted host port", async () => {
  const { provider } = setup();
  const p = await admitted(
    provider,
    hostNetworkPod({ ContainerPorts: "gs:7777/UDP", PortPolicy: "Passthrough" }),
  );
  const ports = p.spec!.containers[0].ports!;
  assert.equal(ports.length, 1, "no second entry beside the defaulted one");
  assert.equal(ports[0].hostPort, ports[0].containerPort);
  assert.ok(ports[0].hostPort! >= 8000 && ports[0].hostPort! <= 8009);
});

Deno.test("view() shows host ports outside every range and choices as asked", async () => {
  const { provider } = setup();
  const outside = pod({ ContainerPorts: "gs:7777/UDP" }, {
    name: "static",
    node: "node-1",
    ports: [{ containerPort: 7777, hostPort: 80, protocol: "UDP" }],
  });
  await provider.reconcile(outside, provider.parse(outside), ctx("default/static"));
  await admitted(
    provider,
    pod({ ContainerPorts: "gs:7777/UDP,7778/TCPUDP" }, {
      ports: [{ containerPort: 7777, protocol: "UDP" }, { containerPort: 7778 }],
    }),
    "admission/9",
  );
  const holdings = provider.view!().holdings;
  assert.deepEqual(holdings.find((h) => h.owner === "default/static"), {
    owner: "default/static",
    kind: "managed",
    node: "node-1",
    ports: [{ port: 80, protocol: "UDP" }],
  });
  const pending = holdings.find((h) => h.owner === "admission/9")!;
  assert.deepEqual(pending.ports.map((p) => p.protocol), ["UDP", "TCPUDP"]);
  await provider.release("default/static");
  assert.equal(provider.view!().holdings.find((h) => h.owner === "default/static"), undefined);
});

const settingsOf = (flags: Record<string, string>, section?: unknown) => ({
  setting: (flag: string) =>
    ({ "host-port-range": "8000-9000", "reuse-delay": "0s", ...flags })[flag],
  section,
  source: "pools.yaml",
});

Deno.test("hostPortSettings() reads the flags, then the pools file's section", () => {
  assert.deepEqual(hostPortSettings(settingsOf({})), {
    ranges: { default: { min: 8000, max: 9000 } },
    reuseDelayMs: 0,
  });
  assert.deepEqual(
    hostPortSettings(settingsOf({ "reuse-delay": "5s" }, {
      ranges: { game: "9001-10000" },
      reuseDelay: "30s",
    })),
    {
      ranges: { game: { min: 9001, max: 10000 }, default: { min: 8000, max: 9000 } },
      reuseDelayMs: 30_000,
    },
  );
  assert.throws(() => hostPortSettings(settingsOf({ "host-port-range": "9000-8000" })), /low-high/);
  assert.throws(() => hostPortSettings(settingsOf({ "reuse-delay": "soon" })), /duration like 30s/);
  assert.throws(
    () => hostPortSettings(settingsOf({}, { ranges: { x: "1-70000" } })),
    /pools.yaml: hostPort.ranges.x/,
  );
  assert.throws(
    () => hostPortSettings(settingsOf({}, { port: 1 })),
    /hostPort has no "port"; it takes ranges and reuseDelay/,
  );
});

Deno.test("hostPortType.create() refuses overlapping ranges as a configuration mistake", () => {
  const logs: string[] = [];
  const ctx = {
    ...settingsOf({ "host-port-exhausted": "pending" }, { ranges: { game: "9000-10000" } }),
    env: {},
    log: { info: (m: string) => logs.push(m), warn: (m: string) => logs.push(m) },
  };
  assert.throws(
    () => hostPortType.create(ctx),
    (e) =>
      e instanceof ConfigError &&
      /"default" \(8000-9000\) and "game" \(9000-10000\) overlap/.test(e.message),
  );
  const [provider] = hostPortType.create({ ...ctx, section: { ranges: { game: "9001-10000" } } });
  assert.equal(provider.name, "Kubernetes-HostPort");
  assert.deepEqual(logs, [
    "Kubernetes-HostPort: ranges game=9001-10000, default=8000-9000, reuse delay 0 ms",
  ]);
});

Deno.test("admit() when no node has a port free gives one anyway with a warning; the Pod waits for a node", async () => {
  const { provider, allocator } = setup();
  const p = pod({ ContainerPorts: "gs:7777/UDP", PortRange: "game" });
  for (let i = 0; i < 4; i++) await admitted(provider, p, `admission/${i}`);
  const { patch, warnings } = await provider.admit(p, provider.parse(p), {
    owner: "admission/5",
    dryRun: false,
  });
  assert.match(warnings![0], /No node has host port\(s\) 900[01] free now: the Pod waits Pending/);
  const admittedPod = applyPatch(p, patch);
  const outcome = await provider.reconcile(
    admittedPod,
    provider.parse(admittedPod),
    ctx("admission/5"),
  );
  assert.equal(outcome.kind, "failed");
  assert.ok(outcome.kind === "failed");
  assert.equal(outcome.error.reason, "HostPortsUnavailable");
  assert.equal(outcome.report.currentNetworkState, "Waiting");
  assert.equal(outcome.requeueAfterMs, 10_000);
  // A third node joins: the Pod is placed there and is Ready.
  allocator.setNode("node-3", true);
  const placed = { ...admittedPod, spec: { ...admittedPod.spec!, nodeName: "node-1" } };
  placed.status = { podIP: "10.128.0.9", podIPs: [{ ip: "10.128.0.9" }] };
  assert.equal(
    (await provider.reconcile(placed, provider.parse(placed), ctx("admission/5"))).kind,
    "done",
  );
});

Deno.test("admit() still refuses when only ports in their reuse delay stand in the way", async () => {
  const allocator = new HostPorts({ default: { min: 8000, max: 8000 } }, { reuseDelayMs: 60_000 });
  allocator.setNode("node-1", true);
  const provider = createHostPortProvider({ allocator }) as Provider<HostPortConf>;
  const p = pod({ ContainerPorts: "gs:7777/UDP" });
  allocator.bind("old", "node-1", [{ port: 8000, protocol: "UDP" }]);
  allocator.release("old");
  await assert.rejects(
    () => provider.admit(p, provider.parse(p), { owner: "admission/1", dryRun: false }),
    (err: unknown) => err instanceof ConfError && /held back by the reuse delay/.test(err.message),
  );
});

Deno.test("hostPortType.create() refuses an unknown --host-port-exhausted", () => {
  assert.throws(
    () =>
      hostPortType.create({
        ...settingsOf({ "host-port-exhausted": "maybe" }),
        env: {},
        log: { info: () => {}, warn: () => {} },
      }),
    /--host-port-exhausted=maybe: write pending or deny/,
  );
});

Deno.test("admit() of Pods created with their node set gives each a port free on that node", async () => {
  const { provider, allocator } = setup();
  // No scheduler will move these off a clash: the kubelet would refuse the second.
  const conf = { ContainerPorts: "gs:7777/UDP", PortRange: "game" };
  const a = await admitted(provider, pod(conf, { name: "a", node: "node-1" }), "admission/a");
  const b = await admitted(provider, pod(conf, { name: "b", node: "node-1" }), "admission/b");
  const portOf = (p: Pod) => p.spec!.containers[0].ports![0].hostPort;
  assert.notEqual(portOf(a), portOf(b), "two Pods on node-1, two ports");
  assert.equal(allocator.chooser("game")!.nodeOf("admission/a"), "node-1", "held from admission");
  for (const [p, owner] of [[a, "admission/a"], [b, "admission/b"]] as const) {
    const outcome = await provider.reconcile(p, provider.parse(p), ctx(owner));
    assert.equal(outcome.kind, "done", `${owner}: no HostPortConflict`);
  }
  // The range (9000-9001) is full on node-1: a third Pod for it is refused, saying why.
  await assert.rejects(
    provider.admit(pod(conf, { name: "c", node: "node-1" }), provider.parse(pod(conf)), {
      owner: "admission/c",
      dryRun: false,
    }),
    (err: unknown) =>
      err instanceof ConfError && err.reason === "HostPortsExhausted" &&
      /node-1 has no UDP port free in 9000-9001/.test(err.message),
  );
  // Another node has the same numbers free.
  const d = await admitted(provider, pod(conf, { name: "d", node: "node-2" }), "admission/d");
  assert.ok([9000, 9001].includes(portOf(d)!));
});
