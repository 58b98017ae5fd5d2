/**
 * `GET /allocations/stream`: what `/allocations` shows, live, as
 * Server-Sent Events. The same filters (`?node= ?lb= ?namespace= ?pod=
 * ?type=`, see `filterView`); an unknown parameter is a 400.
 *
 * The protocol, for the `/ui` page and for `curl -N`:
 *
 * 1. `retry: 3000`, how long a browser waits before it reconnects;
 * 2. `event: snapshot`, `data: {"pools":[…],"allocations":[…],"generatedAt":"…"}`:
 *    everything the filters match, as `/allocations` would answer, each
 *    pool and row with an `id` (`poolId`, `rowId` of `allocations_feed.ts`);
 * 3. then, at most once per interval (`STREAM_INTERVAL_MS`, 1 s) and
 *    only when something the filters match changed, `event: changes`,
 *    `data: {"pools":[…],"removedPools":[ids],"allocations":[…],"removed":[ids],"generatedAt":"…"}`:
 *    pools and rows new or changed since (whole, with their `id`: replace
 *    the one of that id), and the ids of those gone (or no longer matching
 *    the filters). A thousand changes in a second make one event;
 * 4. `: keep-alive` every `STREAM_KEEP_ALIVE_MS` (15 s), a comment that
 *    parsers ignore.
 *
 * A client that does not keep up loses its pending changes and gets a new
 * `snapshot` when it reads again: a `snapshot` always replaces everything.
 *
 * @example
 * ```sh
 * curl -N 'http://127.0.0.1:8080/allocations/stream?namespace=games'
 * # retry: 3000
 * #
 * # event: snapshot
 * # data: {"pools":[…],"allocations":[…],"generatedAt":"2026-01-01T00:00:00.000Z"}
 * ```
 * @module
 */

import { Hono } from "hono";
import { parseAllocationFilters } from "./allocations.ts";
import type { AllocationsFeed } from "./allocations_feed.ts";

/**
 * `GET /allocations/stream` over `feed` (one feed serves every client).
 * The stream ends when the client goes (`Deno.serve` cancels the body; the
 * request's signal is not used, as it fires only once a response is
 * complete) or at `feed.close()`.
 *
 * @example
 * ```ts
 * const feed = new AllocationsFeed({ view: () => manager.allocations(), version: () => manager.changes });
 * const app = createAllocationsStreamRoute(feed);
 * const res = await app.request("/allocations/stream?node=n1");
 * res.headers.get("content-type"); // "text/event-stream; charset=utf-8"
 * ```
 */
export function createAllocationsStreamRoute(feed: AllocationsFeed): Hono {
  const app = new Hono();
  app.get("/allocations/stream", (c) => {
    const parsed = parseAllocationFilters(c.req.queries());
    if (parsed.error !== undefined) return c.text(`${parsed.error}\n`, 400);
    const body = feed.subscribe(parsed.filters);
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        // A buffering proxy (nginx) would hold the events back.
        "x-accel-buffering": "no",
      },
    });
  });
  return app;
}
