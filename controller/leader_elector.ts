/**
 * Leader election on a `coordination.k8s.io/v1` Lease with client-go's
 * algorithm: a candidate takes the Lease when the holder has not renewed
 * it for a lease duration *as measured on the candidate's own clock* (the
 * time it last saw the record change), so clock skew between replicas does
 * not matter; updates carry the resourceVersion, so two candidates never
 * both win; a leader that cannot renew within the renew deadline steps
 * down at once.
 *
 * @example
 * ```ts
 * const elector = new LeaderElector(client, {
 *   namespace: "gamenet-system",
 *   name: "gamenet",
 *   identity: Deno.hostname(),
 *   onStartedLeading: () => controller.start(),
 *   onStoppedLeading: () => Deno.exit(1),
 * });
 * elector.start();
 * ```
 * @module
 */

import { KubeApiError, type KubeClient } from "./kube_client.ts";

/** Options of {@linkcode LeaderElector}. */
export interface LeaderElectionOptions {
  namespace: string;
  /** The Lease's name. */
  name: string;
  /** This candidate's name, unique among replicas (the Pod name). */
  identity: string;
  /** How long a lease is valid without renewal. @default {15_000} */
  leaseDurationMs?: number;
  /** A leader that cannot renew within this time steps down. @default {10_000} */
  renewDeadlineMs?: number;
  /** Time between attempts to acquire or renew. @default {2_000} */
  retryPeriodMs?: number;
  /** Called once when this candidate becomes leader. */
  onStartedLeading?: () => void;
  /** Called once when a leader stops being one (lost, or released on stop). */
  onStoppedLeading?: () => void;
  /** @default {console.error} */
  log?: (message: string) => void;
}

interface Lease {
  apiVersion: "coordination.k8s.io/v1";
  kind: "Lease";
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/** The elector: see the module documentation. */
export class LeaderElector {
  readonly #client: KubeClient;
  readonly #options:
    & Required<Omit<LeaderElectionOptions, "onStartedLeading" | "onStoppedLeading">>
    & Pick<LeaderElectionOptions, "onStartedLeading" | "onStoppedLeading">;
  #leader = false;
  #stopped = false;
  #loop?: Promise<void>;
  #wake?: () => void;
  /** The record as last seen, and when (local clock) it last changed. */
  #observed?: string;
  #observedAt = 0;
  #lastRenew = 0;
  #lastHolder = "";

  constructor(client: KubeClient, options: LeaderElectionOptions) {
    this.#client = client;
    this.#options = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      log: (m) => console.error(m),
      ...options,
    };
    if (this.#options.renewDeadlineMs >= this.#options.leaseDurationMs) {
      throw new Error("Leader election: renewDeadlineMs must be shorter than leaseDurationMs");
    }
  }

  /** Whether this candidate holds the Lease now. */
  get isLeader(): boolean {
    return this.#leader;
  }

  /** The identity last seen holding the Lease ("" when none). */
  get leader(): string {
    return this.#lastHolder;
  }

  get #path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.#options.namespace}/leases/${this.#options.name}`;
  }

  /** Starts campaigning (and renewing once leader). */
  start(): void {
    this.#loop ??= this.#run();
  }

  /**
   * Stops; a leader releases the Lease (holder emptied) so a standby takes
   * over at its next attempt instead of waiting out the lease duration.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    await this.#loop;
    if (this.#leader) {
      this.#setLeader(false);
      await this.#release().catch((err) =>
        this.#options.log(`Leader election: release failed: ${err}`)
      );
    }
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      let ok = false;
      try {
        ok = await this.#tryAcquireOrRenew();
      } catch (err) {
        this.#options.log(`Leader election: ${(err as Error).message}`);
      }
      const now = Date.now();
      if (ok) {
        this.#lastRenew = now;
        if (!this.#leader) this.#setLeader(true);
      } else if (this.#leader && now - this.#lastRenew >= this.#options.renewDeadlineMs) {
        this.#options.log(
          `Leader election: could not renew within ${this.#options.renewDeadlineMs} ms; stepping down`,
        );
        this.#setLeader(false);
      }
      // Jitter keeps standbys from hitting the API server in lockstep.
      const wait = this.#leader
        ? this.#options.retryPeriodMs
        : this.#options.retryPeriodMs * (1 + Math.random() * 0.2);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, wait);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  #setLeader(leader: boolean): void {
    this.#leader = leader;
    if (leader) {
      this.#options.log(`Leader election: ${this.#options.identity} is the leader`);
      this.#options.onStartedLeading?.();
    } else {
      this.#options.onStoppedLeading?.();
    }
  }

  async #get(): Promise<Lease | undefined> {
    try {
      return await this.#client.request<Lease>("GET", this.#path, {
        signal: AbortSignal.timeout(this.#options.retryPeriodMs * 2),
      });
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const now = Date.now();
    const me = this.#options.identity;
    const spec = {
      holderIdentity: me,
      leaseDurationSeconds: Math.round(this.#options.leaseDurationMs / 1000),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    const current = await this.#get();
    if (!current) {
      await this.#client.request("POST", this.#path.replace(/\/[^/]+$/, ""), {
        body: {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name: this.#options.name, namespace: this.#options.namespace },
          spec,
        },
      }).catch((err) => {
        if (err instanceof KubeApiError && err.status === 409) return undefined; // lost the race
        throw err;
      });
      return await this.#confirm();
    }
    const record = JSON.stringify(current.spec);
    if (record !== this.#observed) {
      this.#observed = record;
      this.#observedAt = now;
    }
    const holder = current.spec.holderIdentity ?? "";
    this.#lastHolder = holder;
    const durationMs = (current.spec.leaseDurationSeconds ?? 0) * 1000;
    if (holder && holder !== me && this.#observedAt + durationMs > now) return false;
    if (holder === me) {
      spec.acquireTime = current.spec.acquireTime ?? spec.acquireTime;
      spec.leaseTransitions = current.spec.leaseTransitions ?? 0;
    } else {
      spec.leaseTransitions = (current.spec.leaseTransitions ?? 0) + 1;
    }
    try {
      const updated = await this.#client.request<Lease>("PUT", this.#path, {
        body: { ...current, spec },
        signal: AbortSignal.timeout(this.#options.retryPeriodMs * 2),
      });
      this.#observed = JSON.stringify(updated.spec);
      this.#observedAt = now;
      this.#lastHolder = me;
      return true;
    } catch (err) {
      // 409: someone else updated it first; they win this round.
      if (err instanceof KubeApiError && err.status === 409) return false;
      throw err;
    }
  }

  async #confirm(): Promise<boolean> {
    const lease = await this.#get();
    const mine = lease?.spec.holderIdentity === this.#options.identity;
    if (lease) {
      this.#observed = JSON.stringify(lease.spec);
      this.#observedAt = Date.now();
      this.#lastHolder = lease.spec.holderIdentity ?? "";
    }
    return mine;
  }

  async #release(): Promise<void> {
    const current = await this.#get();
    if (!current || current.spec.holderIdentity !== this.#options.identity) return;
    await this.#client.request("PUT", this.#path, {
      body: {
        ...current,
        spec: {
          ...current.spec,
          holderIdentity: "",
          leaseDurationSeconds: 1,
          renewTime: microTime(Date.now()),
        },
      },
    });
  }
}
