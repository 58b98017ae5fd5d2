/**
 * The producer behind `GET /allocations/stream`: one for every subscriber,
 * it builds the allocations view at most once per interval, only while
 * someone listens and only when something may have changed, compares it
 * with the last one, and hands each subscriber the changes its filters
 * match as Server-Sent Events (the protocol is in `allocations_stream.ts`).
 *
 * Memory stays flat whatever a subscriber does: a snapshot is written only
 * when the subscriber reads (never queued), and a subscriber whose queued
 * changes pass {@linkcode AllocationsFeedOptions.maxQueuedBytes} loses them
 * and gets a fresh snapshot when it reads again. With no subscriber left,
 * the timers stop and the last view is dropped.
 *
 * @example
 * ```ts
 * const feed = new AllocationsFeed({ view: () => manager.allocations(), version: () => manager.changes });
 * const body = feed.subscribe({ namespace: ["games"] }, request.signal);
 * new Response(body, { headers: { "content-type": "text/event-stream" } });
 * ```
 * @module
 */

import type { AllocationsView, AllocationView, PoolView } from "../providers/view.ts";
import { sameJson } from "../providers/same_json.ts";
import { type AllocationFilters, filterView } from "./allocations.ts";

/** How often changes are sent at most, by default. */
export const STREAM_INTERVAL_MS = 1_000;
/** How often an idle stream carries a comment, by default (proxies close silent connections). */
export const STREAM_KEEP_ALIVE_MS = 15_000;

/** A row of the stream: an {@linkcode AllocationView} with its id. */
export interface StreamRow extends AllocationView {
  /** Unique in the view and stable while the row lives: see {@linkcode rowId}. */
  id: string;
}

/** A pool of the stream: a {@linkcode PoolView} with its id. */
export interface StreamPool extends PoolView {
  /** Unique in the view and stable while the pool lives: see {@linkcode poolId}. */
  id: string;
}

/** Options of {@linkcode AllocationsFeed}. */
export interface AllocationsFeedOptions {
  /** Builds the whole view; called at most once per interval, only while someone listens. */
  view: () => AllocationsView;
  /**
   * A number that moves whenever the view may have changed
   * (`Manager.changes`); while it stands the view is not rebuilt, except
   * every {@linkcode refreshMs}. @default {undefined} (rebuilt every interval)
   */
  version?: () => number;
  /** Changes are sent at most this often, coalesced. @default {STREAM_INTERVAL_MS} */
  intervalMs?: number;
  /**
   * The view is rebuilt at least this often while someone listens, even
   * when {@linkcode version} stands: time alone frees ports held by the
   * reuse delay. @default {10_000}
   */
  refreshMs?: number;
  /** A `: keep-alive` comment this often. @default {STREAM_KEEP_ALIVE_MS} */
  keepAliveMs?: number;
  /** The `retry:` hint: how long a browser waits before it reconnects. @default {3_000} */
  retryMs?: number;
  /**
   * Bytes of changes queued for a subscriber that does not read, past
   * which they are dropped for a fresh snapshot. @default {1_048_576}
   */
  maxQueuedBytes?: number;
  /**
   * The share of the event loop the stream may take: after a build of the
   * view that took `t`, the next waits at least `t × (1 / share − 1)`, so a
   * large cluster changing fast gets its changes less often instead of a
   * gamenet that does nothing else (at 20,000 game servers a build takes
   * 0.1-0.4 s). @default {0.25}
   */
  maxLoopShare?: number;
  /** The clock of `generatedAt` and of {@linkcode refreshMs}. @default {() => new Date()} */
  now?: () => Date;
  /** A view that could not be built between two sends. @default {console.error} */
  log?: (message: string) => void;
}

/** What an {@linkcode AllocationsFeed} is doing, for tests and for the curious. */
export interface AllocationsFeedStats {
  /** Open streams. */
  subscribers: number;
  /** Views built since the feed was made. */
  builds: number;
  /** Times a subscriber's queued changes were dropped for a fresh snapshot. */
  resyncs: number;
  /** The most bytes queued for one subscriber now. */
  maxQueuedBytes: number;
}

