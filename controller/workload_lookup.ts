/**
 * Answers "does this owner of a Pod still exist?" for any kind, through
 * API discovery (kind → resource), so `Fixed` allocations can be kept
 * exactly as long as the StatefulSet, GameServerSet or Agones Fleet that
 * will re-create the Pod. When the API server cannot tell (no such kind
 * served, an error), the answer is `true`: keeping a port a while longer
 * is safe, freeing one a workload still counts on is not.
 *
 * @example
 * ```ts
 * const lookup = new WorkloadLookup(client);
 * await lookup.exists("games", { apiVersion: "apps/v1", kind: "StatefulSet", name: "gs", uid: "…" });
 * ```
 * @module
 */

import { apiPath } from "./api_path.ts";
import { KubeApiError, type KubeClient } from "./kube_client.ts";
import type { OwnerReference } from "../providers/types.ts";

interface ApiResource {
  name: string;
  kind: string;
  namespaced: boolean;
}

/** The lookup: see the module documentation. */
export class WorkloadLookup {
  readonly #client: Pick<KubeClient, "request">;
  /** groupVersion → kind → resource; discovery answers change rarely. */
  readonly #resources = new Map<string, Promise<Map<string, ApiResource>>>();

  constructor(client: Pick<KubeClient, "request">) {
    this.#client = client;
  }

  /**
   * Whether the object `ref` names exists in `namespace` with the same UID
   * (a workload deleted and re-created under the same name is a new one).
   */
  async exists(namespace: string, ref: OwnerReference): Promise<boolean> {
    let resource: ApiResource | undefined;
    try {
      resource = (await this.#discover(ref.apiVersion)).get(ref.kind);
    } catch {
      return true;
    }
    if (!resource) return true;
    const base = apiPath(ref.apiVersion);
    const path = resource.namespaced
      ? `${base}/namespaces/${encodeURIComponent(namespace)}/${resource.name}/${
        encodeURIComponent(ref.name)
      }`
      : `${base}/${resource.name}/${encodeURIComponent(ref.name)}`;
    try {
      const obj = await this.#client.request<{ metadata?: { uid?: string } }>("GET", path);
      return !ref.uid || obj.metadata?.uid === ref.uid;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return false;
      return true;
    }
  }

  #discover(groupVersion: string): Promise<Map<string, ApiResource>> {
    let found = this.#resources.get(groupVersion);
    if (!found) {
      found = this.#client.request<{ resources: ApiResource[] }>("GET", apiPath(groupVersion)).then(
        (
          list,
        ) =>
          new Map(
            list.resources.filter((r) => !r.name.includes("/")).map((r) => [r.kind, r]),
          ),
      );
      // A failed discovery (CRD not installed yet) is tried again next time.
      found.catch(() => this.#resources.delete(groupVersion));
      this.#resources.set(groupVersion, found);
    }
    return found;
  }
}
