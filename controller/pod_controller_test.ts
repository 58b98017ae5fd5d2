import assert from "node:assert/strict";
import { PodController } from "./pod_controller.ts";
import type { StatusWriter } from "./status_writer.ts";
import type { EventRecorder } from "./event_recorder.ts";
import { ProviderRegistry } from "../providers/registry.ts";
import { createHostPortProvider } from "../providers/kubernetes_host_port.ts";
import { createNoneProvider } from "../providers/kubernetes_none.ts";
import { HostPorts } from "../allocator/host_ports.ts";
import {
  NETWORK_CONF_ANNOTATION,
  NETWORK_DISABLED_LABEL,
  NETWORK_TYPE_ANNOTATION,
  type NetworkStatus,
  type Outcome,
  type Pod,
} from "../providers/types.ts";

function setup() {
  let now = 1_000_000;
  const hostPorts = new HostPorts({ default: { min: 8000, max: 8009 } });
  hostPorts.setNode("node-1", true);
  const registry = new ProviderRegistry([
    createHostPortProvider({ allocator: hostPorts }),
    createNoneProvider(),
  ]);
  let unknown = 0;
  const controller = new PodController({
    registry,
    cache: { pod: () => undefined, node: () => undefined },
    // Admission writes nothing to the API server.
    writer: {} as StatusWriter,
    events: {} as EventRecorder,
    metrics: { unknownNetworkType: () => unknown++ },
    now: () => new Date(now),
  });
  return {
    controller,
    hostPorts,
    unknownCount: () => unknown,
    advance: (ms: number) => now += ms,
  };
}

function pod(type: string, extra: Partial<Pod["metadata"]> = {}): Pod {
  return {
    metadata: {
      generateName: "gs-",
      ...extra,
      annotations: {
        [NETWORK_TYPE_ANNOTATION]: type,
        [NETWORK_CONF_ANNOTATION]: '[{"name":"ContainerPorts","value":"gs:7777/UDP"}]',
        ...extra.annotations,
      },
    },
    spec: { containers: [{ name: "gs", ports: [{ containerPort: 7777, protocol: "UDP" }] }] },
  };
}

Deno.test("admit() allows an unknown network type with a warning naming the closest and the known ones", async () => {
  const { controller, unknownCount } = setup();
  const result = await controller.admit({
    uid: "u1",
    namespace: "games",
    pod: pod("kubernetes-hostport"),
  });
  assert.equal(result.allowed, true);
  assert.ok(result.allowed);
  assert.deepEqual(result.patch, [], "nothing allocated, nothing written");
  assert.deepEqual(result.warnings, [
    'game.kruise.io/network-type "kubernetes-hostport" is not a type gamenet knows ' +
    '(did you mean "Kubernetes-HostPort"?); the Pod is left to other controllers. ' +
    "Known: Kubernetes-HostPort, Kubernetes-None",
  ]);
  assert.ok(result.warnings![0].length <= 256, "short enough for the API server");
  assert.equal(unknownCount(), 1);
});

