/**
 * Waits for kinds the API server may not serve yet (CRDs installed after
 * gamenet: OpenKruiseGame's and Agones' GameServers, a provider's own
 * kinds): each kind is announced once it is served, and the ones missing
 * are looked for again every `retryMs`, so gamenet runs without them and
 * picks them up later without a restart.
 *
 * @example
 * ```ts
 * const served = new ServedKinds(client, { retryMs: 30_000, log });
 * served.watch([{ apiVersion: "game.kruise.io/v1alpha1", resource: "gameservers" }], (kind) => startCache(kind));
 * ```
 * @module
 */

import { apiPath } from "./api_path.ts";
import type { KubeClient } from "./kube_client.ts";

/** A kind, by its API group version and plural resource name. */
export interface ServedKind {
  apiVersion: string;
  resource: string;
}

/** Options of {@linkcode ServedKinds}. */
export interface ServedKindsOptions {
  /** Between two looks for the kinds still missing. @default {30_000} */
  retryMs?: number;
  /** Told which kinds are still missing after each look. @default {() => {}} */
  log?: (message: string) => void;
}

/** See the module documentation. */
export class ServedKinds {
  readonly #client: KubeClient;
  readonly #retryMs: number;
  readonly #log: (message: string) => void;
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  #stopped = false;

  constructor(client: KubeClient, options: ServedKindsOptions = {}) {
    this.#client = client;
    this.#retryMs = options.retryMs ?? 30_000;
    this.#log = options.log ?? (() => {});
  }

  /**
   * Calls `onServed` once for each of `kinds` as soon as it is served;
   * resolves when all of them were (never, if one never is).
   */
  async watch<K extends ServedKind>(
    kinds: readonly K[],
    onServed: (kind: K) => void,
  ): Promise<void> {
    let missing = [...kinds];
    while (!this.#stopped) {
      const still: K[] = [];
      for (const kind of missing) {
        if (await this.#served(kind)) onServed(kind);
        else still.push(kind);
      }
      missing = still;
      if (missing.length === 0 || this.#stopped) return;
      this.#log(
        `Not served yet (CRDs not installed?): ${
          missing.map((k) => `${k.resource}.${k.apiVersion}`).join(", ")
        }; looking again`,
      );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.#timers.delete(timer);
          resolve();
        }, this.#retryMs);
        this.#timers.add(timer);
      });
    }
  }

  /** No more looks. */
  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }

  async #served(kind: ServedKind): Promise<boolean> {
    try {
      const list = await this.#client.request<{ resources: { name: string }[] }>(
        "GET",
        apiPath(kind.apiVersion),
      );
      return list.resources.some((r) => r.name === kind.resource);
    } catch {
      return false;
    }
  }
}
