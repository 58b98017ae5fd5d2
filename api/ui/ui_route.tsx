/**
 * `GET /ui`, a live page of every pool and game server, and
 * `GET /ui/pods/:namespace/:name`, one game server's detail. Served from
 * the module graph (stylesheet and script inline), rendered on the server
 * with `hono/jsx`: the page reads without JavaScript, and its script keeps
 * it current over `/allocations/stream`. It shows what `/allocations`
 * shows, plus for one Pod its network annotations and gamenet's recent
 * Events about it; nothing else of a Pod, never a secret.
 *
 * @example
 * ```ts
 * const app = createUiRoute({
 *   allocations: () => manager.allocations(),
 *   pod: (ns, name) => manager.pod(ns, name),
 *   recentEvents: (ns, name, uid) => manager.recentEvents(ns, name, uid),
 *   restoreConflicts: () => manager.restoreConflicts(),
 * });
 * (await app.request("/ui?state=NotReady")).status; // 200
 * ```
 * @module
 */

import { Hono } from "hono";
import type { Context } from "hono";
import type { RecentEvent } from "../../controller/recent_events.ts";
import type { Pod } from "../../providers/types.ts";
import type { AllocationsView } from "../../providers/view.ts";
import { filterView } from "../allocations.ts";
import { LIVE_SCRIPT } from "./live_script.ts";
import { buildOverview } from "./overview.ts";
import { OverviewPage } from "./overview_page.tsx";
import { parseOverviewQuery } from "./overview_query.ts";
import { PodPage } from "./pod_page.tsx";
import { Layout } from "./layout.tsx";

/** Dependencies of {@linkcode createUiRoute}. */
export interface UiDeps {
  /** The allocations view, as `/allocations` shows it; read at every page. */
  allocations: () => AllocationsView;
  /** A cached Pod by namespace and name. */
  pod: (namespace: string, name: string) => Pod | undefined;
  /** The Events gamenet recorded lately about a Pod, oldest first. */
  recentEvents: (namespace: string, name: string, uid?: string) => readonly RecentEvent[];
  /** What the last restore could not reconcile. @default {() => []} */
  restoreConflicts?: () => readonly { message: string }[];
  /** Where the page's script subscribes; empty for a page without a script. @default {"/allocations/stream"} */
  stream?: string;
  /** Game servers per page. @default {200} */
  pageSize?: number;
  /** @default {() => new Date()} */
  now?: () => Date;
}

/** See the module documentation. */
export function createUiRoute(deps: UiDeps): Hono {
  const now = deps.now ?? (() => new Date());
  const stream = deps.stream ?? "/allocations/stream";
  let policy: Promise<string> | undefined;
  const app = new Hono();
  app.use("/ui/*", async (c, next) => {
    await next();
    c.header("content-security-policy", await (policy ??= securityPolicy()));
    secure(c);
  });
  app.get("/ui", (c) => {
    const query = parseOverviewQuery(c.req.queries());
    const overview = buildOverview(deps.allocations(), query, {
      pageSize: deps.pageSize,
      conflicts: deps.restoreConflicts?.() ?? [],
    });
    return c.html(
      <OverviewPage
        overview={overview}
        query={query}
        stream={stream || undefined}
        generatedAt={now().toISOString()}
      />,
    );
  });
  app.get("/ui/pods/:namespace/:name", (c) => {
    const { namespace, name } = c.req.param();
    const pod = deps.pod(namespace, name);
    const rows = filterView(deps.allocations(), { namespace: [namespace], pod: [name] })
      .allocations;
    if (!pod && rows.length === 0) {
      return c.html(
        <Layout title="Not found · gamenet">
          <section class="card" data-testid="not-found">
            <h2>{`No game server ${namespace}/${name}`}</h2>
            <p>
              gamenet has no Pod of that name in its cache and holds nothing for it.{" "}
              <a href="/ui">All game servers</a>
            </p>
          </section>
        </Layout>,
        404,
      );
    }
    const events = deps.recentEvents(namespace, name, pod?.metadata.uid);
    return c.html(
      <PodPage namespace={namespace} name={name} pod={pod} rows={rows} events={events} />,
    );
  });
  return app;
}

/** Only this page's own script and the stream: an injected tag could run nothing. */
async function securityPolicy(): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(LIVE_SCRIPT));
  const hash = btoa(String.fromCharCode(...new Uint8Array(digest)));
  return [
    "default-src 'none'",
    `script-src 'sha256-${hash}'`,
    // The pool bars' widths are style attributes.
    "style-src 'unsafe-inline'",
    "connect-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

function secure(c: Context): void {
  c.header("x-content-type-options", "nosniff");
  c.header("referrer-policy", "no-referrer");
  c.header("cache-control", "no-store");
}
