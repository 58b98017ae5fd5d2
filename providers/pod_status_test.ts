import assert from "node:assert/strict";
import { podFinished, podNetworkSummary, readPodStatus } from "./pod_status.ts";
import { NETWORK_STATUS_ANNOTATION, type Pod } from "./types.ts";

const pod = (phase?: string, status?: string): Pod => ({
  metadata: {
    name: "gs-0",
    annotations: status === undefined ? {} : { [NETWORK_STATUS_ANNOTATION]: status },
  },
  status: { phase },
});

Deno.test("podFinished() is true for a gone, succeeded or failed Pod only", () => {
  assert.equal(podFinished(undefined), true);
  assert.equal(podFinished(pod("Succeeded")), true);
  assert.equal(podFinished(pod("Failed")), true);
  assert.equal(podFinished(pod("Running")), false);
  assert.equal(podFinished(pod()), false);
});

Deno.test("readPodStatus() parses the annotation and shrugs at garbage", () => {
  assert.equal(
    readPodStatus(pod("Running", '{"currentNetworkState":"Ready"}'))?.currentNetworkState,
    "Ready",
  );
  assert.equal(readPodStatus(pod("Running", "{not json")), undefined);
  assert.equal(readPodStatus(pod("Running")), undefined);
});

Deno.test("podNetworkSummary() parses a Pod object's status once, and a new object again", () => {
  const status = (state: string, ip: string) =>
    JSON.stringify({
      networkType: "Kubernetes-HostPort",
      currentNetworkState: state,
      desiredNetworkState: "Ready",
      internalAddresses: [],
      externalAddresses: [{ ip, ports: [{ name: "gs", port: 8000, protocol: "UDP" }] }],
    });
  const ready: Pod = {
    metadata: {
      name: "gs-0",
      annotations: { [NETWORK_STATUS_ANNOTATION]: status("Ready", "1.2.3.4") },
    },
  };
  const first = podNetworkSummary(ready);
  assert.equal(first.state, "Ready");
  assert.equal(first.address, "1.2.3.4");
  assert.equal(podNetworkSummary(ready), first, "the same object: no second parse");
  // The cache replaces a Pod's object on a change: the new one is read anew.
  const changed: Pod = {
    metadata: {
      ...ready.metadata,
      annotations: { [NETWORK_STATUS_ANNOTATION]: status("NotReady", "5.6.7.8") },
    },
  };
  assert.equal(podNetworkSummary(changed).state, "NotReady");
  assert.equal(podNetworkSummary(changed).address, "5.6.7.8");
  assert.deepEqual(podNetworkSummary({ metadata: { name: "new" } }), {
    state: undefined,
    address: undefined,
  });
});
