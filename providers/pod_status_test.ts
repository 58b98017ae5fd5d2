import assert from "node:assert/strict";
import { podFinished, readPodStatus } from "./pod_status.ts";
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