/**
 * The row's id: its allocation key (the view has one row per owner), with
 * the holding kind and the Pod so that the id also says what the row is.
 *
 * @example
 * ```ts
 * rowId({ owner: "games/gs-0", namespace: "games", pod: "gs-0", type: "x", ports: [] });
 * // "games/gs-0|games/gs-0"
 * ```
 */
export function rowId(row: AllocationView): string {
  return `${row.owner}|${row.holding ? `${row.holding}:` : ""}${row.namespace}/${row.pod}`;
}

/**
 * The pool's id: type, kind, key, range and protocol, which together tell
 * two pools apart (a node has one pool per range; an LB one per protocol).
 *
 * @example
 * ```ts
 * poolId({ type: "Kubernetes-HostPort", kind: "node", key: "n1", range: "8000-9000", used: 0, free: 1001, delayed: 0 });
 * // "Kubernetes-HostPort|node|n1|8000-9000|"
 * ```
 */
export function poolId(pool: PoolView): string {
  return `${pool.type ?? ""}|${pool.kind}|${pool.key}|${pool.range}|${pool.protocol ?? ""}`;
}

/** Gives every item its id; a second item of one id gets `#2`, `#3`: ids stay unique. */
function withIds<T, U extends T & { id: string }>(items: readonly T[], id: (t: T) => string): U[] {
  const seen = new Map<string, number>();
  return items.map((item) => {
    const base = id(item);
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return { ...item, id: n === 1 ? base : `${base}#${n}` } as U;
  });
}

interface State {
  pools: Map<string, StreamPool>;
  rows: Map<string, StreamRow>;
  generatedAt: string;
}

interface Delta {
  pools: StreamPool[];
  /** The previous versions of the changed pools that existed before. */
  poolsBefore: StreamPool[];
  removedPools: StreamPool[];
  rows: StreamRow[];
  rowsBefore: StreamRow[];
  removed: StreamRow[];
  generatedAt: string;
}

interface Subscriber {
  filters: AllocationFilters;
  /** Event texts not yet read. */
  queue: string[];
  queuedBytes: number;
  /** The next read gets a snapshot (the first one, or after its changes were dropped). */
  resync: boolean;
  /** Set while a read waits for something to send. */
  wake?: () => void;
  close: () => void;
}

const encoder = new TextEncoder();

/** See the module documentation. */
export class AllocationsFeed {
  readonly #view: () => AllocationsView;
  readonly #version?: () => number;
  readonly #intervalMs: number;
  readonly #refreshMs: number;
  readonly #keepAliveMs: number;
  readonly #retryMs: number;
  readonly #maxQueuedBytes: number;
  readonly #now: () => Date;
  readonly #log: (message: string) => void;
  readonly #subscribers = new Set<Subscriber>();
  #state?: State;
  #builtVersion?: number;
  readonly #maxLoopShare: number;
  #builtAt = 0;
  #builds = 0;
  /** When the last build ended and what it cost, on the monotonic clock. */
  #builtEnd = 0;
  #buildCost = 0;
  #resyncs = 0;
  #tick?: ReturnType<typeof setInterval>;
  #keepAlive?: ReturnType<typeof setInterval>;

  constructor(options: AllocationsFeedOptions) {
    this.#view = options.view;
    this.#version = options.version;
    this.#intervalMs = options.intervalMs ?? STREAM_INTERVAL_MS;
    this.#refreshMs = options.refreshMs ?? 10_000;
    this.#maxLoopShare = options.maxLoopShare ?? 0.25;
    this.#keepAliveMs = options.keepAliveMs ?? STREAM_KEEP_ALIVE_MS;
    this.#retryMs = options.retryMs ?? 3_000;
    this.#maxQueuedBytes = options.maxQueuedBytes ?? 1_048_576;
    this.#now = options.now ?? (() => new Date());
    this.#log = options.log ?? ((m) => console.error(m));
  }

