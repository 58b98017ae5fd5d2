/**
 * Liveness and readiness, as the kubelet probes them: `GET /healthz` says
 * the process still answers (restart it if not), `GET /readyz` says this
 * replica should receive traffic. Only the leader, with synced caches and
 * a restored allocator, is ready, so the webhook Service routes admissions
 * to the one replica that holds the allocator.
 *
 * @example
 * ```ts
 * const health = createHealthRoutes({ isReady: () => manager.readiness });
 * (await health.request("/readyz")).status; // 503 while following
 * ```
 * @module
 */

import { Hono } from "hono";

/** Whether this replica should serve, and why not. */
export interface Readiness {
  ready: boolean;
  /** One line for a person, e.g. `not leader` or `caches not synced`. */
  reason?: string;
}

/**
 * Asks whether the replica is ready. A plain boolean is accepted so simple
 * callers need not build an object; `Manager.readiness` fits as is.
 *
 * @example
 * ```ts
 * const check: ReadinessCheck = () => manager.readiness;
 * ```
 */
export type ReadinessCheck = () => Readiness | boolean;

/** Whether the process is fit to keep running, and why not. */
export interface Health {
  ok: boolean;
  reason?: string;
}

/** Options of {@linkcode createHealthRoutes}. */
export interface HealthOptions {
  /** Readiness: `/readyz` answers 200 only when it is true. */
  isReady: ReadinessCheck;
  /**
   * Liveness beyond "the event loop turns" (which answering already
   * proves), e.g. a watch that has been stuck for too long.
   * @default {() => ({ ok: true })}
   */
  isHealthy?: () => Health;
}

/**
 * Calls a readiness check and normalises its answer; a check that throws
 * means "not ready", with the error as the reason.
 *
 * @example
 * ```ts
 * checkReadiness(() => false); // { ready: false, reason: "not ready" }
 * ```
 */
export function checkReadiness(check: ReadinessCheck): { ready: boolean; reason: string } {
  try {
    const answer = check();
    const r = typeof answer === "boolean" ? { ready: answer } : answer;
    return { ready: r.ready, reason: r.ready ? "" : oneLine(r.reason || "not ready") };
  } catch (err) {
    return { ready: false, reason: oneLine(`readiness check failed: ${errorMessage(err)}`) };
  }
}

/**
 * `GET /healthz` and `GET /readyz`.
 *
 * `/healthz` answers 200 `ok`, or 500 with the reason when `isHealthy`
 * says otherwise. `/readyz` answers 200 `ok`, or 503 with a one-line
 * reason (the kubelet records the body in the Pod's events).
 *
 * @example
 * ```ts
 * const app = createHealthRoutes({ isReady: () => ({ ready: false, reason: "not leader" }) });
 * await (await app.request("/readyz")).text(); // "not leader"
 * ```
 */
export function createHealthRoutes(options: HealthOptions): Hono {
  const isHealthy = options.isHealthy ?? (() => ({ ok: true }));
  const app = new Hono();
  app.get("/healthz", (c) => {
    let health: Health;
    try {
      health = isHealthy();
    } catch (err) {
      health = { ok: false, reason: `health check failed: ${errorMessage(err)}` };
    }
    if (health.ok) return c.text("ok");
    return c.text(oneLine(health.reason || "unhealthy"), 500);
  });
  app.get("/readyz", (c) => {
    const r = checkReadiness(options.isReady);
    return r.ready ? c.text("ok") : c.text(r.reason, 503);
  });
  return app;
}

/** Probe bodies end up in events and logs, one line each. */
function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, " ").trim();
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
