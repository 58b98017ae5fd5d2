/**
 * A store of objects by key that also keeps named indexes, as client-go's
 * `cache.Indexer` does: each index function names the values an object is
 * found under (its namespace, its owners' UIDs, its label pairs…), and
 * {@linkcode Indexer.byIndex} answers "the objects under this value" at
 * the cost of what it returns, where a filter over every cached object
 * costs the whole cache on every event.
 *
 * @example
 * ```ts
 * const pods = new Indexer<Pod>({ [NAMESPACE_INDEX]: byNamespace });
 * pods.set("games/gs-0", pod);
 * pods.byIndex(NAMESPACE_INDEX, "games"); // [pod]
 * ```
 * @module
 */

/**
 * The values an object is found under in one index; none leaves it out of
 * the index. The store calls it again on every change of the object, and
 * on {@linkcode Indexer.reindex} only: what else it reads must not change
 * without a reindex.
 *
 * @example
 * ```ts
 * const byNode: IndexFunc<Pod> = (pod) => pod.spec?.nodeName ? [pod.spec.nodeName] : [];
 * ```
 */
export type IndexFunc<T> = (obj: T) => readonly string[];

/**
 * Index functions by index name.
 *
 * @example
 * ```ts
 * const indexers: Indexers<Pod> = { [NAMESPACE_INDEX]: byNamespace, [OWNER_INDEX]: byOwner };
 * ```
 */
export type Indexers<T> = Record<string, IndexFunc<T>>;

/**
 * What readers of an {@linkcode Indexer} may do: a read-only map by key,
 * plus lookups by index.
 *
 * @example
 * ```ts
 * function podsIn(store: ReadonlyIndexer<Pod>, ns: string): Pod[] {
 *   return store.byIndex(NAMESPACE_INDEX, ns);
 * }
 * ```
 */
export interface ReadonlyIndexer<T> extends ReadonlyMap<string, T> {
  /** The objects found under `value` in index `index`; throws for an index it does not keep. */
  byIndex(index: string, value: string): T[];
  /** The keys of those objects. */
  indexKeys(index: string, value: string): string[];
  /** How many objects are under `value`, without listing them. */
  indexCount(index: string, value: string): number;
  /** The values of `index` at least one object is under. */
  indexValues(index: string): string[];
  /** Whether the store keeps index `index`. */
  hasIndex(index: string): boolean;
}

/**
 * The index every reflector keeps: an object's namespace (`""` when cluster-scoped).
 *
 * @example
 * ```ts
 * reflector.byIndex(NAMESPACE_INDEX, "games");
 * ```
 */
export const NAMESPACE_INDEX = "namespace";

/**
 * The index of the owners' UIDs (`metadata.ownerReferences`), kept where
 * asked for with {@linkcode byOwner}.
 *
 * @example
 * ```ts
 * const listeners = new Indexer<Listener>({ [OWNER_INDEX]: byOwner });
 * listeners.byIndex(OWNER_INDEX, service.metadata.uid);
 * ```
 */
export const OWNER_INDEX = "owner";

/** The parts of an object the index functions here read. */
interface ObjectMeta {
  metadata?: {
    namespace?: string;
    ownerReferences?: readonly { uid?: string }[];
  };
}

/**
 * {@linkcode NAMESPACE_INDEX}'s function (client-go's `MetaNamespaceIndexFunc`).
 *
 * @example
 * ```ts
 * byNamespace({ metadata: { namespace: "games", name: "gs-0" } }); // ["games"]
 * ```
 */
export function byNamespace(obj: ObjectMeta): readonly string[] {
  return [obj.metadata?.namespace ?? ""];
}

/**
 * {@linkcode OWNER_INDEX}'s function: the UID of every owner reference.
 *
 * @example
 * ```ts
 * byOwner({ metadata: { ownerReferences: [{ uid: "a1" }] } }); // ["a1"]
 * ```
 */
export function byOwner(obj: ObjectMeta): readonly string[] {
  const refs = obj.metadata?.ownerReferences;
  if (!refs?.length) return NONE;
  return refs.flatMap((r) => (r.uid ? [r.uid] : []));
}

const NONE: readonly string[] = Object.freeze([]);

/** One index: value → keys, and key → the values it was filed under. */
interface Index<T> {
  fn: IndexFunc<T>;
  keysOf: Map<string, Set<string>>;
  /**
   * What each key was filed under, kept rather than recomputed from the
   * old object: a caller that changed a stored object in place would
   * otherwise leave its key under a value it no longer shows, for good.
   * One value is kept as itself, not in an array: most keys have one (a
   * namespace, an owner), and the array was most of the index's bytes.
   */
  valuesOf: Map<string, Filed>;
}

/** What a key is filed under: one value, or several in an array of exactly their number. */
type Filed = string | readonly string[];

/**
 * The store: see the module documentation.
 *
 * @example
 * ```ts
 * const s = new Indexer<Pod>({ [OWNER_INDEX]: byOwner });
 * s.set("games/gs-0", pod);
 * s.replace(relisted); // indexes rebuilt
 * s.byIndex(OWNER_INDEX, statefulSet.metadata.uid);
 * ```
 */
export class Indexer<T> implements ReadonlyIndexer<T> {
  readonly #objects = new Map<string, T>();
  readonly #indexes = new Map<string, Index<T>>();

  /**
   * @param indexers the indexes to keep from the start; more may be added
   *   later with {@linkcode addIndexers}.
   */
  constructor(indexers: Indexers<T> = {}) {
    this.addIndexers(indexers);
  }

  get size(): number {
    return this.#objects.size;
  }

