/** Options for {@linkcode RateLimiter}. */
export interface RateLimiterOptions {
  /**
   * Calls per second allowed for each action; `Infinity` turns limiting off.
   * Tencent documents 20/s for every CLB action used here.
   * @default {20}
   */
  perSecond?: number;
  /** Per-action overrides, e.g. `{ CreateListener: 5 }`. @default {{}} */
  perAction?: Readonly<Record<string, number>>;
}

/**
 * Per-action request limit over a sliding one-second window, the way Tencent
 * Cloud answers `RequestLimitExceeded`. Refused calls do not use up the window.
 *
 * @example
 * ```ts
 * const limiter = new RateLimiter({ perSecond: 2 });
 * limiter.tryAcquire("DescribeListeners", 0); // true
 * limiter.tryAcquire("DescribeListeners", 1); // true
 * limiter.tryAcquire("DescribeListeners", 2); // false
 * limiter.tryAcquire("DescribeListeners", 1001); // true again
 * ```
 */
export class RateLimiter {
  #perSecond: number;
  #perAction = new Map<string, number>();
  #accepted = new Map<string, number[]>();

  constructor(options: RateLimiterOptions = {}) {
    this.#perSecond = options.perSecond ?? 20;
    for (const [action, limit] of Object.entries(options.perAction ?? {})) {
      this.#perAction.set(action, limit);
    }
  }

  /** The limit that applies to `action`, in calls per second. */
  limitOf(action: string): number {
    return this.#perAction.get(action) ?? this.#perSecond;
  }

  /**
   * Sets the limit of one action, or of every action without its own limit
   * when `action` is `"*"`.
   */
  setLimit(action: string, perSecond: number): void {
    if (!(perSecond >= 0)) {
      throw new RangeError(
        `Rate limit for ${action} must be >= 0 calls per second, got ${perSecond}`,
      );
    }
    if (action === "*") this.#perSecond = perSecond;
    else this.#perAction.set(action, perSecond);
  }

  /** Records a call at `nowMs` and says whether it is within the limit. */
  tryAcquire(action: string, nowMs: number): boolean {
    const limit = this.limitOf(action);
    if (limit === Infinity) return true;
    let times = this.#accepted.get(action);
    if (times === undefined) {
      times = [];
      this.#accepted.set(action, times);
    }
    while (times.length > 0 && times[0] <= nowMs - 1000) times.shift();
    if (times.length >= limit) return false;
    times.push(nowMs);
    return true;
  }
}
