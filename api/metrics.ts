/**
 * The Prometheus metrics of gamenet, made in one place so their names,
 * help texts and labels stay consistent, and `GET /metrics` to read them.
 * Each {@linkcode createMetrics} call has its own `Registry`: tests (and
 * two apps in one process) never collide on prom-client's global one.
 *
 * @example
 * ```ts
 * const metrics = createMetrics({ counts: () => manager.allocationCounts() });
 * metrics.watchRestarts.inc({ resource: "pods" });
 * const app = createMetricsRoute(metrics);
 * ```
 * @module
 */

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { Hono } from "hono";
import type { AllocationCounts, GameServerCount } from "../providers/view.ts";
import type { CloudCall } from "../providers/cloud_call.ts";

const PROC_STATUS_METRICS = [
  "process_resident_memory_bytes",
  "process_virtual_memory_bytes",
  "process_heap_bytes",
];

/** Options of {@linkcode createMetrics}. */
export interface MetricsOptions {
  /** Where the metrics are registered. @default {new Registry()} */
  registry?: Registry;
  /** Process metrics (CPU, memory, event-loop lag, …). @default {true} */
  defaultMetrics?: boolean;
  /**
   * Read once per scrape to set `gamenet_allocations` and the pool gauges
   * (`gamenet_pool_used_ports`, `_free_ports`, `_delayed_ports`), so they
   * never lag behind the allocator. Without it, those gauges are whatever
   * the caller set.
   */
  counts?: () => AllocationCounts;
  /** Read at every scrape to set `gamenet_workqueue_depth`. */
  workqueueDepth?: () => number;
  /** Read at every scrape to set `gamenet_leader`: whether this replica holds the Lease. */
  leader?: () => boolean;
  /** Read at every scrape to set `gamenet_game_servers`. */
  gameServers?: () => readonly GameServerCount[];
}

/** The labels of the pool gauges. */
export type PoolLabel = "kind" | "key" | "protocol" | "range";

/** gamenet's metrics: see the module documentation. */
export interface Metrics {
  readonly registry: Registry;
  /** `gamenet_allocations{type}`: Pods holding an allocation, by network type. */
  readonly allocations: Gauge<"type">;
  /** `gamenet_pool_used_ports{kind,key,protocol,range}`: ports held per pool. */
  readonly poolUsedPorts: Gauge<PoolLabel>;
  /** `gamenet_pool_free_ports{kind,key,protocol,range}`: free ports per pool. */
  readonly poolFreePorts: Gauge<PoolLabel>;
  /** `gamenet_pool_delayed_ports{kind,key,protocol,range}`: freed ports still in their reuse delay. */
  readonly poolDelayedPorts: Gauge<PoolLabel>;
  /** `gamenet_leader`: 1 while this replica holds the leader Lease. */
  readonly leader: Gauge;
  /** `gamenet_game_servers{type,state,reason}`: game-server Pods by network state. */
  readonly gameServers: Gauge<"type" | "state" | "reason">;
  /** `gamenet_cloud_requests_total{cloud,action,code}`: cloud API calls by how they ended. */
  readonly cloudRequests: Counter<"cloud" | "action" | "code">;
  /** `gamenet_cloud_request_duration_seconds{cloud,action}`. */
  readonly cloudRequestDuration: Histogram<"cloud" | "action">;
  /** `gamenet_unknown_network_type_total`: admitted Pods naming a type gamenet does not know. */
  readonly unknownNetworkTypes: Counter;
  /** `gamenet_reconcile_duration_seconds{result}`. */
  readonly reconcileDuration: Histogram<"result">;
  /** `gamenet_webhook_duration_seconds{operation,allowed}`. */
  readonly webhookDuration: Histogram<"operation" | "allowed">;
  /** `gamenet_workqueue_depth`: keys waiting for a worker. */
  readonly workqueueDepth: Gauge;
  /** `gamenet_watch_restarts_total{resource}`: watches restarted (errors, 410 Gone, timeouts). */
  readonly watchRestarts: Counter<"resource">;
  /** `gamenet_errors_total{kind}`. */
  readonly errors: Counter<"kind">;
  /** `gamenet_events_dropped_total{why}`: Events not written (`spam` filter, `queue-full`). */
  readonly eventsDropped: Counter<"why">;
  /**
   * Records one reconcile. With {@linkcode Metrics.error} it has the shape
   * of the controller's metrics hooks, so `metrics` can be handed to the
   * manager as is.
   */
  reconciled(result: string, seconds: number): void;
  /** Counts one error of `kind`. */
  error(kind: string): void;
  /** Counts one Pod admitted with a network type gamenet does not know. */
  unknownNetworkType(): void;
  /** Counts one Event dropped. */
  eventDropped(why: "spam" | "queue-full"): void;
  /** Records one cloud API call (a `CloudCallObserver` for the providers). */
  cloudCall(call: CloudCall): void;
}