Deno.test("admit() warns that network-disabled is a label, not an annotation", async () => {
  const { controller } = setup();
  const asAnnotation = await controller.admit({
    uid: "u1",
    namespace: "games",
    pod: pod("Kubernetes-None", { annotations: { [NETWORK_DISABLED_LABEL]: "true" } }),
  });
  assert.ok(asAnnotation.allowed);
  assert.match(asAnnotation.warnings![0], /is read from the Pod's labels, not its annotations/);
  const asLabel = await controller.admit({
    uid: "u2",
    namespace: "games",
    pod: pod("Kubernetes-None", { labels: { [NETWORK_DISABLED_LABEL]: "true" } }),
  });
  assert.ok(asLabel.allowed);
  assert.equal(asLabel.warnings, undefined);
});

Deno.test("releaseUnclaimedAdmissions() gives back an admission's ports one grace after it, not before", async () => {
  const { controller, hostPorts, advance } = setup();
  const result = await controller.admit({
    uid: "u1",
    namespace: "games",
    pod: pod("Kubernetes-HostPort"),
  });
  assert.ok(result.allowed);
  assert.deepEqual(controller.admission("admission/u1"), {
    namespace: "games",
    pod: "gs-*",
    type: "Kubernetes-HostPort",
    at: 1_000_000,
  });
  const [chosen] = hostPorts.snapshot()[0].state.pending;
  assert.equal(chosen.owner, "admission/u1");
  advance(59_999);
  assert.deepEqual(await controller.releaseUnclaimedAdmissions(60_000, () => false), []);
  advance(1);
  assert.deepEqual(await controller.releaseUnclaimedAdmissions(60_000, () => false), [
    "admission/u1",
  ]);
  assert.deepEqual(hostPorts.snapshot()[0].state.pending, []);
  assert.equal(controller.admission("admission/u1"), undefined);
});

Deno.test("releaseUnclaimedAdmissions() keeps what a live Pod holds and a dry run records nothing", async () => {
  const { controller, hostPorts, advance } = setup();
  await controller.admit({ uid: "u1", namespace: "games", pod: pod("Kubernetes-HostPort") });
  await controller.admit({
    uid: "u2",
    namespace: "games",
    dryRun: true,
    pod: pod("Kubernetes-HostPort"),
  });
  assert.equal(controller.admission("admission/u2"), undefined);
  advance(120_000);
  assert.deepEqual(await controller.releaseUnclaimedAdmissions(60_000, () => true), []);
  assert.equal(hostPorts.snapshot()[0].state.pending.length, 1);
});

/** A network type whose reconcile takes as long as the test says. */
function slowType(name = "Slow-Net") {
  let release!: () => void;
  let calls = 0;
  let gate = new Promise<void>((r) => release = r);
  const provider = {
    name,
    aliases: [],
    parse: () => ({}),
    admit: () => Promise.resolve({ patch: [] }),
    async reconcile(): Promise<Outcome> {
      calls++;
      await gate;
      return {
        kind: "done",
        report: {
          currentNetworkState: "Ready",
          desiredNetworkState: "Ready",
          internalAddresses: [],
          externalAddresses: [{
            ip: "203.0.113.9",
            ports: [{ name: "gs", port: 501, protocol: "UDP" }],
          }],
        },
      };
    },
    releases: [] as string[],
    release(owner: string) {
      provider.releases.push(owner);
      return Promise.resolve();
    },
  };
  return {
    provider,
    calls: () => calls,
    finish: () => release(),
    rearm: () => gate = new Promise<void>((r) => release = r),
  };
}

function slowSetup() {
  const slow = slowType();
  const pods = new Map<string, Pod>([["games/gs-0", {
    metadata: {
      namespace: "games",
      name: "gs-0",
      annotations: { [NETWORK_TYPE_ANNOTATION]: "Slow-Net" },
    },
    spec: { containers: [] },
  }]]);
  const written: string[] = [];
  const requeued: string[] = [];
  const controller = new PodController({
    registry: new ProviderRegistry([slow.provider]),
    cache: { pod: (k) => pods.get(k), node: () => undefined },
    writer: {
      writePod: (_pod: Pod, status: NetworkStatus) => {
        written.push(status.currentNetworkState);
        return Promise.resolve(true);
      },
    } as unknown as StatusWriter,
    events: {} as EventRecorder,
    requeue: (k) => requeued.push(k),
    backgroundAfterMs: 20,
  });
  return { slow, pods, written, requeued, controller };
}

Deno.test("reconcile() lets a slow provider go on in the background and comes back when it ends", async () => {
  const { slow, written, requeued, controller } = slowSetup();
  assert.deepEqual(await controller.reconcile("games/gs-0"), { requeueAfterMs: 30_000 });
  assert.deepEqual(written, ["Waiting"], "a new Pod shows Waiting meanwhile");
  // Called again while it runs: no second run.
  assert.deepEqual(await controller.reconcile("games/gs-0"), { requeueAfterMs: 30_000 });
  assert.equal(slow.calls(), 1);
  slow.finish();
  await eventuallyTrue(() => requeued.length === 1);
  assert.deepEqual(requeued, ["games/gs-0"]);
  // Back: the provider is asked again (level-based) and answers at once now.
  assert.deepEqual(await controller.reconcile("games/gs-0"), {});
  assert.equal(slow.calls(), 2);
  assert.deepEqual(written, ["Waiting", "Ready"]);
});

Deno.test("reconcile() waits for the background work of a Pod that went before giving its ports back", async () => {
  const { slow, pods, controller } = slowSetup();
  await controller.reconcile("games/gs-0");
  pods.delete("games/gs-0");
  let released = false;
  const gone = controller.reconcile("games/gs-0").then((r) => (released = true, r));
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(released, false, "not while the provider still writes");
  assert.deepEqual(slow.provider.releases, []);
  slow.finish();
  assert.deepEqual(await gone, {});
  assert.deepEqual(slow.provider.releases, ["games/gs-0"]);
});

async function eventuallyTrue(check: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check());
}

/**
 * A status writer that records what it writes, and as the real one makes
 * no request when the status is what the Pod holds. The version after a
 * write: each write adds one to the Pod's.
 */
function recordingWriter(writes: NetworkStatus[]): StatusWriter {
  return {
    writePod: (p: Pod, status: NetworkStatus, current?: NetworkStatus) => {
      const holds = current ??
        JSON.parse(p.metadata.annotations?.["game.kruise.io/network-status"] ?? "null");
      if (JSON.stringify(holds) === JSON.stringify(status)) return Promise.resolve(false);
      writes.push(status);
      return Promise.resolve(String(writes.length + 1));
    },
  } as unknown as StatusWriter;
}

