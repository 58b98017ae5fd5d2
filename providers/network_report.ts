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

/**
 * What Go's `strconv.ParseBool` reads as true: OpenKruiseGame parses the
 * label with it, and the two controllers must agree on the desired state.
 */
const TRUE_WORDS = new Set(["1", "t", "T", "TRUE", "true", "True"]);

/**
 * Whether the Pod's network is switched off: the label
 * `game.kruise.io/network-disabled` (a label, as OpenKruiseGame sets and
 * reads it; an annotation of that name is not read) says true.
 */
export function networkDisabled(pod: Pod): boolean {
  const value = pod.metadata.labels?.[NETWORK_DISABLED_LABEL];
  return value !== undefined && TRUE_WORDS.has(value);
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
