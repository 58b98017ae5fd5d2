/**
 * Builds what `GET /allocations` shows from the allocators themselves (not
 * from what Pods say), joined with the cached Pods for names and status:
 * a port held for a Pod that is gone shows up as a row with no Pod, which
 * is how a leak is seen.
 *
 * @example
 * ```ts
 * const view = () => buildAllocationsView(registry, controller.tracked, (k) => pods.get(k));
 * createApp({ allocations: view, ... });
 * ```
 * @module
 */

import type {
  AllocationCounts,
  AllocationsView,
  AllocationView,
  HoldingView,
  PoolView,
} from "../providers/view.ts";
import type { ProviderRegistry } from "../providers/registry.ts";
import type { Pod } from "../providers/types.ts";
import { podNetworkSummary, readPodStatus } from "../providers/pod_status.ts";
import type { Admission } from "./admission_ledger.ts";
import type { RecentEvent } from "./recent_events.ts";

/** A Pod the controller tracks: its provider and its allocation key. */
export interface TrackedPod {
  provider: { readonly name: string };
  owner: string;
}

/** The type shown for host ports of Pods gamenet does not manage. */
export const UNMANAGED_TYPE = "Unmanaged";

function splitKey(key: string): { namespace: string; pod: string } {
  const slash = key.indexOf("/");
  return { namespace: key.slice(0, slash), pod: key.slice(slash + 1) };
}

/** The pools named after their network type: two types may pool the same node or range. */
function ofType(pools: PoolView[], type: string): PoolView[] {
  return pools.map((p) => ({ ...p, type }));
}

/** See the module documentation. */
export function buildAllocationsView(
  registry: ProviderRegistry,
  tracked: ReadonlyMap<string, TrackedPod>,
  pod: (key: string) => Pod | undefined,
  admission: (owner: string) => Admission | undefined = () => undefined,
  lastWarning: (pod: Pod) => RecentEvent | undefined = () => undefined,
): AllocationsView {
  const keyOfOwner = new Map<string, string>();
  for (const [key, t] of tracked) keyOfOwner.set(t.owner, key);
  const view: AllocationsView = { pools: [], allocations: [] };
  const byOwner = new Map<string, AllocationView>();

  const describe = (key: string, type: string, owner: string): AllocationView => {
    const p = pod(key);
    const status = p ? podNetworkSummary(p) : undefined;
    const row: AllocationView = {
      type,
      ...splitKey(key),
      owner,
      node: p?.spec?.nodeName,
      ports: [],
      address: status?.address,
      state: status?.state,
    };
    // Why it is not Ready is what gamenet last warned about it; a Ready
    // row's old warning would only mislead.
    const warning = p && row.state !== "Ready" ? lastWarning(p) : undefined;
    if (warning) {
      row.reason = warning.reason;
      row.message = warning.message;
    }
    return row;
  };

  /** A row for a holding no tracked Pod explains. */
  const unexplained = (h: HoldingView, type: string): AllocationView => {
    if (h.kind === "unmanaged" && h.pod) {
      return { ...describe(h.pod, UNMANAGED_TYPE, h.owner), holding: "unmanaged" };
    }
    if (h.kind === "parked" && h.pod) {
      return { ...describe(h.pod, type, h.owner), holding: "parked" };
    }
    // Admitted, Pod not seen yet; or a leak, if it stays.
    const a = admission(h.owner);
    return {
      type,
      namespace: a?.namespace ?? "",
      pod: a?.pod ?? "",
      owner: h.owner,
      holding: a ? "admission" : "unknown",
      ports: [],
    };
  };

  for (const provider of registry.all) {
    if (!provider.view) continue;
    const { pools, holdings } = provider.view();
    view.pools.push(...ofType(pools, provider.name));
    for (const h of holdings) {
      let row = byOwner.get(h.owner);
      if (!row) {
        const key = keyOfOwner.get(h.owner) ?? (h.kind === "managed" ? h.pod : undefined);
        row = key && pod(key)
          ? describe(key, provider.name, h.owner)
          : unexplained(h, provider.name);
        byOwner.set(h.owner, row);
        view.allocations.push(row);
      }
      if (h.node) row.node = h.node;
      if (h.lb) row.lb = h.lb;
      if (h.objects) row.objects = [...(row.objects ?? []), ...h.objects];
      row.ports.push(...h.ports);
    }
  }
  // Types without an allocator (Kubernetes-None): what the Pod reports.
  for (const [key, t] of tracked) {
    if (byOwner.has(t.owner) || registry.get(t.provider.name)?.view) continue;
    const row = describe(key, t.provider.name, t.owner);
    const p = pod(key);
    // Only these rows read the ports a Pod reports; parsed here, not kept per Pod.
    const external = p ? readPodStatus(p)?.externalAddresses?.[0] : undefined;
    row.ports = (external?.ports ?? []).map((port) => ({
      name: port.name,
      port: port.port,
      protocol: port.protocol,
    }));
    view.allocations.push(row);
  }
  for (const row of view.allocations) {
    row.ports.sort((a, b) => a.port - b.port || (a.protocol < b.protocol ? -1 : 1));
  }
  return view;
}

/**
 * The pools, and the number of rows of each type that
 * {@linkcode buildAllocationsView} would make, by the same rules but
 * without building the rows (no Pod status is read): a Prometheus scrape
 * at 120,000 Pods took over 5 s of the event loop through the whole view.
 *
 * @example
 * ```ts
 * const { byType } = countAllocations(registry, controller.tracked, (k) => pods.get(k));
 * byType.get("Kubernetes-HostPort");
 * ```
 */
export function countAllocations(
  registry: ProviderRegistry,
  tracked: ReadonlyMap<string, TrackedPod>,
  pod: (key: string) => Pod | undefined,
): AllocationCounts {
  const keyOfOwner = new Map<string, string>();
  for (const [key, t] of tracked) keyOfOwner.set(t.owner, key);
  const counts: AllocationCounts = { pools: [], byType: new Map() };
  const seen = new Set<string>();
  const count = (type: string) => counts.byType.set(type, (counts.byType.get(type) ?? 0) + 1);
  for (const provider of registry.all) {
    if (!provider.view) continue;
    const { pools, holdings } = provider.view();
    counts.pools.push(...ofType(pools, provider.name));
    for (const h of holdings) {
      if (seen.has(h.owner)) continue;
      seen.add(h.owner);
      const key = keyOfOwner.get(h.owner) ?? (h.kind === "managed" ? h.pod : undefined);
      const explained = key !== undefined && pod(key) !== undefined;
      count(!explained && h.kind === "unmanaged" && h.pod ? UNMANAGED_TYPE : provider.name);
    }
  }
  for (const t of tracked.values()) {
    if (!seen.has(t.owner) && !registry.get(t.provider.name)?.view) count(t.provider.name);
  }
  return counts;
}