Deno.test("reconcile() does not write a status again while the cache has not caught up with its write", async () => {
  let clock = 1_000_000;
  const stored: Pod = {
    metadata: {
      namespace: "games",
      name: "gs-0",
      resourceVersion: "1",
      annotations: { [NETWORK_TYPE_ANNOTATION]: "Kubernetes-None" },
    },
    spec: { containers: [{ name: "gs", ports: [{ containerPort: 7777, protocol: "UDP" }] }] },
  };
  let cached = stored;
  const writes: NetworkStatus[] = [];
  const controller = new PodController({
    registry: new ProviderRegistry([createNoneProvider()]),
    cache: { pod: () => cached, node: () => undefined },
    writer: recordingWriter(writes),
    events: {} as EventRecorder,
    now: () => new Date(clock),
  });
  await controller.reconcile("games/gs-0");
  assert.equal(writes.length, 1, "Waiting: no IP yet (and no admission wrote it)");
  // A second event a second later, before the Pod's own watch brings the
  // write (version 2) back: the cache still has version 1.
  clock += 1_000;
  await controller.reconcile("games/gs-0");
  assert.equal(writes.length, 1, "the same status, not rewritten with a new createTime");
  // The cache catches up (a newer version holding the write): still nothing to write.
  cached = {
    ...stored,
    metadata: {
      ...stored.metadata,
      resourceVersion: "2",
      annotations: {
        ...stored.metadata.annotations,
        "game.kruise.io/network-status": JSON.stringify(writes[0]),
      },
    },
  };
  await controller.reconcile("games/gs-0");
  assert.equal(writes.length, 1);
  // The Pod gets its IP: Ready, written once, its createTime kept.
  cached = {
    ...cached,
    metadata: { ...cached.metadata, resourceVersion: "3" },
    status: { podIP: "10.0.0.5" },
  };
  await controller.reconcile("games/gs-0");
  assert.equal(writes.length, 2);
  assert.equal(writes[1].currentNetworkState, "Ready");
  assert.equal(writes[1].createTime, writes[0].createTime);
});

Deno.test("admit() puts the first network status in the patch, which reconcile() then keeps", async () => {
  const hostPorts = new HostPorts({ default: { min: 8000, max: 8009 } });
  hostPorts.setNode("node-1", true);
  const stored: { pod?: Pod } = {};
  const writes: NetworkStatus[] = [];
  const controller = new PodController({
    registry: new ProviderRegistry([createHostPortProvider({ allocator: hostPorts })]),
    cache: { pod: () => stored.pod, node: () => undefined },
    writer: recordingWriter(writes),
    events: {} as EventRecorder,
    now: () => new Date(Date.UTC(2026, 10, 30, 12)),
  });
  const created = pod("Kubernetes-HostPort", { name: "gs-0", namespace: "games" });
  const result = await controller.admit({ uid: "u1", namespace: "games", pod: created });
  assert.ok(result.allowed);
  const op = result.patch.find((p) =>
    p.path === "/metadata/annotations/game.kruise.io~1network-status"
  );
  assert.ok(op, "the status is in the admission patch");
  assert.deepEqual(JSON.parse((op as { value: string }).value), {
    networkType: "Kubernetes-HostPort",
    currentNetworkState: "Waiting",
    desiredNetworkState: "Ready",
    createTime: "2026-11-30T12:00:00Z",
    lastTransitionTime: "2026-11-30T12:00:00Z",
    internalAddresses: [],
    externalAddresses: [],
  });
  // The Pod as the API server stores it, not scheduled yet: nothing to write.
  const cached = stored.pod = structuredClone(created);
  for (const p of result.patch) {
    assert.equal(p.op, "add");
    const path = p.path.slice(1).split("/").map((s) =>
      s.replaceAll("~1", "/").replaceAll("~0", "~")
    );
    let at = cached as unknown as Record<string, unknown>;
    for (const step of path.slice(0, -1)) at = at[step] as Record<string, unknown>;
    at[path.at(-1)!] = (p as { value: unknown }).value;
  }
  cached.metadata.resourceVersion = "1";
  await controller.reconcile("games/gs-0");
  assert.deepEqual(writes, [], "Waiting already written with the Pod");
  // A Pod that already carries a status (another writer's) keeps it.
  const withStatus = pod("Kubernetes-HostPort", {
    name: "gs-1",
    annotations: { "game.kruise.io/network-status": '{"currentNetworkState":"Ready"}' },
  });
  const again = await controller.admit({ uid: "u2", namespace: "games", pod: withStatus });
  assert.ok(again.allowed);
  assert.equal(again.patch.some((p) => p.path.endsWith("network-status")), false);
});
