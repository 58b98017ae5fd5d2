/**
 * Game-server Pods created without pause through the API server (so
 * through the admission webhook), each creation timed from the creator's
 * side: what a workload controller sees of admission latency. A refused
 * creation is retried after a back-off, as a ReplicaSet would.
 *
 * @example
 * ```ts
 * const burst = new CreationBurst(admin, "ns", { creators: 4 });
 * await new Promise((r) => setTimeout(r, 10_000));
 * const creations = await burst.stop();
 * console.log(latencySummary(creations));
 * ```
 * @module
 */

import type { KubeClient } from "../../controller/kube_client.ts";
import { hostPortGamePod } from "./helpers.ts";

/** One Pod creation as the creator saw it. */
export interface Creation {
  /** When it was sent (epoch ms). */
  start: number;
  /** How long the API server took to answer. */
  ms: number;
  ok: boolean;
  /** The API server's message when refused. */
  error?: string;
}

/** Options of {@linkcode CreationBurst}. */
export interface CreationBurstOptions {
  /** Creations in flight at once. @default {4} */
  creators?: number;
  /** Pause after a created Pod. @default {150} */
  pauseMs?: number;
  /** Pause after a refusal (a controller's back-off). @default {500} */
  backoffMs?: number;
}

/** A running burst: see the module documentation. */
export class CreationBurst {
  /** Every creation so far, in the order answered. */
  readonly creations: Creation[] = [];
  #running = true;
  readonly #loops: Promise<void>[];

  constructor(admin: KubeClient, namespace: string, options: CreationBurstOptions = {}) {
    const { creators = 4, pauseMs = 150, backoffMs = 500 } = options;
    this.#loops = Array.from(
      { length: creators },
      () => this.#loop(admin, namespace, pauseMs, backoffMs),
    );
  }

  async #loop(admin: KubeClient, namespace: string, pauseMs: number, backoffMs: number) {
    while (this.#running) {
      const start = Date.now();
      const res = await admin.fetch("POST", `/api/v1/namespaces/${namespace}/pods`, {
        body: JSON.stringify(hostPortGamePod()),
      });
      const text = await res.text();
      const ms = Date.now() - start;
      const error = res.ok ? undefined : (JSON.parse(text) as { message: string }).message;
      this.creations.push({ start, ms, ok: res.ok, error });
      await new Promise((r) => setTimeout(r, res.ok ? pauseMs : backoffMs));
    }
  }

  /** Stops creating; resolves with every creation once the last one is answered. */
  async stop(): Promise<Creation[]> {
    this.#running = false;
    await Promise.all(this.#loops);
    return this.creations;
  }
}

/** The `p`-quantile (0..1) of ascending `sorted`, NaN when empty. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

/**
 * One line: count, refusals, p50/p99/max of the answer time.
 *
 * @example
 * ```ts
 * latencySummary(creations); // "120 creations (3 refused): p50 38 ms, p99 120 ms, max 131 ms"
 * ```
 */
export function latencySummary(creations: Creation[]): string {
  const ms = creations.map((c) => c.ms).sort((a, b) => a - b);
  const refused = creations.filter((c) => !c.ok).length;
  return `${creations.length} creations (${refused} refused): ` +
    `p50 ${percentile(ms, 0.5).toFixed(0)} ms, p99 ${percentile(ms, 0.99).toFixed(0)} ms, ` +
    `max ${(ms.at(-1) ?? NaN).toFixed(0)} ms`;
}

/** Refusals by reason: the replica's own words, or the API server's about the connection. */
export function refusalReasons(creations: Creation[]): Record<string, number> {
  const reasons: Record<string, number> = {};
  for (const c of creations) {
    if (c.ok) continue;
    const why = /denied the request: (.*)$/.exec(c.error!)?.[1] ?? c.error!.replace(/^.*: /, "");
    reasons[why] = (reasons[why] ?? 0) + 1;
  }
  return reasons;
}
