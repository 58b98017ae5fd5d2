/**
 * A task run every so often, never two at once (a slow run makes the next
 * tick skip), and only while `when` allows it (a follower does not sweep);
 * a failure is logged and the next tick tries again.
 *
 * @example
 * ```ts
 * const sweep = new Periodic("CLB sweep", 60_000, () => provider.sweep(ctx), {
 *   when: () => leading,
 *   log,
 * });
 * sweep.stop();
 * ```
 * @module
 */

/** Options of {@linkcode Periodic}. */
export interface PeriodicOptions {
  /** Whether this tick should run. @default {() => true} */
  when?: () => boolean;
  /** Where a failed run is reported. @default {console.error} */
  log?: (message: string) => void;
}

/** See the module documentation. */
export class Periodic {
  readonly #timer: ReturnType<typeof setInterval>;
  #running = false;
  /** Runs so far (not counting skipped ticks). */
  runs = 0;

  constructor(
    name: string,
    everyMs: number,
    task: () => Promise<unknown> | unknown,
    options: PeriodicOptions = {},
  ) {
    const when = options.when ?? (() => true);
    const log = options.log ?? ((m: string) => console.error(m));
    this.#timer = setInterval(async () => {
      if (this.#running || !when()) return;
      this.#running = true;
      this.runs++;
      try {
        await task();
      } catch (err) {
        log(`${name}: ${(err as Error).message}`);
      } finally {
        this.#running = false;
      }
    }, everyMs);
  }

  /** No tick after this one (a run under way finishes). */
  stop(): void {
    clearInterval(this.#timer);
  }
}
