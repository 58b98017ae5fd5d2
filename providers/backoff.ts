/**
 * The one exponential backoff: the delay before attempt `failures + 1`,
 * doubling from `initialMs` up to `maxMs`. With jitter (the default) the
 * delay is drawn from its upper half, so that many clients failing at once
 * (a restarted API server, a throttled cloud) do not come back at once.
 *
 * @example
 * ```ts
 * await sleep(backoffDelay(failures++, { initialMs: 500, maxMs: 30_000 }));
 * ```
 * @module
 */

/** Options of {@linkcode backoffDelay}. */
export interface BackoffOptions {
  /** The first delay. */
  initialMs: number;
  /** The longest delay. */
  maxMs: number;
  /** Draw from [delay/2, delay). @default {true} */
  jitter?: boolean;
  /** In [0, 1). @default {Math.random} */
  random?: () => number;
}

/** Milliseconds to wait after `failures` failures in a row (0 for the first retry's base). */
export function backoffDelay(failures: number, options: BackoffOptions): number {
  const delay = Math.min(options.maxMs, options.initialMs * 2 ** failures);
  if (options.jitter === false) return delay;
  return delay / 2 + (options.random ?? Math.random)() * delay / 2;
}
