/**
 * The data of the `/ui` overview, computed from the allocations view for
 * one {@linkcode OverviewQuery}: what needs attention, the counts, the
 * pools grouped by network type, kind and range, and one page of game
 * servers. No HTML here: `overview_page.tsx` renders it, and the page's
 * script applies the same rules ({@linkcode ATTENTION_USE}, the attention
 * order) to the stream's changes.
 *
 * @example
 * ```ts
 * const overview = buildOverview(manager.allocations(), parseOverviewQuery({ state: ["NotReady"] }));
 * overview.attention.servers.length;
 * ```
 * @module
 */

import type { AllocationsView, AllocationView, PoolView, PortView } from "../../providers/view.ts";
import { filterView } from "../allocations.ts";
import { poolId, rowId, type StreamPool, type StreamRow } from "../allocations_feed.ts";
import type { OverviewQuery } from "./overview_query.ts";

/** A pool at least this used (used and delayed over its size) needs attention. */
export const ATTENTION_USE = 0.9;
/** Game servers per page, by default. */
export const PAGE_SIZE = 200;
/**
 * Pool cells a group shows at most, the fullest first: at 2,000 nodes a
 * group has 2,000 pools, more than a page can carry or a person can read,
 * and its summary already counts them all by use.
 */
export const POOL_CELL_LIMIT = 100;
/** Pools per page of a group shown whole (`?pools=<group>`). */
export const POOL_PAGE_SIZE = 500;
/** Items of each kind listed under "Needs attention" at most (the rest are counted). */
export const ATTENTION_LIMIT = 50;
/** States of a game server that need attention, in the order they are listed. */
export const ATTENTION_STATES = ["NotReady", "Waiting"] as const;

/** Options of {@linkcode buildOverview}. */
export interface OverviewOptions {
  /** @default {PAGE_SIZE} */
  pageSize?: number;
  /** @default {POOL_CELL_LIMIT} */
  poolCellLimit?: number;
  /** @default {POOL_PAGE_SIZE} */
  poolPageSize?: number;
  /** What the last restore could not reconcile. @default {[]} */
  conflicts?: readonly { message: string }[];
}

/** A group of pools of one network type, kind and range. */
export interface PoolGroup {
  /** E.g. `Kubernetes-HostPort · node · 8000-9000 (default)`. */
  title: string;
  /** The pools shown, in {@linkcode comparePools} order: the fullest, or a page of all. */
  pools: StreamPool[];
  /** All the group's pools summed up, shown or not. */
  summary: PoolGroupSummary;
  /** Whether the query asked for this whole group (`?pools=<title>`). */
  whole: boolean;
  /** The page of the whole group, from 1 (1 of 1 when not whole). */
  page: number;
  pages: number;
}

/** A group's pools counted and summed. */
export interface PoolGroupSummary {
  pools: number;
  used: number;
  free: number;
  delayed: number;
  /** Pools per {@linkcode useBand}, index 0 to 4. */
  bands: [number, number, number, number, number];
}

/** What the overview shows. */
export interface Overview {
  attention: {
    /** Game servers NotReady, then Waiting, by name (at most {@linkcode ATTENTION_LIMIT}). */
    servers: StreamRow[];
    /** Exhausted pools first, then the fullest. */
    pools: StreamPool[];
    /** Admissions whose Pod is not seen (yet). */
    admissions: StreamRow[];
    conflicts: readonly { message: string }[];
    /** How many of each kind there are in all. */
    totals: { servers: number; pools: number; admissions: number };
  };
  /** Game servers by state (or holding) within the filters, state filter aside. */
  states: Record<string, number>;
  /** Game servers within the filters, state filter aside. */
  total: number;
  poolGroups: PoolGroup[];
  /** The network types seen, for the type filter. */
  types: string[];
  /** The game servers of this page. */
  rows: StreamRow[];
  /** Game servers the whole query matches (all pages). */
  matching: number;
  page: number;
  pages: number;
}

