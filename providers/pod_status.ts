/**
 * What a Pod says about itself that gamenet reads in several places: its
 * `game.kruise.io/network-status` annotation, and whether it has finished
 * (a finished Pod holds nothing: its ports go back).
 *
 * @example
 * ```ts
 * if (podFinished(pod)) await provider.release(owner);
 * readPodStatus(pod)?.currentNetworkState; // "Ready"
 * podNetworkSummary(pod).address; // "203.0.113.7", parsed once for this Pod object
 * ```
 * @module
 */

import { NETWORK_STATUS_ANNOTATION, type NetworkStatus, type Pod } from "./types.ts";

/** Whether the Pod is gone or has run to its end (`Succeeded` or `Failed`). */
export function podFinished(pod: Pod | undefined): boolean {
  const phase = pod?.status?.phase;
  return !pod || phase === "Succeeded" || phase === "Failed";
}

/** The Pod's network-status annotation, parsed (undefined when absent or unreadable). */
export function readPodStatus(pod: Pod): NetworkStatus | undefined {
  const raw = pod.metadata.annotations?.[NETWORK_STATUS_ANNOTATION];
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as NetworkStatus;
  } catch {
    return undefined;
  }
}

/** What `/allocations`, the page and the metrics read of every Pod's network status. */
export interface PodNetworkSummary {
  /** `currentNetworkState`; undefined before gamenet wrote one. */
  state?: string;
  /** The first external address's IP, as `/allocations` shows it. */
  address?: string;
}

/**
 * Summaries by Pod object. The informer cache replaces a Pod's object on
 * every change and never edits one, so a summary cannot go stale, and a Pod
 * gone from the cache takes its entry with it. Views and scrapes read every
 * Pod each time; parsing each status again was most of their cost (1.6 s of
 * 13.5 s of CPU in a run that opened `/ui` ten times at 20,000 game
 * servers). Two strings, the state shared: about 130 bytes a game server
 * with its map entry (the whole first address, ports and all, was 300).
 */
const summaries = new WeakMap<Pod, PodNetworkSummary>();

/** The states gamenet writes, one string each for every summary. */
const STATES = new Map(
  ["Ready", "NotReady", "Waiting"].map((s) => [s, s]),
);

/**
 * The state and first external IP of the Pod's network status, parsed
 * once per Pod object (see {@linkcode readPodStatus} for the whole status,
 * parsed at every call). Treat the result as read-only: it is shared.
 *
 * @example
 * ```ts
 * podNetworkSummary(pod).state; // "Ready"
 * ```
 */
export function podNetworkSummary(pod: Pod): PodNetworkSummary {
  let summary = summaries.get(pod);
  if (!summary) {
    const status = readPodStatus(pod);
    const state = status?.currentNetworkState;
    summary = {
      state: state === undefined ? undefined : STATES.get(state) ?? state,
      address: status?.externalAddresses?.[0]?.ip,
    };
    summaries.set(pod, summary);
  }
  return summary;
}
