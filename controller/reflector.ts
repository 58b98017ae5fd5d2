/**
 * List + watch of one kind of object into an in-memory store, owned end to
 * end so that it survives what real clusters do: it resumes a watch from
 * the last resourceVersion it saw (bookmarks keep that fresh), relists on
 * 410 Gone, reconnects with jittered exponential backoff after any error,
 * and restarts a watch that has been silent too long. (The periodic look
 * at every object is the controller's: the Manager resyncs its queue.)
 *
 * @example
 * ```ts
 * const pods = new Reflector(client, { path: "/api/v1/pods" }, {
 *   onAdd: (pod) => queue.add(objectKey(pod)),
 *   onUpdate: (_old, pod) => queue.add(objectKey(pod)),
 *   onDelete: (pod) => queue.add(objectKey(pod)),
 * });
 * pods.start();
 * await pods.synced;
 * pods.byIndex(NAMESPACE_INDEX, "games"); // the cached Pods of one namespace
 * ```
 *
 * The store is an {@linkcode Indexer}: it always keeps
 * {@linkcode NAMESPACE_INDEX}, and the indexes given in the options or
 * added later, all kept up to date on every event and relist.
 * @module
 */

import {
  errorFromResponse,
  KubeApiError,
  type KubeClient,
  type ListEnvelope,
  readListItems,
  withoutManagedFields,
} from "./kube_client.ts";
import { backoffDelay } from "../providers/backoff.ts";
import {
  byNamespace,
  Indexer,
  type Indexers,
  NAMESPACE_INDEX,
  type ReadonlyIndexer,
} from "./indexer.ts";

/** The parts of an object a reflector relies on. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    managedFields?: unknown;
    [key: string]: unknown;
  };
}

/** Called as the store changes; exceptions are logged, never stop the reflector. */
export interface ReflectorHandlers<T> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  onDelete?(obj: T): void;
}

/** What to watch and how patiently. */
export interface ReflectorOptions<T> {
  /** Collection path, e.g. `/api/v1/pods` or `/api/v1/namespaces/ns/configmaps`. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * Trims an object before it is stored; the default drops `managedFields`,
   * which is most of a Pod's bytes and never read.
   */
  transform?: (obj: T) => T;
  /**
   * Cut `managedFields` out of the text of every list page and watch event
   * before it is parsed, so that it is never built (see
   * `withoutManagedFields`). @default {true}
   */
  dropManagedFields?: boolean;
  /** Items per list page. @default {500} */
  pageSize?: number;
  /** A watch that delivers nothing (not even a bookmark) for this long is restarted. @default {180_000} */
  inactivityTimeoutMs?: number;
  /** Server-side watch lifetime, picked at random in this range (seconds). @default {[300, 600]} */
  watchTimeoutSeconds?: [number, number];
  /** First reconnect delay after an error. @default {500} */
  backoffInitialMs?: number;
  /** Longest reconnect delay. @default {30_000} */
  backoffMaxMs?: number;
  /** Where diagnostics go. @default {console.error} */
  log?: (message: string) => void;
  /**
   * Indexes to keep besides {@linkcode NAMESPACE_INDEX}, by name (more may
   * be added with {@linkcode Reflector.addIndexers}). @default {{}}
   */
  indexers?: Indexers<T>;
}

/** Counters a reflector keeps, for metrics and tests. */
export interface ReflectorStats {
  lists: number;
  /** Relists caused by 410 Gone (resourceVersion too old). */
  relistsOnGone: number;
  watchesStarted: number;
  /** Watches that ended for any reason other than a clean stop. */
  watchRestarts: number;
  inactivityTimeouts: number;
  errors: number;
  events: number;
  bookmarks: number;
  lastResourceVersion: string;
}

interface WatchEvent<T> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T & { code?: number; reason?: string; message?: string };
}

class GoneError extends Error {}

/** Longest wait for one list page (as long as any other request may take). */
const LIST_PAGE_TIMEOUT_MS = 30_000;

/** A list page asked for, its reply not read yet. */
interface PageRequest {
  /** The `continue` it was asked with. */
  cont: string | undefined;
  response: Promise<Response>;
  /** Fires when the page took too long, reply and body together. */
  timeout: AbortSignal;
  /** Gives up on the page (aborts the request, or drops its body). */
  cancel(): void;
}

