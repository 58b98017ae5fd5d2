/**
 * The webhook Service of `deploy/` as the API server sees it: a loopback
 * address whose endpoints are the replicas that pass their readiness
 * probe, probed as `deploy/deployment.yaml` probes them (every 2 s, three
 * failures to drop out, one success to come in). With no endpoint the
 * address refuses connections, as a Service without endpoints does.
 * Connections already open stay with their replica, as conntrack keeps
 * them.
 *
 * @example
 * ```ts
 * await using service = new WebhookService([first, second]);
 * await registerWebhook(cp, service.port);
 * ```
 * @module
 */

import { TcpProxy } from "../controlplane/tcp_proxy.ts";
import type { GamenetProcess } from "./gamenet_process.ts";

/** Probe timing of `deploy/deployment.yaml`'s readinessProbe. */
export const READINESS_PROBE = { periodMs: 2_000, timeoutMs: 2_000, failureThreshold: 3 };

/** See the module documentation. */
export class WebhookService implements AsyncDisposable {
  readonly #proxy: TcpProxy;
  readonly #replicas: GamenetProcess[];
  readonly #ready = new Map<GamenetProcess, boolean>();
  readonly #failures = new Map<GamenetProcess, number>();
  readonly #timer: ReturnType<typeof setInterval>;
  #target?: GamenetProcess;
  /** Every change of endpoint, with its time. */
  readonly changes: { at: number; endpoint: string }[] = [];

  constructor(replicas: GamenetProcess[]) {
    this.#replicas = replicas;
    this.#proxy = new TcpProxy(replicas[0].webhookPort);
    this.#proxy.setMode("refuse");
    this.#timer = setInterval(() => void this.#probeAll(), READINESS_PROBE.periodMs);
    void this.#probeAll();
  }

  /** The Service's port. */
  get port(): number {
    return this.#proxy.port;
  }

  /** The replica admissions go to now, if any. */
  get endpoint(): GamenetProcess | undefined {
    return this.#target;
  }

  async #probeAll(): Promise<void> {
    await Promise.all(this.#replicas.map(async (r) => {
      let ok = false;
      try {
        const res = await fetch(`http://127.0.0.1:${r.httpPort}/readyz`, {
          signal: AbortSignal.timeout(READINESS_PROBE.timeoutMs),
        });
        await res.body?.cancel();
        ok = res.ok;
      } catch {
        ok = false;
      }
      if (ok) {
        this.#failures.set(r, 0);
        this.#ready.set(r, true);
      } else {
        const n = (this.#failures.get(r) ?? 0) + 1;
        this.#failures.set(r, n);
        if (n >= READINESS_PROBE.failureThreshold) this.#ready.set(r, false);
      }
    }));
    const current = this.#target && this.#ready.get(this.#target) ? this.#target : undefined;
    const next = current ?? this.#replicas.find((r) => this.#ready.get(r));
    if (next === this.#target) return;
    this.#target = next;
    if (next) {
      this.#proxy.retarget(next.webhookPort);
      this.#proxy.setMode("pass");
    } else {
      this.#proxy.setMode("refuse");
    }
    this.changes.push({ at: Date.now(), endpoint: next?.identity ?? "" });
  }

  /** Stops probing and closes the address. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#proxy.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
