/**
 * One `/allocations` row for tests of what reads the view (the stream, the
 * page): a Ready HostPort game server on node `n1` holding UDP 8000, its
 * owner its own key; `extra` replaces any of that.
 *
 * @example
 * ```ts
 * allocationRow("games", "gs-0", { state: "NotReady", reason: "PortsExhausted" });
 * ```
 * @module
 */

import type { AllocationView } from "../../providers/view.ts";

/** See the module documentation. */
export function allocationRow(
  namespace: string,
  pod: string,
  extra: Partial<AllocationView> = {},
): AllocationView {
  return {
    type: "Kubernetes-HostPort",
    namespace,
    pod,
    owner: `${namespace}/${pod}`,
    node: "n1",
    ports: [{ port: 8000, protocol: "UDP" }],
    state: "Ready",
    ...extra,
  };
}
