/**
 * `GET /allocations`: every pool with its use and every Pod with its ports,
 * for `curl` and for support. The view holds ports, addresses and names
 * only: there are no secrets in it, and none may be added (no cloud
 * credentials, no conf values beyond ports).
 *
 * @example
 * ```sh
 * curl 'gamenet-metrics.gamenet-system:8080/allocations?node=n1&format=table'
 * ```
 * @module
 */

import { Hono } from "hono";
import type { AllocationsView, AllocationView, PoolView } from "../providers/view.ts";

export type { AllocationsView, AllocationView, PoolView, PortView } from "../providers/view.ts";

/** Options of {@linkcode createAllocationsRoute}. */
export interface AllocationsOptions {
  /** Read at every request; must be cheap and must not block. */
  view: () => AllocationsView;
  /** @default {() => new Date()} */
  now?: () => Date;
}

/** The query parameters that filter `/allocations` and `/allocations/stream`. */
export const ALLOCATION_FILTERS = ["node", "lb", "namespace", "pod", "type"] as const;

/** Filter name → the values any of which a row must have; absent filters match everything. */
export type AllocationFilters = Partial<Record<(typeof ALLOCATION_FILTERS)[number], string[]>>;

/**
 * Reads the filters of a query (as `c.req.queries()` gives it). Any other
 * parameter than the filters and `others` is an error, for a person who
 * mistyped one: its message names it and the allowed ones.
 *
 * @example
 * ```ts
 * parseAllocationFilters({ node: ["n1"], format: ["table"] }, ["format"]);
 * // { filters: { node: ["n1"] } }
 * parseAllocationFilters({ nod: ["n1"] }).error; // 'Unknown query parameter "nod": allowed are …'
 * ```
 */
export function parseAllocationFilters(
  query: Record<string, string[]>,
  others: readonly string[] = [],
): { filters: AllocationFilters; error?: undefined } | { error: string } {
  const allowed: readonly string[] = [...ALLOCATION_FILTERS, ...others];
  const unknown = Object.keys(query).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) {
    return {
      error: `Unknown query parameter ${unknown.map((k) => `"${k}"`).join(", ")}: ` +
        `allowed are ${allowed.join(", ")}`,
    };
  }
  const filters: AllocationFilters = {};
  for (const f of ALLOCATION_FILTERS) if (query[f]) filters[f] = query[f];
  return { filters };
}

/**
 * `GET /allocations`, filtered by `?node= ?lb= ?namespace= ?pod= ?type=`.
 * Filters combine with AND; a repeated filter matches any of its values;
 * `type` ignores case. `node` and `lb` filter the pools too. `?format=table`
 * answers an aligned plain-text table (as `kubectl get`), otherwise JSON
 * `{pools, allocations, generatedAt}`. Unknown parameters are a 400.
 *
 * @example
 * ```ts
 * const app = createAllocationsRoute({ view: () => ({ pools: [], allocations: [] }) });
 * await (await app.request("/allocations?namespace=games")).json();
 * ```
 */
export function createAllocationsRoute(options: AllocationsOptions): Hono {
  const now = options.now ?? (() => new Date());
  const app = new Hono();
  app.get("/allocations", (c) => {
    const query = c.req.queries();
    const parsed = parseAllocationFilters(query, ["format"]);
    if (parsed.error !== undefined) return c.text(`${parsed.error}\n`, 400);
    const formats = query.format ?? ["json"];
    const format = formats[formats.length - 1];
    if (format !== "json" && format !== "table") {
      return c.text(`Unknown format "${format}": use format=json or format=table\n`, 400);
    }
    const { pools, allocations } = filterView(options.view(), parsed.filters);
    if (format === "table") return c.text(renderTable(pools, allocations));
    return c.json({ pools, allocations, generatedAt: now().toISOString() });
  });
  return app;
}

/**
 * The pools and rows that `filters` match, sorted (pools by kind, key and
 * range; rows by namespace and Pod). Filters combine with AND; a repeated
 * filter matches any of its values; `type` ignores case; `node` and `lb`
 * filter the pools too. The rows are the view's own objects, not copies.
 *
 * @example
 * ```ts
 * filterView(manager.allocations(), { node: ["n1"] }).allocations; // the rows on n1
 * ```
 */
export function filterView<P extends PoolView, A extends AllocationView>(
  view: { pools: readonly P[]; allocations: readonly A[] },
  f: AllocationFilters,
): { pools: P[]; allocations: A[] } {
  const is = (values: string[] | undefined, v: string | undefined) =>
    !values || values.includes(v ?? "");
  const types = f.type?.map((t) => t.toLowerCase());
  const pools = view.pools.filter((p) =>
    is(f.node, p.kind === "node" ? p.key : undefined) &&
    is(f.lb, p.kind === "lb" ? p.key : undefined)
  );
  const allocations = view.allocations.filter((a) =>
    is(f.node, a.node) && is(f.lb, a.lb) && is(f.namespace, a.namespace) &&
    is(f.pod, a.pod) && is(types, a.type.toLowerCase())
  );
  // Sorted so that two requests compare line by line (`diff`, `watch`).
  pools.sort((a, b) => cmp(a.kind, b.kind) || cmp(a.key, b.key) || cmp(a.range, b.range));
  allocations.sort((a, b) => cmp(a.namespace, b.namespace) || cmp(a.pod, b.pod));
  return { pools, allocations };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Renders the allocations, a blank line, and the pools, as `kubectl get`
 * does: capital headers, columns three spaces apart, `<none>` for empty.
 *
 * @example
 * ```ts
 * renderTable([], []);
 * // "NAMESPACE   POD   TYPE   NODE/LB   ADDRESS   PORTS   STATE\n\nKIND   KEY   RANGE   …"
 * ```
 */
export function renderTable(pools: PoolView[], allocations: AllocationView[]): string {
  const none = (v: string | undefined) => v || "<none>";
  const rows = allocations.map((a) => [
    a.namespace,
    a.pod,
    a.type,
    none(a.node ?? a.lb),
    none(a.address),
    none(a.ports.map((p) => `${p.port}/${p.protocol}`).join(",")),
    none(a.state ?? a.holding),
  ]);
  const poolRows = pools.map((p) => [
    p.kind,
    p.key,
    `${p.range}${p.protocol ? `/${p.protocol}` : ""}${p.rangeName ? ` (${p.rangeName})` : ""}`,
    String(p.used),
    String(p.free),
    String(p.delayed),
  ]);
  return align([["NAMESPACE", "POD", "TYPE", "NODE/LB", "ADDRESS", "PORTS", "STATE"], ...rows]) +
    "\n" + align([["KIND", "KEY", "RANGE", "USED", "FREE", "DELAYED"], ...poolRows]);
}

function align(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) =>
    r.map((cell, i) => i === r.length - 1 ? cell : cell.padEnd(widths[i] + 3)).join("") + "\n"
  ).join("");
}
