/**
 * Leader election on a `coordination.k8s.io/v1` Lease with client-go's
 * algorithm: a candidate takes the Lease when the holder has not renewed
 * it for a lease duration *as measured on the candidate's own clock* (the
 * time it last saw the record change), so clock skew between replicas does
 * not matter; updates carry the resourceVersion, so two candidates never
 * both win.
 *
 * Leadership is fenced by time. A renewal that succeeds at attempt start
 * `t` makes this replica the leader until `t + renewDeadline` and no
 * longer: a timer steps it down at that instant even while a request
 * still hangs on a dead connection, {@linkcode LeaderElector.isLeader}
 * reads the clock too (a timer can fire late), and every renewal request
 * is aborted at the deadline. A standby measures the lease from when *it*
 * saw the record change, which is after `t`, so it can acquire no earlier
 * than `t + leaseDuration`: the two never overlap as long as
 * `renewDeadline < leaseDuration` (and local clocks run at the same rate).
 * While holding, the leader renews by writing its cached record at once
 * (no read first), falling back to read-then-write when that conflicts.
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
import { Reflector } from "./reflector.ts";

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
  /**
   * Watch the Lease besides reading it at each attempt, so a standby sees
   * a renewal when it happens rather than at its next read (up to a retry
   * period later) and takes over within lease duration + retry period of
   * the last renewal; off, the standby's view lags by a retry period.
   * @default {true}
   */
  watchLease?: boolean;
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
  /** The Lease as this leader last wrote it: renewals start from it without a read. */
  #held?: Lease;
  /** While leading: the instant (local monotonic clock) leadership ends unless renewed. */
  #validUntil = 0;
  #deadlineTimer?: ReturnType<typeof setTimeout>;
  #lastHolder = "";
  /** Set by an attempt whose read found another holder. */
  #heldByOther = "";
  #observedDurationMs = 0;
  #watch?: Reflector<Lease>;

  constructor(client: KubeClient, options: LeaderElectionOptions) {
    this.#client = client;
    this.#options = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      watchLease: true,
      log: (m) => console.error(m),
      ...options,
    };
    if (this.#options.renewDeadlineMs >= this.#options.leaseDurationMs) {
      throw new Error("Leader election: renewDeadlineMs must be shorter than leaseDurationMs");
    }
  }

  /**
   * Whether this candidate holds the Lease now: false from the renew
   * deadline on, even before the step-down timer has run.
   */
  get isLeader(): boolean {
    return this.#leader && performance.now() < this.#validUntil;
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
    if (this.#loop) return;
    if (this.#options.watchLease) {
      const seen = (lease: Lease) => this.#see(lease);
      this.#watch = new Reflector<Lease & { metadata: { name: string } }>(this.#client, {
        path: this.#path.replace(/\/[^/]+$/, ""),
        fieldSelector: `metadata.name=${this.#options.name}`,
        log: this.#options.log,
      }, { onAdd: seen, onUpdate: (_old, lease) => seen(lease) });
      this.#watch.start();
    }
    this.#loop = this.#run();
  }

  /**
   * Stops; a leader releases the Lease (holder emptied) so a standby takes
   * over at its next attempt instead of waiting out the lease duration.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    await Promise.all([this.#loop, this.#watch?.stop()]);
    if (this.#leader) {
      const stillValid = this.isLeader;
      this.#stepDown();
      // Past the deadline a standby may hold the Lease already: leave it alone.
      if (stillValid) {
        await this.#release().catch((err) =>
          this.#options.log(`Leader election: release failed: ${err}`)
        );
      }
    }
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const attemptStart = performance.now();
      let ok = false;
      this.#heldByOther = "";
      try {
        ok = await this.#tryAcquireOrRenew(this.#attemptSignal(attemptStart));
      } catch (err) {
        this.#options.log(`Leader election: ${(err as Error).message}`);
      }
      if (this.#stopped) break;
      // A success that comes back past its own deadline is void: it may be
      // stale by then, and the step-down (if leading) has happened.
      if (ok && attemptStart + this.#options.renewDeadlineMs > performance.now()) {
        this.#extendUntil(attemptStart + this.#options.renewDeadlineMs);
        if (!this.#leader) this.#becomeLeader();
      } else if (this.#leader && this.#heldByOther) {
        this.#options.log(
          `Leader election: the Lease is held by ${this.#heldByOther}; stepping down`,
        );
        this.#stepDown();
      }
      // Jitter keeps standbys from hitting the API server in lockstep; a
      // standby also tries the moment the lease it watches runs out.
      const wait = this.#leader
        ? this.#options.retryPeriodMs
        : Math.min(this.#options.retryPeriodMs * (1 + Math.random() * 0.2), this.#expiresIn());
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, wait);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /**
   * A leader's attempt may run until its deadline and not a moment past
   * it (a later success would be void anyway); a candidate's gets two
   * retry periods, so a dead connection does not stall the campaign.
   */
  #attemptSignal(attemptStart: number): AbortSignal {
    const budget = this.#leader ? this.#validUntil - attemptStart : this.#options.retryPeriodMs * 2;
    return AbortSignal.timeout(Math.max(1, Math.floor(budget)));
  }

  #extendUntil(validUntil: number): void {
    this.#validUntil = validUntil;
    clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = setTimeout(() => {
      this.#options.log(
        `Leader election: could not renew within ${this.#options.renewDeadlineMs} ms; stepping down`,
      );
      this.#stepDown();
    }, Math.max(0, validUntil - performance.now()));
  }

  #becomeLeader(): void {
    this.#leader = true;
    this.#options.log(`Leader election: ${this.#options.identity} is the leader`);
    this.#options.onStartedLeading?.();
  }

  #stepDown(): void {
    clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = undefined;
    this.#validUntil = 0;
    this.#held = undefined;
    if (!this.#leader) return;
    this.#leader = false;
    this.#options.onStoppedLeading?.();
  }

  /**
   * Notes the record as seen now: when it changed, the holder renewed
   * before this instant, so the lease is measured from here (never from
   * earlier, which could cut a live leader's lease short).
   */
  #see(lease: Lease): void {
    const record = JSON.stringify(lease.spec);
    if (record !== this.#observed) {
      this.#observed = record;
      this.#observedAt = performance.now();
      this.#observedDurationMs = (lease.spec.leaseDurationSeconds ?? 0) * 1000;
      // A released Lease (no holder) is free now: try without waiting.
      if (!lease.spec.holderIdentity && !this.#leader) this.#wake?.();
    }
    this.#lastHolder = lease.spec.holderIdentity ?? "";
  }

  /** Time until the lease last observed runs out, as this replica measures it. */
  #expiresIn(): number {
    if (!this.#observed) return this.#options.retryPeriodMs;
    return Math.max(1, this.#observedAt + this.#observedDurationMs - performance.now() + 1);
  }

  async #get(signal: AbortSignal): Promise<Lease | undefined> {
    try {
      const lease = await this.#client.request<Lease>("GET", this.#path, { signal });
      this.#see(lease);
      return lease;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  async #put(lease: Lease, signal: AbortSignal): Promise<boolean> {
    try {
      const updated = await this.#client.request<Lease>("PUT", this.#path, { body: lease, signal });
      this.#held = updated;
      this.#see(updated);
      return true;
    } catch (err) {
      // 409: someone else updated it first; they win this round.
      if (err instanceof KubeApiError && err.status === 409) return false;
      throw err;
    }
  }

  #spec(now: number, previous?: Lease["spec"]): Lease["spec"] {
    const me = this.#options.identity;
    const mine = previous?.holderIdentity === me;
    return {
      holderIdentity: me,
      leaseDurationSeconds: Math.round(this.#options.leaseDurationMs / 1000),
      acquireTime: mine ? previous!.acquireTime ?? microTime(now) : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: mine
        ? previous!.leaseTransitions ?? 0
        : (previous?.leaseTransitions ?? -1) + 1,
    };
  }

  async #tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const me = this.#options.identity;
    // Holding: write the cached record straight away, as client-go does; a
    // conflict means the cache is stale (or someone took over), and the read
    // below finds out which.
    if (this.#leader && this.#held) {
      const renewed = await this.#put(
        { ...this.#held, spec: this.#spec(Date.now(), this.#held.spec) },
        signal,
      );
      if (renewed) return true;
    }
    const current = await this.#get(signal);
    if (!current) {
      try {
        const created = await this.#client.request<Lease>(
          "POST",
          this.#path.replace(/\/[^/]+$/, ""),
          {
            body: {
              apiVersion: "coordination.k8s.io/v1",
              kind: "Lease",
              metadata: { name: this.#options.name, namespace: this.#options.namespace },
              spec: this.#spec(Date.now()),
            },
            signal,
          },
        );
        this.#held = created;
        this.#see(created);
        return true;
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 409) return false; // lost the race
        throw err;
      }
    }
    const holder = current.spec.holderIdentity ?? "";
    if (holder && holder !== me) {
      // Read just now (a watch event may be older): someone else holds it.
      this.#heldByOther = holder;
      if (this.#observedAt + this.#observedDurationMs > performance.now()) return false;
    }
    // A record naming this replica that it does not hold (a restart under
    // the same identity) is taken over like any expired one.
    return await this.#put({ ...current, spec: this.#spec(Date.now(), current.spec) }, signal);
  }

  async #release(): Promise<void> {
    const signal = AbortSignal.timeout(this.#options.retryPeriodMs * 2);
    const current = await this.#get(signal);
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
      signal,
    });
  }
}
