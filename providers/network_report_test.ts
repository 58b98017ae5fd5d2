import assert from "node:assert/strict";
import { networkDisabled, waitingReport } from "./network_report.ts";
import { NETWORK_DISABLED_LABEL, type Pod } from "./types.ts";

const pod = (labels?: Record<string, string>, annotations?: Record<string, string>): Pod => ({
  metadata: { name: "gs-0", namespace: "games", labels, annotations },
});

Deno.test("networkDisabled() reads the label as OpenKruiseGame does (Go's ParseBool)", () => {
  for (const yes of ["true", "True", "TRUE", "t", "T", "1"]) {
    assert.equal(networkDisabled(pod({ [NETWORK_DISABLED_LABEL]: yes })), true, yes);
  }
  for (const no of ["false", "0", "yes", "", "on"]) {
    assert.equal(networkDisabled(pod({ [NETWORK_DISABLED_LABEL]: no })), false, no);
  }
  assert.equal(networkDisabled(pod()), false);
});

Deno.test("networkDisabled() does not read an annotation of the same name", () => {
  assert.equal(networkDisabled(pod({}, { [NETWORK_DISABLED_LABEL]: "true" })), false);
});

Deno.test("waitingReport() asks for NotReady when the network is disabled", () => {
  assert.equal(
    waitingReport(pod({ [NETWORK_DISABLED_LABEL]: "True" })).desiredNetworkState,
    "NotReady",
  );
  assert.equal(waitingReport(pod()).desiredNetworkState, "Ready");
});