/** `namespace/name`, or `name` for cluster-scoped objects. */
export function objectKey(obj: KubeObject): string {
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${obj.metadata?.name}` : `${obj.metadata?.name}`;
}

function stripManagedFields<T extends KubeObject>(obj: T): T {
  if (obj.metadata?.managedFields) delete obj.metadata.managedFields;
  return obj;
}

/** A list + watch loop and its store: see the module documentation. */
export class Reflector<T extends KubeObject> {
  readonly #client: KubeClient;
  readonly #handlers: ReflectorHandlers<T>;
  readonly #opts:
    & Required<
      Omit<ReflectorOptions<T>, "labelSelector" | "fieldSelector" | "indexers">
    >
    & {
      labelSelector?: string;
      fieldSelector?: string;
    };
  readonly #store: Indexer<T>;
  readonly #stats: ReflectorStats = {
    lists: 0,
    relistsOnGone: 0,
    watchesStarted: 0,
    watchRestarts: 0,
    inactivityTimeouts: 0,
    errors: 0,
    events: 0,
    bookmarks: 0,
    lastResourceVersion: "",
  };
  #abort?: AbortController;
  #stopped = false;
  #loop?: Promise<void>;
  #resolveSynced!: () => void;
  #wake?: () => void;
  /** Resolves once the first list has filled the store. */
  readonly synced: Promise<void>;

  constructor(
    client: KubeClient,
    options: ReflectorOptions<T>,
    handlers: ReflectorHandlers<T> = {},
  ) {
    this.#client = client;
    this.#handlers = handlers;
    this.#opts = {
      transform: stripManagedFields,
      dropManagedFields: true,
      pageSize: 500,
      inactivityTimeoutMs: 180_000,
      watchTimeoutSeconds: [300, 600],
      backoffInitialMs: 500,
      backoffMaxMs: 30_000,
      log: (m) => console.error(m),
      ...options,
    };
    this.synced = new Promise((resolve) => this.#resolveSynced = resolve);
    const { indexers = {} } = options;
    if (NAMESPACE_INDEX in indexers) {
      throw new Error(`${options.path}: the "${NAMESPACE_INDEX}" index is always kept`);
    }
    this.#store = new Indexer<T>({ [NAMESPACE_INDEX]: byNamespace, ...indexers });
  }

  /** The current objects by {@linkcode objectKey}, with their indexes; read-only. */
  get store(): ReadonlyIndexer<T> {
    return this.#store;
  }

  /** The cached objects under `value` in index `index` (see {@linkcode Indexer.byIndex}). */
  byIndex(index: string, value: string): T[] {
    return this.#store.byIndex(index, value);
  }

  /**
   * Keeps more indexes, built at once from what is cached; a name already
   * kept with the same function is no change (see
   * {@linkcode Indexer.addIndexers}).
   */
  addIndexers(indexers: Indexers<T>): void {
    this.#store.addIndexers(indexers);
  }

  /** Files every cached object of `index` again (see {@linkcode Indexer.reindex}). */
  reindex(index: string): void {
    this.#store.reindex(index);
  }

  /** A copy of the counters. */
  get stats(): ReflectorStats {
    return { ...this.#stats };
  }

  /** One object by key. */
  get(key: string): T | undefined {
    return this.#store.get(key);
  }

  /** Starts the loop; it runs until {@linkcode stop}. */
  start(): void {
    if (this.#loop) return;
    this.#loop = this.#run();
  }

  /** Stops the loop and waits for it to end. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort?.abort(new Error("reflector stopped"));
    this.#wake?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    let needList = true;
    let failures = 0;
    while (!this.#stopped) {
      try {
        if (needList) {
          await this.#list();
          needList = false;
        }
        await this.#watch();
        failures = 0;
      } catch (err) {
        if (this.#stopped) break;
        if (err instanceof GoneError) {
          // The resourceVersion fell out of the server's history: only a
          // fresh list can say what was missed.
          this.#stats.relistsOnGone++;
          this.#opts.log(`${this.#opts.path}: ${err.message}; relisting`);
          needList = true;
          continue;
        }
        this.#stats.errors++;
        const delay = backoffDelay(failures++, {
          initialMs: this.#opts.backoffInitialMs,
          maxMs: this.#opts.backoffMaxMs,
        });
        this.#opts.log(
          `${this.#opts.path}: ${(err as Error).message}; retrying in ${Math.round(delay)} ms`,
        );
        await this.#sleep(delay);
      }
    }
  }

  /**
   * A controller for the next request, already aborted when stop() came
   * between two requests: otherwise that request (a watch lasting minutes)
   * would keep stop() waiting.
   */
  #newAbort(): AbortController {
    const abort = new AbortController();
    if (this.#stopped) abort.abort(new Error("reflector stopped"));
    return abort;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  #selectors(): Record<string, string | undefined> {
    return { labelSelector: this.#opts.labelSelector, fieldSelector: this.#opts.fieldSelector };
  }

  async #list(): Promise<void> {
    const started = performance.now();
    let pages = 0;
    const fresh = new Map<string, T>();
    let cont: string | undefined;
    let resourceVersion = "";
    let kind: string | undefined;
    let apiVersion: string | undefined;
    const abort = this.#newAbort();
    this.#abort = abort;
    // Each page is asked for as soon as the one before names it: the API
    // server writes a page's `continue` before its items, so the server
    // makes the next page while this one is read.
    let next: PageRequest | undefined = this.#requestPage(undefined, abort.signal);
    try {
      do {
        const current = next!;
        next = undefined;
        const page = await this.#readPage(current, (item, list) => {
          const named = list.metadata?.continue;
          if (named && next === undefined) next = this.#requestPage(named, abort.signal);
          // List items carry no kind; handlers should not have to care.
          kind ??= list.kind?.replace(/List$/, "");
          apiVersion ??= list.apiVersion;
          item.kind ??= kind;
          item.apiVersion ??= apiVersion;
          fresh.set(objectKey(item), this.#opts.transform(item));
        });
        pages++;
        cont = page.metadata.continue || undefined;
        resourceVersion = page.metadata.resourceVersion;
        // Asked for while the page was read (the compiler cannot see that).
        const asked = next as PageRequest | undefined;
        if (asked && asked.cont !== cont) {
          asked.cancel();
          next = undefined;
        }
        if (cont && !next) next = this.#requestPage(cont, abort.signal);
      } while (cont);
    } finally {
      next?.cancel();
    }
    this.#stats.lists++;
    this.#stats.lastResourceVersion = resourceVersion;
    const listed = performance.now();
    this.#replace(fresh);
    // One line per list: where a start's time goes (read vs handlers) at any cluster size.
    this.#opts.log(
      `${this.#opts.path}: listed ${fresh.size} in ${Math.round(listed - started)} ms ` +
        `(${pages} pages), handled in ${Math.round(performance.now() - listed)} ms`,
    );
    this.#resolveSynced();
  }

  /** Asks for one page (its reply is read by {@linkcode #readPage}). */
  #requestPage(cont: string | undefined, listSignal: AbortSignal): PageRequest {
    const own = new AbortController();
    const timeout = AbortSignal.timeout(LIST_PAGE_TIMEOUT_MS);
    const response = this.#client.fetch("GET", this.#opts.path, {
      query: { ...this.#selectors(), limit: this.#opts.pageSize, continue: cont },
      signal: AbortSignal.any([listSignal, own.signal, timeout]),
    });
    // A page asked for ahead may never be read (the list failed first).
    response.catch(() => {});
    return {
      cont,
      response,
      timeout,
      cancel: () => {
        own.abort(new Error("list page not needed"));
        response.then((res) => res.body?.cancel()).catch(() => {});
      },
    };
  }

  /**
   * One page, its items handed over one by one as they are read (see
   * `readListItems`: the page is never held whole, as text or objects).
   */
  async #readPage(
    request: PageRequest,
    onItem: (item: T, list: Partial<ListEnvelope>) => void,
  ): Promise<ListEnvelope> {
    try {
      const res = await request.response;
      if (!res.ok) {
        const err = errorFromResponse(res.status, await res.text());
        // An expired continue token is 410 too: start the list again.
        if (res.status === 410) throw new GoneError(err.message);
        throw err;
      }
      return await readListItems<T>(res.body!, onItem, {
        dropManagedFields: this.#opts.dropManagedFields,
      });
    } catch (err) {
      if (!request.timeout.aborted) throw err;
      // The connection may be half-open: the next request connects anew.
      this.#client.resetConnections();
      throw new Error(`${this.#opts.path}: no list page within ${LIST_PAGE_TIMEOUT_MS} ms`, {
        cause: err,
      });
    }
  }

  #replace(fresh: Map<string, T>): void {
    const old = new Map(this.#store);
    // Indexes rebuilt from the list alone: whatever was missed while the
    // watch was down (a delete, a label change) leaves no stale entry.
    this.#store.replace(fresh);
    for (const [key, obj] of fresh) {
      const before = old.get(key);
      if (!before) this.#call("onAdd", obj);
      else if (before.metadata?.resourceVersion !== obj.metadata?.resourceVersion) {
        this.#call("onUpdate", before, obj);
      }
    }
    for (const [key, obj] of old) if (!fresh.has(key)) this.#call("onDelete", obj);
  }

  #call(name: keyof ReflectorHandlers<T>, a: T, b?: T): void {
    try {
      if (name === "onUpdate") this.#handlers.onUpdate?.(a, b!);
      else this.#handlers[name]?.(a);
    } catch (err) {
      this.#opts.log(`${this.#opts.path}: handler ${name} failed: ${(err as Error).stack ?? err}`);
    }
  }

  async #watch(): Promise<void> {
    const [lo, hi] = this.#opts.watchTimeoutSeconds;
    const abort = this.#newAbort();
    this.#abort = abort;
    let inactive = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        inactive = true;
        abort.abort(new Error("watch inactive"));
      }, this.#opts.inactivityTimeoutMs);
    };
    this.#stats.watchesStarted++;
    arm();
    try {
      const res = await this.#client.fetch("GET", this.#opts.path, {
        query: {
          ...this.#selectors(),
          watch: true,
          allowWatchBookmarks: true,
          resourceVersion: this.#stats.lastResourceVersion,
          timeoutSeconds: Math.round(lo + Math.random() * (hi - lo)),
        },
        signal: abort.signal,
      });
      if (!res.ok) {
        const err = errorFromResponse(res.status, await res.text());
        if (res.status === 410) throw new GoneError(err.message);
        throw err;
      }
      let buffered = "";
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      // Aborting the fetch does not always settle a read already waiting on
      // an HTTP/2 body (seen under Deno 2.9.6 with 2,000 Pods streaming):
      // cancelling the reader does, at once.
      const cancel = () => reader.cancel(abort.signal.reason).catch(() => {});
      abort.signal.addEventListener("abort", cancel, { once: true });
      try {
        while (true) {
          const { value, done } = await reader.read();
          if (abort.signal.aborted) throw abort.signal.reason;
          if (done) break;
          arm();
          buffered += value;
          let nl: number;
          while ((nl = buffered.indexOf("\n")) >= 0) {
            const line = buffered.slice(0, nl).trim();
            buffered = buffered.slice(nl + 1);
            if (!line) continue;
            const text = this.#opts.dropManagedFields ? withoutManagedFields(line) : line;
            this.#apply(JSON.parse(text) as WatchEvent<T>);
          }
        }
      } finally {
        abort.signal.removeEventListener("abort", cancel);
        reader.releaseLock();
      }
      // The server closed the watch when its timeout ran out: resume.
      this.#stats.watchRestarts++;
    } catch (err) {
      if (this.#stopped) return;
      if (inactive) {
        this.#client.resetConnections();
        this.#stats.inactivityTimeouts++;
        this.#stats.watchRestarts++;
        this.#opts.log(
          `${this.#opts.path}: watch silent for ${this.#opts.inactivityTimeoutMs} ms; restarting`,
        );
        return;
      }
      this.#stats.watchRestarts++;
      throw err;
    } finally {
      clearTimeout(timer);
      // Closes the connection whatever ended the watch (an ERROR event leaves it open).
      abort.abort(new Error("watch ended"));
    }
  }

  #apply(event: WatchEvent<T>): void {
    const obj = event.object;
    if (event.type === "ERROR") {
      if (obj.code === 410) throw new GoneError(obj.message ?? "resourceVersion too old");
      throw new KubeApiError(obj.code ?? 500, obj.reason ?? "", obj.message ?? "watch error");
    }
    const rv = obj.metadata?.resourceVersion;
    if (rv) this.#stats.lastResourceVersion = rv;
    if (event.type === "BOOKMARK") {
      this.#stats.bookmarks++;
      return;
    }
    this.#stats.events++;
    const key = objectKey(obj);
    const before = this.#store.get(key);
    if (event.type === "DELETED") {
      this.#store.delete(key);
      this.#call("onDelete", before ?? obj);
      return;
    }
    const stored = this.#opts.transform(obj);
    this.#store.set(key, stored);
    if (before) this.#call("onUpdate", before, stored);
    else this.#call("onAdd", stored);
  }
}