  get(key: string): T | undefined {
    return this.#objects.get(key);
  }

  has(key: string): boolean {
    return this.#objects.has(key);
  }

  keys(): MapIterator<string> {
    return this.#objects.keys();
  }

  values(): MapIterator<T> {
    return this.#objects.values();
  }

  entries(): MapIterator<[string, T]> {
    return this.#objects.entries();
  }

  [Symbol.iterator](): MapIterator<[string, T]> {
    return this.#objects.entries();
  }

  forEach(callback: (value: T, key: string, map: ReadonlyMap<string, T>) => void): void {
    for (const [key, obj] of this.#objects) callback(obj, key, this);
  }

  /**
   * Keeps more indexes, filled at once from the objects already stored
   * (client-go's `AddIndexers`). A name already kept with the same
   * function is left as it is, so two users may ask for a shared index;
   * with another function it throws.
   */
  addIndexers(indexers: Indexers<T>): void {
    for (const [name, fn] of Object.entries(indexers)) {
      const had = this.#indexes.get(name);
      if (had?.fn === fn) continue;
      if (had) throw new Error(`Index "${name}" is already kept with another function`);
      const index: Index<T> = { fn, keysOf: new Map(), valuesOf: new Map() };
      this.#indexes.set(name, index);
      for (const [key, obj] of this.#objects) this.#file(index, key, obj);
    }
  }

  hasIndex(index: string): boolean {
    return this.#indexes.has(index);
  }

  /** Adds or replaces the object under `key`; returns the one it replaced. */
  set(key: string, obj: T): T | undefined {
    const before = this.#objects.get(key);
    this.#objects.set(key, obj);
    for (const index of this.#indexes.values()) this.#file(index, key, obj);
    return before;
  }

  /** Removes the object under `key`; returns it. */
  delete(key: string): T | undefined {
    const before = this.#objects.get(key);
    if (before === undefined && !this.#objects.has(key)) return undefined;
    this.#objects.delete(key);
    for (const index of this.#indexes.values()) this.#unfile(index, key);
    return before;
  }

  /**
   * Makes the store exactly `objects` (a relist), indexes rebuilt: a key
   * or an index value absent from the new list leaves no trace.
   */
  replace(objects: Iterable<[string, T]>): void {
    this.#objects.clear();
    for (const index of this.#indexes.values()) {
      index.keysOf.clear();
      index.valuesOf.clear();
    }
    for (const [key, obj] of objects) this.set(key, obj);
  }

  byIndex(index: string, value: string): T[] {
    const keys = this.#index(index).keysOf.get(value);
    if (!keys) return [];
    const out: T[] = [];
    for (const key of keys) out.push(this.#objects.get(key)!);
    return out;
  }

  indexKeys(index: string, value: string): string[] {
    return [...(this.#index(index).keysOf.get(value) ?? [])];
  }

  indexCount(index: string, value: string): number {
    return this.#index(index).keysOf.get(value)?.size ?? 0;
  }

  indexValues(index: string): string[] {
    return [...this.#index(index).keysOf.keys()];
  }

  /**
   * Files every object of `index` again. For an index function that also
   * reads something besides the object (which keys are wanted): its owner
   * calls this when that changes.
   */
  reindex(index: string): void {
    const found = this.#index(index);
    found.keysOf.clear();
    found.valuesOf.clear();
    for (const [key, obj] of this.#objects) this.#file(found, key, obj);
  }

  #index(name: string): Index<T> {
    const index = this.#indexes.get(name);
    // A typo in an index name would otherwise read as "nothing there".
    if (!index) throw new Error(`No index "${name}" is kept (kept: ${[...this.#indexes.keys()]})`);
    return index;
  }

  /** Files `key` under what `obj` shows now, moving it off what it showed before. */
  #file(index: Index<T>, key: string, obj: T): void {
    const filed = index.valuesOf.get(key);
    const computed = index.fn(obj);
    // Most updates (a Pod's status) change no indexed value: touch nothing.
    if (sameValues(filed, computed)) return;
    const before = listOf(filed);
    const after = unique(computed);
    for (const value of before) {
      if (!after.includes(value)) this.#remove(index, value, key);
    }
    for (const value of after) {
      if (before.includes(value)) continue;
      let keys = index.keysOf.get(value);
      if (!keys) index.keysOf.set(value, keys = new Set());
      keys.add(key);
    }
    // A copy of exactly its length: an array grown by push() keeps room
    // for 17 values.
    if (after.length === 1) index.valuesOf.set(key, after[0]);
    else if (after.length) index.valuesOf.set(key, after.slice());
    else index.valuesOf.delete(key);
  }

  #unfile(index: Index<T>, key: string): void {
    for (const value of listOf(index.valuesOf.get(key))) this.#remove(index, value, key);
    index.valuesOf.delete(key);
  }

  #remove(index: Index<T>, value: string, key: string): void {
    const keys = index.keysOf.get(value);
    if (!keys) return;
    keys.delete(key);
    // Values come and go (namespaces, owners, label values): an empty
    // entry kept for each would grow the index without end.
    if (keys.size === 0) index.keysOf.delete(value);
  }
}

function unique(values: readonly string[]): readonly string[] {
  if (values.length < 2) return values;
  return values.length === new Set(values).size ? values : [...new Set(values)];
}

function listOf(filed: Filed | undefined): readonly string[] {
  return filed === undefined ? NONE : typeof filed === "string" ? [filed] : filed;
}

function sameValues(filed: Filed | undefined, b: readonly string[]): boolean {
  if (filed === undefined) return b.length === 0;
  if (typeof filed === "string") return b.length === 1 && b[0] === filed;
  const a = filed;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
