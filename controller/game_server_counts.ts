/**
 * The game-server Pods by network type, network state and why they are not
 * Ready, for `gamenet_game_servers`: read from the Pod cache at each scrape,
 * so a Pod that holds nothing (a conf gamenet refused late, a pool that was
 * full) counts too. Each Pod's status annotation is parsed once per version
 * of the Pod, not once per scrape.
 *
 * @example
 * ```ts
 * countGameServers(manager.pods.store.values(), registry, (pod) => recent.lastWarning(...));
 * // [{ type: "Kubernetes-HostPort", state: "NotReady", reason: "PortsExhausted", count: 3 }, ...]
 * ```
 * @module
 */

import type { ProviderRegistry } from "../providers/registry.ts";
import type { GameServerCount } from "../providers/view.ts";
import { NETWORK_TYPE_ANNOTATION, type Pod } from "../providers/types.ts";
import { podFinished, podNetworkSummary } from "../providers/pod_status.ts";
import type { RecentEvent } from "./recent_events.ts";

/** The state of a game server whose status gamenet has not written yet. */
export const UNKNOWN_STATE = "Unknown";

/**
 * The Pod's `currentNetworkState` (or {@linkcode UNKNOWN_STATE}), parsed
 * once per Pod object.
 *
 * @example
 * ```ts
 * networkState(pod); // "Ready"
 * ```
 */
export function networkState(pod: Pod): string {
  return podNetworkSummary(pod).state || UNKNOWN_STATE;
}

/**
 * Counts the Pods that name a network type `registry` serves and have not
 * finished, by canonical type, state and, while not `Ready`, the reason
 * of `lastWarning` (else "").
 *
 * @example
 * ```ts
 * const counts = countGameServers(pods, registry, () => undefined);
 * ```
 */
export function countGameServers(
  pods: Iterable<Pod>,
  registry: ProviderRegistry,
  lastWarning: (pod: Pod) => RecentEvent | undefined,
): GameServerCount[] {
  const counts = new Map<string, GameServerCount>();
  for (const pod of pods) {
    const named = pod.metadata.annotations?.[NETWORK_TYPE_ANNOTATION];
    if (named === undefined || podFinished(pod)) continue;
    const provider = registry.get(named);
    if (!provider) continue;
    const state = networkState(pod);
    const reason = state === "Ready" ? "" : lastWarning(pod)?.reason ?? "";
    const key = `${provider.name}\n${state}\n${reason}`;
    const count = counts.get(key);
    if (count) count.count++;
    else counts.set(key, { type: provider.name, state, reason, count: 1 });
  }
  return [...counts.values()];
}