/** Admission must answer well within the API server's 10 s webhook timeout. */
const WEBHOOK_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** The SDK gives a cloud call up after 10 s by default. */
const CLOUD_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** A reconcile may wait on a cloud API, hence the long tail. */
const RECONCILE_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * Creates gamenet's metrics in a fresh (or the given) registry.
 *
 * The pool gauges carry the pool's `range`: its configured name (a named
 * host-port range, e.g. `default`) or else `min-max`. A node's free host
 * ports are `sum without (range)`; free ports per range are
 * `sum by (range)`.
 *
 * @example
 * ```ts
 * const metrics = createMetrics({ defaultMetrics: false });
 * metrics.reconciled("done", 0.004);
 * console.log(await metrics.registry.metrics());
 * ```
 */
export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = options.registry ?? new Registry();
  const registers = [registry];
  if (options.defaultMetrics ?? true) {
    collectDefaultMetrics({ register: registry });
    // prom-client reads these from /proc/self/status, which the compiled
    // binary may not read (its --allow-read is narrow): they showed 0.
    // Deno knows the resident size without any permission.
    for (const name of PROC_STATUS_METRICS) registry.removeSingleMetric(name);
    new Gauge({
      name: "process_resident_memory_bytes",
      help: "Resident memory size in bytes.",
      registers,
      collect() {
        this.set(Deno.memoryUsage().rss);
      },
    });
  }
  const { counts, workqueueDepth: depth, leader: leading, gameServers: servers } = options;
  // The gauges of one scrape share one count (prom-client collects
  // them one after another, without I/O between): it walks every holding.
  let scraped: AllocationCounts | undefined;
  const view = counts && (() => {
    if (!scraped) {
      scraped = counts();
      setTimeout(() => scraped = undefined, 0);
    }
    return scraped;
  });

  // Reset before counting: a type or a pool that went away (a deleted
  // node) must not keep its last value forever.
  const allocations: Gauge<"type"> = new Gauge({
    name: "gamenet_allocations",
    help: "Pods holding an allocation, by network type",
    labelNames: ["type"] as const,
    registers,
    collect: view && (() => {
      allocations.reset();
      for (const [type, n] of view().byType) allocations.set({ type }, n);
    }),
  });
  const poolGauge = (
    name: string,
    help: string,
    count: (p: AllocationCounts["pools"][number]) => number,
  ): Gauge<PoolLabel> => {
    const gauge: Gauge<PoolLabel> = new Gauge({
      name,
      help,
      labelNames: ["kind", "key", "protocol", "range"] as const,
      registers,
      collect: view && (() => {
        gauge.reset();
        for (const p of view().pools) {
          const labels = {
            kind: p.kind,
            key: p.key,
            protocol: p.protocol ?? "",
            range: p.rangeName ?? p.range,
          };
          gauge.inc(labels, count(p));
        }
      }),
    });
    return gauge;
  };
  const poolUsedPorts = poolGauge(
    "gamenet_pool_used_ports",
    "Ports held per pool (kind node: host ports of a node; kind lb: a load balancer), by range",
    (p) => p.used,
  );
  const poolFreePorts = poolGauge(
    "gamenet_pool_free_ports",
    "Free ports per pool (kind node: host ports of a node; kind lb: a load balancer), by range",
    (p) => p.free,
  );
  const poolDelayedPorts = poolGauge(
    "gamenet_pool_delayed_ports",
    "Freed ports per pool still held back by the reuse delay (neither used nor free), by range",
    (p) => p.delayed,
  );
  const leader: Gauge = new Gauge({
    name: "gamenet_leader",
    help: "1 while this replica holds the leader Lease (allocates and admits), else 0",
    registers,
    collect: leading && (() => leader.set(leading() ? 1 : 0)),
  });
  const gameServers: Gauge<"type" | "state" | "reason"> = new Gauge({
    name: "gamenet_game_servers",
    help: "Game-server Pods by network type, network state and (when not Ready) the reason " +
      "of gamenet's last Warning Event about the Pod",
    labelNames: ["type", "state", "reason"] as const,
    registers,
    collect: servers && (() => {
      gameServers.reset();
      for (const g of servers()) {
        gameServers.inc({ type: g.type, state: g.state, reason: g.reason }, g.count);
      }
    }),
  });
  const cloudRequests = new Counter({
    name: "gamenet_cloud_requests_total",
    help: "Cloud API calls by cloud, action and code (OK, or the cloud's error code)",
    labelNames: ["cloud", "action", "code"] as const,
    registers,
  });
  const cloudRequestDuration = new Histogram({
    name: "gamenet_cloud_request_duration_seconds",
    help: "Time of one cloud API call, failed ones included, by cloud and action",
    labelNames: ["cloud", "action"] as const,
    buckets: CLOUD_BUCKETS,
    registers,
  });
  const eventsDropped = new Counter({
    name: "gamenet_events_dropped_total",
    help:
      "Kubernetes Events not written: an object's spam filter was out of tokens, or the queue was full",
    labelNames: ["why"] as const,
    registers,
  });
  const unknownNetworkTypes = new Counter({
    name: "gamenet_unknown_network_type_total",
    help: "Pods admitted with a game.kruise.io/network-type gamenet does not know (left alone)",
    registers,
  });
  const reconcileDuration = new Histogram({
    name: "gamenet_reconcile_duration_seconds",
    help: "Time to reconcile one Pod key, by result (done, retry, requeue, error)",
    labelNames: ["result"] as const,
    buckets: RECONCILE_BUCKETS,
    registers,
  });
  const webhookDuration = new Histogram({
    name: "gamenet_webhook_duration_seconds",
    help: "Time to answer one admission review, by operation and whether it was allowed",
    labelNames: ["operation", "allowed"] as const,
    buckets: WEBHOOK_BUCKETS,
    registers,
  });
  const workqueueDepth: Gauge = new Gauge({
    name: "gamenet_workqueue_depth",
    help: "Keys waiting in the work queue",
    registers,
    collect: depth && (() => workqueueDepth.set(depth())),
  });
  const watchRestarts = new Counter({
    name: "gamenet_watch_restarts_total",
    help: "Watches restarted after an error, a 410 Gone or an inactivity timeout, by resource",
    labelNames: ["resource"] as const,
    registers,
  });
  const errors = new Counter({
    name: "gamenet_errors_total",
    help: "Errors by kind (e.g. admission, reconcile, api_409, cloud)",
    labelNames: ["kind"] as const,
    registers,
  });
  return {
    registry,
    allocations,
    poolUsedPorts,
    poolFreePorts,
    poolDelayedPorts,
    leader,
    gameServers,
    cloudRequests,
    cloudRequestDuration,
    unknownNetworkTypes,
    eventsDropped,
    reconcileDuration,
    webhookDuration,
    workqueueDepth,
    watchRestarts,
    errors,
    reconciled: (result, seconds) => reconcileDuration.observe({ result }, seconds),
    error: (kind) => errors.inc({ kind }),
    unknownNetworkType: () => unknownNetworkTypes.inc(),
    eventDropped: (why) => eventsDropped.inc({ why }),
    cloudCall: ({ cloud, action, code, seconds }) => {
      cloudRequests.inc({ cloud, action, code });
      cloudRequestDuration.observe({ cloud, action }, seconds);
    },
  };
}

/**
 * `GET /metrics`: the registry in Prometheus' text format, with the
 * registry's content type. A collect callback that throws gives a 500
 * with its message rather than a half-written scrape.
 *
 * @example
 * ```ts
 * const app = createMetricsRoute(createMetrics());
 * (await app.request("/metrics")).headers.get("content-type"); // "text/plain; version=0.0.4; …"
 * ```
 */
export function createMetricsRoute(metrics: { registry: Registry }): Hono {
  const app = new Hono();
  app.get("/metrics", async (c) => {
    let text: string;
    try {
      text = await metrics.registry.metrics();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return c.text(`Could not collect metrics: ${message}`, 500);
    }
    return c.body(text, 200, { "content-type": metrics.registry.contentType });
  });
  return app;
}
