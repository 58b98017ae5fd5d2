/**
 * The HTTP apps gamenet serves, composed from the routes of this folder.
 * Everything they read comes in through `deps`, so `main.ts` wires them to
 * the manager and tests drive them with `app.request()`.
 *
 * - {@linkcode createApp}: plain HTTP (default :8080) for the kubelet's
 *   probes and Prometheus: `/healthz`, `/readyz`, `/metrics` (behind a
 *   bearer-token check with `--metrics-secure`).
 * - {@linkcode createDebugApp}: the views that name every game server and
 *   its address, `/allocations`, `/allocations/stream` and the `/ui` page,
 *   on a listener bound to loopback by default (default 127.0.0.1:8082;
 *   `kubectl port-forward` reaches it).
 * - {@linkcode createWebhookApp}: the TLS listener (default :9443) for the
 *   API server: `POST /mutate-pods`, plus `/healthz` and `/readyz`.
 *
 * @example
 * ```ts
 * const metrics = createMetrics({ counts: () => manager.allocationCounts() });
 * Deno.serve({ port: 8080 }, createApp({ isReady: () => manager.readiness, metrics }).fetch);
 * Deno.serve({ hostname: "127.0.0.1", port: 8082 }, createDebugApp({ allocations }).fetch);
 * ```
 * @module
 */

import { Hono } from "hono";
import type { Context, MiddlewareHandler } from "hono";
import { type AdmissionRequest, type AdmitResult, createWebhookRoute } from "./admission.ts";
import { type AllocationsView, createAllocationsRoute } from "./allocations.ts";
import { AllocationsFeed } from "./allocations_feed.ts";
import { createAllocationsStreamRoute } from "./allocations_stream.ts";
import { createUiRoute, type UiDeps } from "./ui/ui_route.tsx";
import { createHealthRoutes, type Health, type ReadinessCheck } from "./health.ts";
import { createMetricsRoute, type Metrics } from "./metrics.ts";

/** Dependencies of {@linkcode createApp}. */
export interface AppDeps {
  /** `/readyz`: true only for the leader with synced caches and a restored allocator. */
  isReady: ReadinessCheck;
  /** `/healthz` beyond "the event loop turns". @default {() => ({ ok: true })} */
  isHealthy?: () => Health;
  /** `/metrics`: the registry of {@linkcode createMetrics}. */
  metrics: Pick<Metrics, "registry">;
  /**
   * Runs before `/metrics`, e.g. `createMetricsAuth()`'s bearer-token
   * check. @default {undefined} (anyone who reaches the port may scrape)
   */
  metricsAuth?: MiddlewareHandler;
  /** Unexpected errors of a route. @default {console.error} */
  log?: (message: string) => void;
}

/**
 * The plain HTTP app: health, readiness and metrics. Unknown paths answer
 * 404 with the list of routes (and where `/allocations` went); an
 * unexpected error answers 500 with its message (never a stack).
 *
 * @example
 * ```ts
 * const app = createApp({ isReady: () => true, metrics: createMetrics() });
 * (await app.request("/metrics")).status; // 200
 * ```
 */
export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  app.route("/", createHealthRoutes(deps));
  if (deps.metricsAuth) app.use("/metrics", deps.metricsAuth);
  app.route("/", createMetricsRoute(deps.metrics));
  app.notFound((c) =>
    c.text(
      `No route for ${c.req.method} ${c.req.path}: ` +
        "gamenet serves GET /healthz, /readyz, /metrics here; " +
        "/allocations is on the debug listener (--debug-addr, loopback by default: " +
        "kubectl port-forward to reach it)\n",
      404,
    )
  );
  app.onError(internalError(deps.log));
  return app;
}

