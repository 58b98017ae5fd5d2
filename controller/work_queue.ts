/**
 * A keyed work queue in the manner of client-go's: a key waiting is queued
 * once however often it is added, a key is never handled by two workers at
 * once (added while in progress, it runs again afterwards), failures come
 * back with per-key exponential backoff, and `addAfter` schedules a key.
 *
 * Keys whose handler finishes without real I/O (a resync of Pods already
 * right) resolve as microtasks, and the event loop runs no I/O until the
 * microtask queue is empty: 100,000 of them in a row would hold an
 * admission review for seconds. So the queue hands out keys for at most
 * {@linkcode WORK_SLICE_MS} at a time, then lets the loop poll for I/O
 * before it goes on.
 *
 * @example
 * ```ts
 * const queue = new WorkQueue(async (key) => {
 *   const outcome = await reconcile(key);
 *   return outcome.kind === "retry" ? { retry: true } : {};
 * }, { workers: 8 });
 * queue.start();
 * queue.add("default/gs-0");
 * ```
 * @module
 */

import { backoffDelay } from "../providers/backoff.ts";
import type { Result } from "../providers/result.ts";

/** How long the queue hands out keys back to back before letting the event loop serve I/O. */
export const WORK_SLICE_MS = 10;

/** Options of {@linkcode WorkQueue}. */
export interface WorkQueueOptions {
  /** Keys handled at once. @default {8} */
  workers?: number;
  /** First retry delay of a failing key. @default {100} */
  backoffBaseMs?: number;
  /** Longest retry delay. @default {60_000} */
  backoffMaxMs?: number;
  /** Called when a handler throws (the key is retried). @default {console.error} */
  onError?: (key: string, err: unknown) => void;
  /** See {@linkcode WORK_SLICE_MS}. @default {WORK_SLICE_MS} */
  sliceMs?: number;
}

/** The queue: see the module documentation. */
export class WorkQueue {
  readonly #handler: (key: string) => Promise<Result | void> | Result | void;
  readonly #workers: number;
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #onError: (key: string, err: unknown) => void;
  /** Keys waiting, in order; a Set keeps insertion order and de-duplicates. */
  readonly #ready = new Set<string>();
  /**
   * The same keys in order, taken from `#head` on. Taking the first key of
   * a Set emptied from the front walks past every deleted entry (V8 keeps
   * them until it rehashes): a resync of 120,000 keys spent 3.3 s there.
   */
  #order: string[] = [];
  #head = 0;
  readonly #processing = new Set<string>();
  /** Added while processing: go back to #ready when done. */
  readonly #dirty = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Map<string, { at: number; timer: ReturnType<typeof setTimeout> }>();
  readonly #sliceMs: number;
  #running = false;
  #idleWaiters: (() => void)[] = [];
  /** When the current run of keys handed out without an I/O poll between them began; -1: none. */
  #sliceStart = -1;
  #resumeScheduled = false;

  constructor(
    handler: (key: string) => Promise<Result | void> | Result | void,
    options: WorkQueueOptions = {},
  ) {
    this.#handler = handler;
    this.#workers = options.workers ?? 8;
    this.#baseMs = options.backoffBaseMs ?? 100;
    this.#maxMs = options.backoffMaxMs ?? 60_000;
    this.#sliceMs = options.sliceMs ?? WORK_SLICE_MS;
    this.#onError = options.onError ?? ((key, err) => console.error(`${key}: ${err}`));
  }

  /** Keys waiting to be handled (not counting scheduled or in-progress ones). */
  get depth(): number {
    return this.#ready.size;
  }

  /** Keys being handled now. */
  get inProgress(): number {
    return this.#processing.size;
  }

  /** Keys scheduled for later (backoff or requeue). */
  get scheduled(): number {
    return this.#timers.size;
  }

