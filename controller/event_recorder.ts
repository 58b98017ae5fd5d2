/**
 * Kubernetes Events for what a user must act on, recorded the way
 * client-go's recorder does, so that a Pod stuck on an exhausted pool
 * shows one line in `kubectl describe` and costs the API server next to
 * nothing:
 *
 * - **Aggregation**: a repeat of an Event (same object, type, reason and
 *   message) within the fold window bumps the first one's `count` instead
 *   of adding another; the count is written at most once per
 *   `updateEveryMs` (the last count always lands).
 * - **Spam filter**: each object has a token bucket (client-go's
 *   `EventSourceObjectSpamFilter`: a burst of 25, one more token every
 *   five minutes); an Event without a token is dropped.
 * - **Never on the reconcile path**: recording only queues (bounded); a
 *   writer sends the queue in the background. A full queue drops, and
 *   every drop is counted (`gamenet_events_dropped_total`).
 *
 * Recording never throws: an Event is worth less than the reconcile that
 * wanted to write it.
 *
 * @example
 * ```ts
 * const events = new EventRecorder(client, { instance: "gamenet-7d9c-abcde" });
 * events.warning(podRef, "PortsExhausted", "No free host port in range default (8000-9000)");
 * await events.flush(); // on shutdown
 * ```
 * @module
 */

import type { KubeClient } from "./kube_client.ts";

/** The object an Event is about. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
}

/** Options of {@linkcode EventRecorder}. */
export interface EventRecorderOptions {
  /** `source.component` / `reportingComponent`. @default {"gamenet"} */
  component?: string;
  /** `reportingInstance`, e.g. the Pod name. @default {""} */
  instance?: string;
  /** A repeat within this window bumps the count instead of adding an Event. @default {600_000} */
  foldWindowMs?: number;
  /** A folded Event's count is written at most this often. @default {60_000} */
  updateEveryMs?: number;
  /** Events per object at once (the spam filter's burst). @default {25} */
  burst?: number;
  /** One more Event per object this often once the burst is spent. @default {300_000} */
  refillEveryMs?: number;
  /** Events waiting to be written; beyond this they are dropped. @default {1_000} */
  queueSize?: number;
  /**
   * Called for every Event recorded, before folding and the spam filter
   * (e.g. `RecentEvents.remember`). @default {() => {}}
   */
  onRecord?: (ref: ObjectRef, event: RecordedEvent) => void;
  /** Called for each Event dropped (spam filter or full queue). @default {() => {}} */
  onDrop?: (why: "spam" | "queue-full") => void;
  /** @default {console.error} */
  log?: (message: string) => void;
  /** Milliseconds now; tests pass their own. @default {Date.now} */
  clock?: () => number;
}

/** What {@linkcode EventRecorderOptions.onRecord} is told. */
export interface RecordedEvent {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
  /** RFC 3339. */
  lastTimestamp: string;
}

interface Folded {
  /** The object it is about. */
  ref: ObjectRef;
  name: string;
  /** The count recorded so far, and the one last written. */
  count: number;
  written: number;
  /** When the last repeat came, and when the count was last written. */
  at: number;
  writtenAt: number;
  /** A write of the count waits for `updateEveryMs`. */
  pending: boolean;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** A write the queue holds. */
type Job = () => Promise<void>;

/** Folded Events and buckets remembered at most (oldest forgotten first). */
const MAX_REMEMBERED = 10_000;

/** The recorder: see the module documentation. */
export class EventRecorder {
  readonly #client: KubeClient;
  readonly #options: Required<Omit<EventRecorderOptions, "component" | "instance">> & {
    component: string;
    instance: string;
  };
  readonly #folded = new Map<string, Folded>();
  readonly #buckets = new Map<string, Bucket>();
  readonly #queue: Job[] = [];
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  #writing?: Promise<void>;
  #recorded = 0;
  #dropped = 0;