/** Dependencies of {@linkcode createDebugApp}. */
export interface DebugAppDeps {
  /** `/allocations` and `/ui`: read at every request. */
  allocations: () => AllocationsView;
  /**
   * `/allocations/stream`'s producer, one for every client; the caller
   * closes it at shutdown (an open stream would hold the listener up).
   * @default {new AllocationsFeed({ view: allocations })}
   */
  feed?: AllocationsFeed;
  /** `/ui/pods/:namespace/:name`: a cached Pod. @default {() => undefined} */
  pod?: UiDeps["pod"];
  /** The Events gamenet recorded lately about a Pod. @default {() => []} */
  recentEvents?: UiDeps["recentEvents"];
  /** What the last restore could not reconcile. @default {() => []} */
  restoreConflicts?: UiDeps["restoreConflicts"];
  /** Unexpected errors of a route. @default {console.error} */
  log?: (message: string) => void;
  /** The clock of `generatedAt`. @default {() => new Date()} */
  now?: () => Date;
}

/**
 * The debug app: the views that name every game server and its address.
 * Served on its own listener, bound to loopback unless `--debug-addr` says
 * otherwise, so only who may port-forward to the Pod reads them. Unknown
 * paths answer 404 with the list of routes.
 *
 * @example
 * ```ts
 * const app = createDebugApp({ allocations: () => ({ pools: [], allocations: [] }) });
 * (await app.request("/allocations?format=table")).status; // 200
 * ```
 */
export function createDebugApp(deps: DebugAppDeps): Hono {
  const app = new Hono();
  app.route("/", createAllocationsRoute({ view: deps.allocations, now: deps.now }));
  app.route(
    "/",
    createAllocationsStreamRoute(
      deps.feed ?? new AllocationsFeed({ view: deps.allocations, now: deps.now, log: deps.log }),
    ),
  );
  app.route(
    "/",
    createUiRoute({
      allocations: deps.allocations,
      pod: deps.pod ?? (() => undefined),
      recentEvents: deps.recentEvents ?? (() => []),
      restoreConflicts: deps.restoreConflicts,
      now: deps.now,
    }),
  );
  app.notFound((c) =>
    c.text(
      `No route for ${c.req.method} ${c.req.path}: ` +
        "gamenet's debug listener serves GET /allocations, /allocations/stream, /ui\n",
      404,
    )
  );
  app.onError(internalError(deps.log));
  return app;
}

/** Dependencies of {@linkcode createWebhookApp}. */
export interface WebhookAppDeps {
  /** Decides about one Pod; the controller's admission. */
  admit: (req: AdmissionRequest) => Promise<AdmitResult>;
  /** Only a ready replica admits. */
  isReady: ReadinessCheck;
  /** @default {() => ({ ok: true })} */
  isHealthy?: () => Health;
  /** Where admission latency goes. */
  metrics?: Pick<Metrics, "webhookDuration">;
  /** `admit`'s exceptions and unexpected errors. @default {console.error} */
  log?: (message: string) => void;
  /** Refusals of malformed Pods. @default {console.warn} */
  warn?: (message: string) => void;
}

/**
 * The app of the TLS listener: `POST /mutate-pods`, and the health routes
 * so the webhook port itself can be probed.
 *
 * @example
 * ```ts
 * const app = createWebhookApp({ admit: (req) => controller.admit(toPodAdmission(req)), isReady });
 * await serveTls({ port: 9443, certFile, keyFile, handler: app.fetch });
 * ```
 */
export function createWebhookApp(deps: WebhookAppDeps): Hono {
  const app = new Hono();
  app.route(
    "/",
    createWebhookRoute(deps.admit, {
      isReady: deps.isReady,
      duration: deps.metrics?.webhookDuration,
      log: deps.log,
      warn: deps.warn,
    }),
  );
  app.route("/", createHealthRoutes(deps));
  app.onError(internalError(deps.log));
  return app;
}

function internalError(log: (message: string) => void = (m) => console.error(m)) {
  return (err: Error, c: Context) => {
    log(`${c.req.method} ${c.req.path}: ${err.message}`);
    return c.text(`Internal error: ${err.message}\n`, 500);
  };
}
