/**
 * What a Pod says about itself that gamenet reads in several places: its
 * `game.kruise.io/network-status` annotation, and whether it has finished
 * (a finished Pod holds nothing: its ports go back).
 *
 * @example
 * ```ts
 * if (podFinished(pod)) await provider.release(owner);
 * readPodStatus(pod)?.currentNetworkState; // "Ready"
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
