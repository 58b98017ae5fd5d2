/**
 * How a reconcile ended, for the queue that runs it (controller-runtime's
 * `Result`): done (nothing to add), again after the key's backoff, or
 * again after a set time. Every reconciler of the core and of the
 * providers answers with it; a provider's {@linkcode Outcome} (what its
 * Pod network is) maps onto it in the Pod controller.
 *
 * @example
 * ```ts
 * if (!ready) return requeueAfter(2_000);
 * if (throttled) return retry();
 * return done();
 * ```
 * @module
 */

/** See the module documentation; `{}` is done. */
export interface Result {
  /** Failed in a way that may pass: again after the key's backoff. */
  retry?: boolean;
  /** Again after this many milliseconds (the key's failures forgotten). */
  requeueAfterMs?: number;
}

/** Nothing more to do for the key. */
export function done(): Result {
  return {};
}

/** Again after the key's backoff. */
export function retry(): Result {
  return { retry: true };
}

/** Again after `ms`. */
export function requeueAfter(ms: number): Result {
  return { requeueAfterMs: ms };
}
