/**
 * Admissions granted whose Pod has not been seen yet. An admission may
 * allocate (a host port chosen before scheduling) and the Pod may then
 * never be created (another webhook refused it, a quota, a client that
 * gave up): the ledger remembers who was admitted, where and when, so
 * `/allocations` can name the namespace and Pod of such a holding, and the
 * controller can give it back exactly a grace period after the admission.
 *
 * Entries stay in admission order, so finding those due looks only at the
 * oldest ones.
 *
 * @example
 * ```ts
 * const ledger = new AdmissionLedger();
 * ledger.record("admission/7f3c", { namespace: "games", pod: "gs-*", type: "Kubernetes-HostPort", at: Date.now() });
 * ledger.seen("admission/7f3c"); // its Pod arrived
 * ```
 * @module
 */

/** One admission waiting for its Pod. */
export interface Admission {
  namespace: string;
  /** The Pod's name, or `generateName*` when the API server has not named it yet. */
  pod: string;
  /** The canonical network type. */
  type: string;
  /** When it was admitted (milliseconds since the epoch). */
  at: number;
}

/** The ledger: see the module documentation. */
export class AdmissionLedger {
  readonly #byOwner = new Map<string, Admission>();

  /** Admissions waiting. */
  get size(): number {
    return this.#byOwner.size;
  }

  /** Remembers an admission of `owner` (a reinvocation keeps the first time). */
  record(owner: string, admission: Admission): void {
    if (!this.#byOwner.has(owner)) this.#byOwner.set(owner, admission);
  }

  /** The admission of `owner`, while its Pod has not been seen. */
  get(owner: string): Admission | undefined {
    return this.#byOwner.get(owner);
  }

  /** `owner`'s Pod exists: nothing more to wait for. */
  seen(owner: string): void {
    this.#byOwner.delete(owner);
  }

  /**
   * Takes out and returns the admissions made at or before `cutoff` whose
   * owner `isLive` denies; those `isLive` confirms are dropped as seen.
   *
   * @example
   * ```ts
   * for (const [owner] of ledger.takeDue(Date.now() - graceMs, (o) => liveOwners.has(o))) release(owner);
   * ```
   */
  takeDue(cutoff: number, isLive: (owner: string) => boolean): [string, Admission][] {
    const due: [string, Admission][] = [];
    for (const [owner, admission] of this.#byOwner) {
      // Admission order: the first one not due ends the search.
      if (admission.at > cutoff) break;
      this.#byOwner.delete(owner);
      if (!isLive(owner)) due.push([owner, admission]);
    }
    return due;
  }
}
