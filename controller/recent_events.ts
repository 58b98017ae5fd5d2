/**
 * The last few Events gamenet itself recorded for each object, kept in
 * memory so that `/ui`, `/allocations` and the metrics can say why a game
 * server is not Ready without asking the API server. Every Event counts
 * here, also one the spam filter kept from the API server: it is still
 * what gamenet has to say about the Pod.
 *
 * Bounded twice: a few Events per object (a repeat bumps its count, as the
 * API server's aggregation does) and a number of objects, the least
 * recently talked about forgotten first. A Pod recreated under the same
 * name does not inherit its predecessor's Events: readers pass the uid.
 *
 * @example
 * ```ts
 * const recent = new RecentEvents();
 * const recorder = new EventRecorder(client, { onRecord: (ref, e) => recent.remember(ref, e) });
 * recent.of("games", "gs-0", pod.metadata.uid); // [{ type: "Warning", reason: "PortsExhausted", ... }]
 * ```
 * @module
 */

/** One Event as gamenet recorded it. */
export interface RecentEvent {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
  /** Times recorded (a repeat bumps it instead of adding an entry). */
  count: number;
  /** RFC 3339, of the last repeat. */
  lastTimestamp: string;
}

/** The object an Event is about, as far as {@linkcode RecentEvents} needs it. */
export interface RecentEventRef {
  namespace: string;
  name: string;
  uid?: string;
}

/** Options of {@linkcode RecentEvents}. */
export interface RecentEventsOptions {
  /** Events kept per object, the oldest dropped first. @default {10} */
  perObject?: number;
  /** Objects remembered, the least recently talked about forgotten first. @default {20_000} */
  objects?: number;
}

interface Entry {
  uid?: string;
  events: RecentEvent[];
}

/** See the module documentation. */
export class RecentEvents {
  readonly #perObject: number;
  readonly #objects: number;
  /** In order of the last Event: a Map keeps insertion order, and a re-insert moves a key last. */
  readonly #byObject = new Map<string, Entry>();

  constructor(options: RecentEventsOptions = {}) {
    this.#perObject = options.perObject ?? 10;
    this.#objects = options.objects ?? 20_000;
  }

  /** Objects remembered now. */
  get size(): number {
    return this.#byObject.size;
  }

  /**
   * Remembers one Event for `ref`. An Event of a different uid than the
   * ones remembered for that name starts over (the Pod was recreated).
   */
  remember(ref: RecentEventRef, event: Omit<RecentEvent, "count"> & { count?: number }): void {
    const key = `${ref.namespace}/${ref.name}`;
    let entry = this.#byObject.get(key);
    this.#byObject.delete(key);
    if (!entry || (ref.uid && entry.uid && ref.uid !== entry.uid)) {
      entry = { uid: ref.uid, events: [] };
    }
    entry.uid ??= ref.uid;
    this.#byObject.set(key, entry);
    const same = entry.events.findIndex((e) =>
      e.type === event.type && e.reason === event.reason && e.message === event.message
    );
    const count = (same >= 0 ? entry.events[same].count : 0) + (event.count ?? 1);
    if (same >= 0) entry.events.splice(same, 1);
    entry.events.push({ ...event, count });
    if (entry.events.length > this.#perObject) entry.events.shift();
    if (this.#byObject.size > this.#objects) {
      this.#byObject.delete(this.#byObject.keys().next().value!);
    }
  }

  /**
   * The Events remembered for an object, oldest first; none when `uid` is
   * given and they were about another object of that name.
   */
  of(namespace: string, name: string, uid?: string): readonly RecentEvent[] {
    const entry = this.#byObject.get(`${namespace}/${name}`);
    if (!entry || (uid && entry.uid && uid !== entry.uid)) return [];
    return entry.events;
  }

  /** The newest `Warning` of {@linkcode of}, if any. */
  lastWarning(namespace: string, name: string, uid?: string): RecentEvent | undefined {
    return this.of(namespace, name, uid).findLast((e) => e.type === "Warning");
  }

  /** Forgets an object (its Pod is gone). */
  forget(namespace: string, name: string): void {
    this.#byObject.delete(`${namespace}/${name}`);
  }
}