  constructor(client: KubeClient, options: EventRecorderOptions = {}) {
    this.#client = client;
    this.#options = {
      component: "gamenet",
      instance: "",
      foldWindowMs: 600_000,
      updateEveryMs: 60_000,
      burst: 25,
      refillEveryMs: 300_000,
      queueSize: 1_000,
      onRecord: () => {},
      onDrop: () => {},
      log: (m) => console.error(m),
      clock: Date.now,
      ...options,
    };
  }

  /** Events recorded so far (new or folded into one). */
  get recorded(): number {
    return this.#recorded;
  }

  /** Events dropped so far (spam filter or full queue). */
  get dropped(): number {
    return this.#dropped;
  }

  /** Records a `Warning` event (queued; see the module documentation). */
  warning(ref: ObjectRef, reason: string, message: string): Promise<void> {
    return this.record(ref, "Warning", reason, message);
  }

  /**
   * Records an event: folds a repeat, filters spam, queues the write.
   * Resolves at once; {@linkcode flush} waits for the writes.
   */
  record(
    ref: ObjectRef,
    type: "Normal" | "Warning",
    reason: string,
    message: string,
  ): Promise<void> {
    const object = ref.uid ?? `${ref.namespace}/${ref.name}`;
    const key = [object, type, reason, message].join("\u0000");
    const now = this.#options.clock();
    this.#options.onRecord(ref, { type, reason, message, lastTimestamp: rfc3339(now) });
    const folded = this.#folded.get(key);
    if (folded && now - folded.at < this.#options.foldWindowMs) {
      folded.count++;
      folded.at = now;
      this.#recorded++;
      folded.ref = ref;
      this.#scheduleCount(key, folded);
      return Promise.resolve();
    }
    if (!this.#take(object, now)) {
      this.#drop("spam");
      return Promise.resolve();
    }
    const name = `${ref.name}.${now.toString(16)}${
      Math.floor(Math.random() * 0xffff).toString(16)
    }`;
    const entry: Folded = {
      ref,
      name,
      count: 1,
      written: 0,
      at: now,
      writtenAt: now,
      pending: false,
    };
    this.#remember(this.#folded, key, entry);
    this.#recorded++;
    this.#enqueue(async () => {
      const ts = rfc3339(now);
      await this.#client.request("POST", `/api/v1/namespaces/${ref.namespace}/events`, {
        body: {
          apiVersion: "v1",
          kind: "Event",
          metadata: { name, namespace: ref.namespace },
          involvedObject: ref,
          type,
          reason,
          message: message.length > 1024 ? `${message.slice(0, 1021)}...` : message,
          source: { component: this.#options.component },
          reportingComponent: this.#options.component,
          reportingInstance: this.#options.instance,
          firstTimestamp: ts,
          lastTimestamp: ts,
          count: 1,
        },
      });
      entry.written = 1;
    }, () => this.#folded.delete(key));
    return Promise.resolve();
  }

  /** Waits until every queued write is sent (or failed). */
  async flush(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const [key, f] of this.#folded) {
      if (f.pending) this.#queueCount(key, f);
    }
    while (this.#writing) await this.#writing;
  }

  /** Writes the count of a folded Event now, or once `updateEveryMs` has passed. */
  #scheduleCount(key: string, f: Folded): void {
    if (f.pending) return;
    f.pending = true;
    const wait = Math.max(0, f.writtenAt + this.#options.updateEveryMs - this.#options.clock());
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#queueCount(key, f);
    }, wait);
    this.#timers.add(timer);
  }

  #queueCount(key: string, f: Folded): void {
    f.pending = false;
    const ref = f.ref;
    this.#enqueue(async () => {
      const count = f.count;
      if (count === f.written) return;
      await this.#client.request("PATCH", `/api/v1/namespaces/${ref.namespace}/events/${f.name}`, {
        body: { count, lastTimestamp: rfc3339(f.at) },
        contentType: "application/merge-patch+json",
      });
      f.written = count;
      f.writtenAt = this.#options.clock();
    }, () => this.#folded.delete(key));
  }

  /** Takes a token from `object`'s bucket; false when it has none. */
  #take(object: string, now: number): boolean {
    let b = this.#buckets.get(object);
    if (!b) {
      b = { tokens: this.#options.burst, at: now };
      this.#remember(this.#buckets, object, b);
    }
    const refill = Math.floor((now - b.at) / this.#options.refillEveryMs);
    if (refill > 0) {
      b.tokens = Math.min(this.#options.burst, b.tokens + refill);
      b.at += refill * this.#options.refillEveryMs;
    }
    if (b.tokens <= 0) return false;
    b.tokens--;
    return true;
  }

  #remember<V>(map: Map<string, V>, key: string, value: V): void {
    if (map.size >= MAX_REMEMBERED) map.delete(map.keys().next().value!);
    map.set(key, value);
  }

  #drop(why: "spam" | "queue-full"): void {
    this.#dropped++;
    this.#options.onDrop(why);
  }

  /** Queues a write; `onFail` runs when it fails (the Event may have expired: start anew). */
  #enqueue(job: Job, onFail: () => void): void {
    if (this.#queue.length >= this.#options.queueSize) {
      this.#drop("queue-full");
      return;
    }
    this.#queue.push(async () => {
      try {
        await job();
      } catch (err) {
        onFail();
        this.#options.log(`Event not recorded: ${(err as Error).message}`);
      }
    });
    this.#writing ??= this.#drain();
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) await this.#queue.shift()!();
    this.#writing = undefined;
  }
}

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}