/**
 * What a row's state column says: the network state, or what the row holds
 * when it is not a live Pod's network (`admission`, `unmanaged`, …).
 *
 * @example
 * ```ts
 * rowState({ type: "x", namespace: "a", pod: "b", owner: "o", ports: [], holding: "admission" }); // "admission"
 * ```
 */
export function rowState(row: AllocationView): string {
  return row.holding ?? row.state ?? "unknown";
}

/**
 * How used a pool is, from 0 to 1: ports used or held back by the reuse
 * delay, over all its ports.
 *
 * @example
 * ```ts
 * poolUse({ kind: "node", key: "n1", range: "8000-8009", used: 9, free: 0, delayed: 1 }); // 1
 * ```
 */
export function poolUse(pool: PoolView): number {
  const size = pool.used + pool.free + pool.delayed;
  return size === 0 ? 1 : (pool.used + pool.delayed) / size;
}

/**
 * A pool's colour band: 0 under 50 % used, 1 under 75 %, 2 under
 * {@linkcode ATTENTION_USE}, 3 above, 4 exhausted (no port free).
 *
 * @example
 * ```ts
 * useBand({ kind: "node", key: "n1", range: "8000-8009", used: 5, free: 5, delayed: 0 }); // 1
 * ```
 */
export function useBand(pool: PoolView): 0 | 1 | 2 | 3 | 4 {
  const use = poolUse(pool);
  if (pool.free === 0) return 4;
  return use >= ATTENTION_USE ? 3 : use >= 0.75 ? 2 : use >= 0.5 ? 1 : 0;
}

/**
 * The detail page of a game server.
 *
 * @example
 * ```ts
 * podHref("games", "gs-0"); // "/ui/pods/games/gs-0"
 * ```
 */
export function podHref(namespace: string, pod: string): string {
  return `/ui/pods/${encodeURIComponent(namespace)}/${encodeURIComponent(pod)}`;
}

/**
 * Ports as a person reads them.
 *
 * @example
 * ```ts
 * portsText([{ port: 8000, protocol: "UDP" }, { port: 8001, protocol: "TCP" }]); // "8000/UDP, 8001/TCP"
 * ```
 */
export function portsText(ports: readonly PortView[]): string {
  return ports.map((p) => `${p.port}/${p.protocol}`).join(", ");
}

/**
 * The order of a group's cells: exhausted first, then by use descending,
 * then by key (and protocol), so what needs attention leads.
 *
 * @example
 * ```ts
 * pools.sort(comparePools);
 * ```
 */
export function comparePools(a: PoolView, b: PoolView): number {
  return (a.free === 0 ? 0 : 1) - (b.free === 0 ? 0 : 1) || poolUse(b) - poolUse(a) ||
    cmp(a.key, b.key) || cmp(a.protocol ?? "", b.protocol ?? "");
}

/**
 * Counts and sums pools for a group's header.
 *
 * @example
 * ```ts
 * summarizePools([{ kind: "node", key: "n1", range: "8000-8009", used: 9, free: 0, delayed: 1 }]);
 * // { pools: 1, used: 9, free: 0, delayed: 1, bands: [0, 0, 0, 0, 1] }
 * ```
 */
export function summarizePools(pools: readonly PoolView[]): PoolGroupSummary {
  const s: PoolGroupSummary = { pools: 0, used: 0, free: 0, delayed: 0, bands: [0, 0, 0, 0, 0] };
  for (const p of pools) {
    s.pools++;
    s.used += p.used;
    s.free += p.free;
    s.delayed += p.delayed;
    s.bands[useBand(p)]++;
  }
  return s;
}

/**
 * The title of a pool's group.
 *
 * @example
 * ```ts
 * poolGroupTitle({ type: "Kubernetes-HostPort", kind: "node", key: "n1", range: "8000-9000", protocol: "TCP", used: 0, free: 1001, delayed: 0 });
 * // "Kubernetes-HostPort · node · 8000-9000/TCP"
 * ```
 */
export function poolGroupTitle(pool: PoolView): string {
  return `${pool.type ?? "?"} · ${pool.kind} · ${pool.range}` +
    (pool.protocol ? `/${pool.protocol}` : "") + (pool.rangeName ? ` (${pool.rangeName})` : "");
}