  /** Queues `key` now; a pending delayed add of it is dropped. */
  add(key: string): void {
    const t = this.#timers.get(key);
    if (t) {
      clearTimeout(t.timer);
      this.#timers.delete(key);
    }
    if (this.#processing.has(key)) {
      this.#dirty.add(key);
      return;
    }
    this.#enqueue(key);
    this.#pump();
  }

  /** Queues `key` after `ms`; an earlier scheduled add wins over a later one. */
  addAfter(key: string, ms: number): void {
    if (ms <= 0) return this.add(key);
    const at = Date.now() + ms;
    const existing = this.#timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, ms);
    this.#timers.set(key, { at, timer });
  }

  /** Failures in a row of `key` so far. */
  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** Starts handing keys to workers. */
  start(): void {
    this.#running = true;
    this.#pump();
  }

  /** Stops handing out keys and waits for the ones in progress. Scheduled keys are dropped. */
  async stop(): Promise<void> {
    this.#running = false;
    for (const t of this.#timers.values()) clearTimeout(t.timer);
    this.#timers.clear();
    if (this.#processing.size > 0) await new Promise<void>((r) => this.#idleWaiters.push(r));
  }

  /** Resolves when nothing is waiting or in progress (scheduled keys aside). */
  async idle(): Promise<void> {
    if (this.#ready.size === 0 && this.#processing.size === 0) return;
    await new Promise<void>((r) => this.#idleWaiters.push(r));
  }

  #pump(): void {
    if (!this.#running) return;
    while (this.#processing.size < this.#workers && this.#ready.size > 0) {
      if (!this.#withinSlice()) return;
      const key = this.#takeFirst();
      this.#processing.add(key);
      this.#process(key);
    }
  }

  #enqueue(key: string): void {
    if (this.#ready.has(key)) return;
    this.#ready.add(key);
    this.#order.push(key);
  }

  #takeFirst(): string {
    const key = this.#order[this.#head++];
    this.#ready.delete(key);
    // Drop the taken half now and then, so the array does not grow forever.
    if (this.#head > 1024 && this.#head * 2 > this.#order.length) {
      this.#order = this.#order.slice(this.#head);
      this.#head = 0;
    }
    return key;
  }

  /**
   * Whether another key may start now; if not, the pump resumes once the
   * event loop has polled for I/O. A zero timeout is what waits for that
   * poll under Deno 2.9: it costs 2-3 ms of idle loop, but `setImmediate`
   * runs about a hundred times before the loop accepts a connection
   * (measured: 0.1-0.5 s per request), and a message or microtask runs
   * before the poll. The timer that starts with a slice marks its end.
   */
  #withinSlice(): boolean {
    const now = performance.now();
    if (this.#sliceStart < 0) {
      this.#sliceStart = now;
      setTimeout(() => this.#sliceStart = -1, 0);
      return true;
    }
    if (now - this.#sliceStart < this.#sliceMs) return true;
    if (!this.#resumeScheduled) {
      this.#resumeScheduled = true;
      setTimeout(() => {
        this.#resumeScheduled = false;
        this.#pump();
      }, 0);
    }
    return false;
  }

  async #process(key: string): Promise<void> {
    let result: Result | void;
    try {
      result = await this.#handler(key);
    } catch (err) {
      this.#onError(key, err);
      result = { retry: true };
    }
    this.#processing.delete(key);
    if (result?.retry) {
      const n = this.#failures.get(key) ?? 0;
      this.#failures.set(key, n + 1);
      this.addAfter(
        key,
        backoffDelay(n, { initialMs: this.#baseMs, maxMs: this.#maxMs, jitter: false }),
      );
    } else {
      this.#failures.delete(key);
      if (result?.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs);
    }
    if (this.#dirty.delete(key)) {
      if (this.#running) this.add(key);
      else this.#enqueue(key);
    }
    if (this.#running) this.#pump();
    if (this.#processing.size === 0 && (this.#ready.size === 0 || !this.#running)) {
      for (const resolve of this.#idleWaiters.splice(0)) resolve();
    }
  }
}
