import assert from "node:assert/strict";
import { kruiseNetworkStatus, sameStatus } from "./status_writer.ts";
import type { NetworkStatus, Pod } from "../providers/types.ts";

const pod: NetworkStatus = {
  networkType: "Kubernetes-HostPort",
  currentNetworkState: "Ready",
  desiredNetworkState: "Ready",
  createTime: "2026-11-30T10:00:00Z",
  lastTransitionTime: "2026-11-30T10:00:05Z",
  internalAddresses: [{
    ip: "10.0.0.7",
    ports: [{ name: "gs-7777", port: 7777, protocol: "UDP" }],
  }],
  externalAddresses: [{
    ip: "203.0.113.1",
    ports: [{ name: "gs-7777", port: 8001, protocol: "UDP" }],
  }],
};

Deno.test("kruiseNetworkStatus() writes the Pod's status to a GameServer that has none", () => {
  assert.deepEqual(kruiseNetworkStatus(undefined, pod), pod);
  assert.deepEqual(kruiseNetworkStatus({}, pod), pod);
});

Deno.test("kruiseNetworkStatus() keeps the GameServer's own times while the states are unchanged", () => {
  // As OpenKruiseGame's controller leaves it: its times, the Pod's addresses and states.
  const okg = {
    ...pod,
    createTime: "2026-11-30T10:00:01Z",
    lastTransitionTime: "2026-11-30T10:00:02Z",
  };
  assert.ok(sameStatus(kruiseNetworkStatus(okg, pod), okg), "nothing to write");
});

Deno.test("kruiseNetworkStatus() takes the Pod's transition time when a state changed", () => {
  const okg = {
    ...pod,
    currentNetworkState: "Waiting" as const,
    createTime: "2026-11-30T10:00:01Z",
    lastTransitionTime: "2026-11-30T10:00:02Z",
  };
  const next = kruiseNetworkStatus(okg, pod);
  assert.equal(next.createTime, "2026-11-30T10:00:01Z");
  assert.equal(next.lastTransitionTime, pod.lastTransitionTime);
  assert.equal(next.currentNetworkState, "Ready");
});

Deno.test("writePod() patches the annotation only when it differs, and fails on another Pod of the name", async () => {
  const { FakeKubeClient } = await import("../tests/fakes/fake_kube_client.ts");
  const { StatusWriter } = await import("./status_writer.ts");
  const { KubeApiError } = await import("./kube_client.ts");
  const api = new FakeKubeClient();
  const stored = api.put("pods", {
    metadata: { namespace: "games", name: "gs-0" },
    spec: { containers: [] },
  }) as Pod;
  const writer = new StatusWriter(api.client);
  assert.equal(typeof await writer.writePod(stored, pod), "string", "written: its new version");
  const after = api.get("pods", "games/gs-0") as Pod;
  assert.equal(await writer.writePod(after, pod), false, "the same status: no request");
  assert.equal(api.requests.filter((r) => r.startsWith("PATCH")).length, 1);
  await assert.rejects(
    writer.writePod({ ...after, metadata: { ...after.metadata, uid: "an-older-pod" } }, {
      ...pod,
      currentNetworkState: "NotReady",
    }),
    (e) => e instanceof KubeApiError && e.status === 409,
  );
});
