/**
 * Reports every provider gives the same way.
 *
 * @example
 * ```ts
 * return { kind: "requeueAfter", ms: 2_000, report: waitingReport(pod) };
 * ```
 * @module
 */

import { NETWORK_DISABLED_LABEL, type NetworkReport, type Pod } from "./types.ts";

/** Whether the Pod's network is switched off (`game.kruise.io/network-disabled=true`). */
export function networkDisabled(pod: Pod): boolean {
  return pod.metadata.labels?.[NETWORK_DISABLED_LABEL] === "true";
}

/** Nothing to report yet: `Waiting`, no addresses, desired as the disabled label says. */
export function waitingReport(pod: Pod): NetworkReport {
  return {
    currentNetworkState: "Waiting",
    desiredNetworkState: networkDisabled(pod) ? "NotReady" : "Ready",
    internalAddresses: [],
    externalAddresses: [],
  };
}