  /** See {@linkcode AllocationsFeedStats}. */
  get stats(): AllocationsFeedStats {
    let max = 0;
    for (const s of this.#subscribers) max = Math.max(max, s.queuedBytes);
    return {
      subscribers: this.#subscribers.size,
      builds: this.#builds,
      resyncs: this.#resyncs,
      maxQueuedBytes: max,
    };
  }

  /**
   * A stream of Server-Sent Events for `filters`: `retry:` and a snapshot
   * at the first read, then changes. It ends when `signal` aborts, when the
   * reader cancels, or at {@linkcode close}.
   */
  subscribe(filters: AllocationFilters, signal?: AbortSignal): ReadableStream<Uint8Array> {
    // The first subscriber's view is built now: an error is the caller's.
    if (this.#subscribers.size === 0 && !signal?.aborted) this.#refresh();
    let onAbort = () => {};
    const sub: Subscriber = {
      filters,
      queue: [],
      queuedBytes: 0,
      resync: true,
      close: () => {},
    };
    const leave = () => {
      signal?.removeEventListener("abort", onAbort);
      this.#leave(sub);
    };
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        sub.close = () => {
          leave();
          try {
            controller.close();
          } catch {
            // Already closed or errored by the reader.
          }
        };
      },
      pull: async (controller) => {
        while (!sub.resync && sub.queue.length === 0 && this.#subscribers.has(sub)) {
          await new Promise<void>((resolve) => sub.wake = resolve);
          sub.wake = undefined;
        }
        if (!this.#subscribers.has(sub)) return;
        let text = "";
        if (sub.resync) {
          sub.resync = false;
          text = `retry: ${this.#retryMs}\n\n${this.#snapshotEvent(sub.filters)}`;
        }
        text += sub.queue.join("");
        sub.queue = [];
        sub.queuedBytes = 0;
        controller.enqueue(encoder.encode(text));
      },
      cancel: leave,
    }, { highWaterMark: 0 });
    if (signal?.aborted) {
      sub.close();
      return stream;
    }
    onAbort = () => sub.close();
    signal?.addEventListener("abort", onAbort);
    this.#join(sub);
    return stream;
  }

