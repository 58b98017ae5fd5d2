/**
 * Writes a Pod's NetworkStatus where users read it: the Pod annotation
 * `game.kruise.io/network-status`, the OpenKruiseGame `GameServer` of the
 * same name (`status.networkStatus`, status subresource), and the Agones
 * `GameServer` the Pod's `agones.dev/gameserver` label names (an
 * annotation). Each write is a merge patch of only that field, and only
 * when what is there differs, so an unchanged world costs no request.
 *
 * @example
 * ```ts
 * const writer = new StatusWriter(client);
 * await writer.writePod(pod, status);
 * ```
 * @module
 */

import { KubeApiError, type KubeClient } from "./kube_client.ts";
import { NETWORK_STATUS_ANNOTATION, type NetworkStatus, type Pod } from "../providers/types.ts";
import { readPodStatus } from "../providers/pod_status.ts";
import { sameJson } from "../providers/same_json.ts";

export { readPodStatus };

/** Label Agones puts on a GameServer's Pod, naming the GameServer. */
export const AGONES_GAMESERVER_LABEL = "agones.dev/gameserver";

/** An OpenKruiseGame GameServer, as far as gamenet reads it. */
export interface KruiseGameServer {
  metadata: { name: string; namespace: string; uid?: string };
  status?: { networkStatus?: Partial<NetworkStatus> };
}

/** An Agones GameServer, as far as gamenet reads it. */
export interface AgonesGameServer {
  metadata: { name: string; namespace: string; annotations?: Record<string, string> };
}

/** Equal as JSON, key order aside: nothing to write. */
export function sameStatus(a: unknown, b: unknown): boolean {
  return sameJson(a, b);
}

/**
 * What gamenet writes to an OpenKruiseGame GameServer's
 * `status.networkStatus`: the Pod's status, but with the GameServer's own
 * `createTime`, and its `lastTransitionTime` while neither state changed.
 * OpenKruiseGame's GameServer controller writes this field too, from the
 * same Pod annotation, keeping its own times (`syncNetworkStatus`): with
 * both arriving at the same object, neither rewrites the other's.
 *
 * @example
 * ```ts
 * kruiseNetworkStatus(gs.status?.networkStatus, podStatus);
 * ```
 */
export function kruiseNetworkStatus(
  current: Partial<NetworkStatus> | undefined,
  status: NetworkStatus,
): NetworkStatus {
  if (!current?.createTime) return status;
  const sameStates = current.currentNetworkState === status.currentNetworkState &&
    current.desiredNetworkState === status.desiredNetworkState;
  return {
    ...status,
    createTime: current.createTime,
    lastTransitionTime: sameStates && current.lastTransitionTime
      ? current.lastTransitionTime
      : status.lastTransitionTime,
  };
}

/** The writer: see the module documentation. */
export class StatusWriter {
  readonly #client: KubeClient;

  constructor(client: KubeClient) {
    this.#client = client;
  }

  /**
   * Writes the Pod annotation unless it already holds `status` (`current`:
   * what it holds, when the caller knows better than `pod`). Returns
   * `false` when nothing was written, else the Pod's resourceVersion after
   * the write.
   */
  async writePod(
    pod: Pod,
    status: NetworkStatus,
    current: NetworkStatus | undefined = readPodStatus(pod),
  ): Promise<false | string> {
    if (sameStatus(current, status)) return false;
    const { namespace, name, uid } = pod.metadata;
    const written = await this.#client.request<Pod>(
      "PATCH",
      `/api/v1/namespaces/${namespace}/pods/${name}`,
      {
        contentType: "application/merge-patch+json",
        // The UID makes the patch fail (409) on a new Pod that took the name meanwhile.
        body: {
          metadata: { uid, annotations: { [NETWORK_STATUS_ANNOTATION]: JSON.stringify(status) } },
        },
      },
    );
    return written.metadata.resourceVersion ?? "";
  }

  /**
   * Writes `status.networkStatus` of an OpenKruiseGame GameServer (see
   * {@linkcode kruiseNetworkStatus}) unless it already holds it.
   */
  async writeKruiseGameServer(gs: KruiseGameServer, status: NetworkStatus): Promise<boolean> {
    const next = kruiseNetworkStatus(gs.status?.networkStatus, status);
    if (sameStatus(gs.status?.networkStatus, next)) return false;
    const path =
      `/apis/game.kruise.io/v1alpha1/namespaces/${gs.metadata.namespace}/gameservers/${gs.metadata.name}/status`;
    return await this.#patchIgnoringGone(path, { status: { networkStatus: next } });
  }

  /** Writes the network-status annotation of an Agones GameServer unless it already holds it. */
  async writeAgonesGameServer(gs: AgonesGameServer, status: NetworkStatus): Promise<boolean> {
    const current = gs.metadata.annotations?.[NETWORK_STATUS_ANNOTATION];
    if (current && sameStatus(JSON.parse(current), status)) return false;
    const path =
      `/apis/agones.dev/v1/namespaces/${gs.metadata.namespace}/gameservers/${gs.metadata.name}`;
    return await this.#patchIgnoringGone(path, {
      metadata: { annotations: { [NETWORK_STATUS_ANNOTATION]: JSON.stringify(status) } },
    });
  }

  async #patchIgnoringGone(path: string, body: unknown): Promise<boolean> {
    try {
      await this.#client.request("PATCH", path, {
        contentType: "application/merge-patch+json",
        body,
      });
      return true;
    } catch (err) {
      // Deleted between the cache read and the write: nothing left to report on.
      if (err instanceof KubeApiError && err.status === 404) return false;
      throw err;
    }
  }
}
