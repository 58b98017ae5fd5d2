/**
 * What the `/ui` overview shows, as its URL says: the filters of
 * `/allocations` (`namespace`, `node`, `lb`, `type`, `pod`), the game
 * servers' `state`, the `sort` and the `page`, and the pool group shown
 * whole (`pools`, its page `pools_page`). Everything lives in the query
 * string, so a reload, a bookmark or a link keeps it, and a plain GET form
 * sets it without JavaScript.
 *
 * @example
 * ```ts
 * const q = parseOverviewQuery({ node: ["n1"], state: ["NotReady"], page: ["2"] });
 * overviewHref(q, { page: 3 }); // "/ui?node=n1&state=NotReady&page=3"
 * ```
 * @module
 */

import { ALLOCATION_FILTERS, type AllocationFilters } from "../allocations.ts";

/** The orders of the game servers' list. */
export const SORTS = ["name", "state", "type", "node", "address"] as const;

/** One of {@linkcode SORTS}: by that column, then by namespace and name. */
export type Sort = (typeof SORTS)[number];

/** The overview's query. */
export interface OverviewQuery {
  /** Also narrow the stream the page opens. */
  filters: AllocationFilters;
  /** Game servers whose state (or, without one, holding) is any of these. */
  state: string[];
  sort: Sort;
  /** From 1. */
  page: number;
  /** The title of the pool group to show whole (paged); the others show their fullest. */
  pools?: string;
  /** The page of that group's pools, from 1. */
  poolsPage: number;
}

/**
 * Reads the overview's query. Empty values (a form's empty field) and
 * unknown parameters are ignored, and a bad sort or page falls back to the
 * default: a page always renders.
 *
 * @example
 * ```ts
 * parseOverviewQuery({ namespace: [""], sort: ["state"], page: ["x"] });
 * // { filters: {}, state: [], sort: "state", page: 1, poolsPage: 1 }
 * ```
 */
export function parseOverviewQuery(query: Record<string, string[]>): OverviewQuery {
  const values = (name: string) => (query[name] ?? []).map((v) => v.trim()).filter((v) => v);
  const filters: AllocationFilters = {};
  for (const f of ALLOCATION_FILTERS) {
    const v = values(f);
    if (v.length > 0) filters[f] = v;
  }
  const sort = values("sort").at(-1);
  const page = Number(values("page").at(-1) ?? 1);
  const poolsPage = Number(values("pools_page").at(-1) ?? 1);
  const pools = values("pools").at(-1);
  return {
    filters,
    state: values("state"),
    sort: (SORTS as readonly string[]).includes(sort ?? "") ? sort as Sort : "name",
    page: Number.isInteger(page) && page >= 1 ? page : 1,
    ...(pools ? { pools } : {}),
    poolsPage: pools && Number.isInteger(poolsPage) && poolsPage >= 1 ? poolsPage : 1,
  };
}

/**
 * The overview's URL for `query` with `change` applied; defaults are left
 * out, so the plain `/ui` is the unfiltered first page.
 *
 * @example
 * ```ts
 * overviewHref(parseOverviewQuery({}), { sort: "state" }); // "/ui?sort=state"
 * ```
 */
export function overviewHref(query: OverviewQuery, change: Partial<OverviewQuery> = {}): string {
  const q = { ...query, ...change };
  const params = new URLSearchParams();
  for (const f of ALLOCATION_FILTERS) for (const v of q.filters[f] ?? []) params.append(f, v);
  for (const v of q.state) params.append("state", v);
  if (q.sort !== "name") params.set("sort", q.sort);
  if (q.page !== 1) params.set("page", String(q.page));
  if (q.pools) params.set("pools", q.pools);
  if (q.pools && q.poolsPage !== 1) params.set("pools_page", String(q.poolsPage));
  const text = params.toString();
  return text ? `/ui?${text}` : "/ui";
}