  /** Ends every stream and stops the timers (at shutdown: open streams would hold it up). */
  close(): void {
    for (const sub of [...this.#subscribers]) sub.close();
  }

  #join(sub: Subscriber): void {
    this.#subscribers.add(sub);
    if (this.#subscribers.size > 1) return;
    this.#tick = setInterval(() => {
      try {
        this.#refresh();
      } catch (err) {
        // The subscribers keep what they have; the next interval tries again.
        this.#log(`Allocations stream: building the view failed: ${(err as Error).message}`);
      }
    }, this.#intervalMs);
    this.#keepAlive = setInterval(() => {
      for (const s of this.#subscribers) this.#push(s, ": keep-alive\n\n");
    }, this.#keepAliveMs);
  }

  #leave(sub: Subscriber): void {
    if (!this.#subscribers.delete(sub)) return;
    sub.queue = [];
    sub.queuedBytes = 0;
    // A read waiting for changes returns (and the stream with it).
    sub.wake?.();
    if (this.#subscribers.size > 0) return;
    clearInterval(this.#tick);
    clearInterval(this.#keepAlive);
    this.#tick = this.#keepAlive = undefined;
    // Nobody listens: nothing of the view is kept.
    this.#state = undefined;
    this.#builtVersion = undefined;
  }

  /** Builds the view if it may have changed, and sends every subscriber its part of the changes. */
  #refresh(): void {
    const version = this.#version?.();
    const now = this.#now();
    if (
      this.#state && version !== undefined && version === this.#builtVersion &&
      now.getTime() - this.#builtAt < this.#refreshMs
    ) return;
    const started = performance.now();
    if (this.#state && started - this.#builtEnd < this.#buildCost * (1 / this.#maxLoopShare - 1)) {
      return;
    }
    try {
      this.#rebuild(version, now);
    } finally {
      this.#builtEnd = performance.now();
      this.#buildCost = this.#builtEnd - started;
    }
  }

  /** Builds the view, and sends every subscriber its part of what changed since the last. */
  #rebuild(version: number | undefined, now: Date): void {
    const view = this.#view();
    this.#builds++;
    this.#builtVersion = version;
    this.#builtAt = now.getTime();
    const next: State = {
      pools: new Map(withIds<PoolView, StreamPool>(view.pools, poolId).map((p) => [p.id, p])),
      rows: new Map(
        withIds<AllocationView, StreamRow>(view.allocations, rowId).map((r) => [r.id, r]),
      ),
      generatedAt: now.toISOString(),
    };
    const before = this.#state;
    this.#state = next;
    if (!before) return;
    const delta = diff(before, next);
    if (
      delta.pools.length + delta.removedPools.length + delta.rows.length + delta.removed.length ===
        0
    ) {
      return;
    }
    for (const sub of this.#subscribers) {
      const event = changesEvent(delta, sub.filters);
      if (event) this.#push(sub, event);
    }
  }

  #push(sub: Subscriber, text: string): void {
    // Its next read brings a snapshot that includes this.
    if (sub.resync) return;
    sub.queue.push(text);
    sub.queuedBytes += text.length;
    if (sub.queuedBytes > this.#maxQueuedBytes) {
      sub.queue = [];
      sub.queuedBytes = 0;
      sub.resync = true;
      this.#resyncs++;
    }
    sub.wake?.();
  }

  #snapshotEvent(filters: AllocationFilters): string {
    const state = this.#state!;
    const { pools, allocations } = filterView(
      { pools: [...state.pools.values()], allocations: [...state.rows.values()] },
      filters,
    );
    return sse("snapshot", { pools, allocations, generatedAt: state.generatedAt });
  }
}

function diff(before: State, after: State): Delta {
  const delta: Delta = {
    pools: [],
    poolsBefore: [],
    removedPools: [],
    rows: [],
    rowsBefore: [],
    removed: [],
    generatedAt: after.generatedAt,
  };
  const compare = <T>(b: Map<string, T>, a: Map<string, T>, changed: T[], was: T[], gone: T[]) => {
    for (const [id, item] of a) {
      const old = b.get(id);
      if (old && sameJson(old, item)) continue;
      changed.push(item);
      if (old) was.push(old);
    }
    for (const [id, old] of b) if (!a.has(id)) gone.push(old);
  };
  compare(before.pools, after.pools, delta.pools, delta.poolsBefore, delta.removedPools);
  compare(before.rows, after.rows, delta.rows, delta.rowsBefore, delta.removed);
  return delta;
}

/**
 * The part of `delta` a subscriber with `filters` sees, as an event, or
 * undefined when none: what matches now is sent; what matched before and
 * no longer does (moved to another node, say) is removed for it.
 */
function changesEvent(delta: Delta, filters: AllocationFilters): string | undefined {
  const now = filterView({ pools: delta.pools, allocations: delta.rows }, filters);
  const was = filterView(
    {
      pools: [...delta.poolsBefore, ...delta.removedPools],
      allocations: [...delta.rowsBefore, ...delta.removed],
    },
    filters,
  );
  const shownPools = new Set(now.pools.map((p) => p.id));
  const shownRows = new Set(now.allocations.map((r) => r.id));
  const removedPools = was.pools.map((p) => p.id).filter((id) => !shownPools.has(id));
  const removed = was.allocations.map((r) => r.id).filter((id) => !shownRows.has(id));
  if (now.pools.length + now.allocations.length + removedPools.length + removed.length === 0) {
    return undefined;
  }
  return sse("changes", {
    pools: now.pools,
    removedPools,
    allocations: now.allocations,
    removed,
    generatedAt: delta.generatedAt,
  });
}

function sse(event: string, data: unknown): string {
  // JSON has no raw newline, so one data line carries it.
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