/** See the module documentation. */
export function buildOverview(
  view: AllocationsView,
  query: OverviewQuery,
  options: OverviewOptions = {},
): Overview {
  const pageSize = options.pageSize ?? PAGE_SIZE;
  const cellLimit = options.poolCellLimit ?? POOL_CELL_LIMIT;
  const poolPageSize = options.poolPageSize ?? POOL_PAGE_SIZE;
  const scoped = filterView(
    {
      pools: view.pools.map((p): StreamPool => ({ ...p, id: poolId(p) })),
      allocations: view.allocations.map((r): StreamRow => ({ ...r, id: rowId(r) })),
    },
    query.filters,
  );
  const states: Record<string, number> = {};
  for (const r of scoped.allocations) states[rowState(r)] = (states[rowState(r)] ?? 0) + 1;

  const servers = scoped.allocations
    .filter((r) => !r.holding && (ATTENTION_STATES as readonly string[]).includes(r.state ?? ""))
    .sort((a, b) =>
      ATTENTION_STATES.indexOf(a.state as never) - ATTENTION_STATES.indexOf(b.state as never)
    );
  const fullPools = scoped.pools
    .filter((p) => poolUse(p) >= ATTENTION_USE)
    .sort((a, b) => (a.free === 0 ? 0 : 1) - (b.free === 0 ? 0 : 1) || poolUse(b) - poolUse(a));
  const admissions = scoped.allocations.filter((r) => r.holding === "admission");

  const byTitle = new Map<string, StreamPool[]>();
  for (const p of scoped.pools) {
    const title = poolGroupTitle(p);
    const pools = byTitle.get(title);
    if (pools) pools.push(p);
    else byTitle.set(title, [p]);
  }
  const poolGroups = [...byTitle].map(([title, pools]): PoolGroup => {
    pools.sort(comparePools);
    const summary = summarizePools(pools);
    if (title !== query.pools) {
      return { title, pools: pools.slice(0, cellLimit), summary, whole: false, page: 1, pages: 1 };
    }
    const pages = Math.max(1, Math.ceil(pools.length / poolPageSize));
    const page = Math.min(query.poolsPage, pages);
    const shown = pools.slice((page - 1) * poolPageSize, page * poolPageSize);
    return { title, pools: shown, summary, whole: true, page, pages };
  });

  const matching = query.state.length === 0
    ? scoped.allocations
    : scoped.allocations.filter((r) => query.state.includes(rowState(r)));
  const sorted = sortRows(matching, query.sort);
  const pages = Math.max(1, Math.ceil(sorted.length / pageSize));
  const page = Math.min(query.page, pages);

  return {
    attention: {
      servers: servers.slice(0, ATTENTION_LIMIT),
      pools: fullPools.slice(0, ATTENTION_LIMIT),
      admissions: admissions.slice(0, ATTENTION_LIMIT),
      conflicts: options.conflicts ?? [],
      totals: { servers: servers.length, pools: fullPools.length, admissions: admissions.length },
    },
    states,
    total: scoped.allocations.length,
    poolGroups: poolGroups.sort((a, b) => cmp(a.title, b.title)),
    types: [...new Set(view.allocations.map((r) => r.type))].sort(),
    rows: sorted.slice((page - 1) * pageSize, page * pageSize),
    matching: sorted.length,
    page,
    pages,
  };
}

function sortRows(rows: StreamRow[], sort: OverviewQuery["sort"]): StreamRow[] {
  const column: Record<OverviewQuery["sort"], (r: StreamRow) => string> = {
    name: () => "",
    state: rowState,
    type: (r) => r.type,
    node: (r) => r.node ?? r.lb ?? "",
    address: (r) => r.address ?? "",
  };
  const key = column[sort];
  // filterView sorted them by namespace and name already; a stable sort keeps that within a column.
  return sort === "name" ? rows : [...rows].sort((a, b) => cmp(key(a), key(b)));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
