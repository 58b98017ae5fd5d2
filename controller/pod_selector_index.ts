/**
 * The indexes a kind that selects Pods by labels needs (equality only, as
 * a Service's `spec.selector` or a DedicatedCLBService's), both ways:
 *
 * - reverse, "which selector objects select this Pod": each selector
 *   object is filed under one pair of its selector, its first key by
 *   order, in its namespace. Every Pod it selects shows that pair, so
 *   {@linkcode PodSelectorIndex.selecting} looks up one entry per label of
 *   the Pod and checks the few candidates, instead of every selector.
 * - forward, "which Pods does this selector select": Pods are filed under
 *   their label pairs, but only for the keys some selector is filed under.
 *   The Pod cache holds every Pod of the cluster, and most of their labels
 *   (names, hashes) no selector reads: every pair of 10,000 Pods of five
 *   labels held 5.3 MiB, the one key selectors used 0.9 MiB
 *   (`bench/indexer_memory.ts`). {@linkcode PodSelectorIndex.selectedPods}
 *   reads the selector's first pair and checks the rest. When the
 *   selectors come to use other keys, the Pods are filed again, once, at
 *   the next lookup.
 *
 * An empty or missing selector selects nothing, as a Service without one.
 *
 * @example
 * ```ts
 * const index = new PodSelectorIndex<Service>("services", (s) => s.spec?.selector);
 * const services = new Indexer<Service>(index.selectorIndexers());
 * pods.addIndexers(index.podIndexers());
 * index.selecting(services, pod);                                   // services selecting pod
 * index.selectedPods({ store: pods, reindex: (i) => pods.reindex(i) }, services, service);
 * ```
 * @module
 */

import { type Indexers, NAMESPACE_INDEX, type ReadonlyIndexer } from "./indexer.ts";

/**
 * Label key → value that an object's labels must all show.
 *
 * @example
 * ```ts
 * const selector: LabelSelector = { app: "gameserver" };
 * ```
 */
export type LabelSelector = Readonly<Record<string, string>>;

/**
 * What the index reads of a Pod or a selector object.
 *
 * @example
 * ```ts
 * const pod: Labelled = { metadata: { namespace: "games", labels: { app: "gs" } } };
 * ```
 */
export interface Labelled {
  metadata?: { namespace?: string; labels?: Readonly<Record<string, string>> };
}

/**
 * A Pod cache as {@linkcode PodSelectorIndex.selectedPods} uses it (a
 * `Reflector` is one).
 *
 * @example
 * ```ts
 * const cache: PodCache<Pod> = { store: indexer, reindex: (i) => indexer.reindex(i) };
 * ```
 */
export interface PodCache<P> {
  readonly store: ReadonlyIndexer<P>;
  reindex(index: string): void;
}

/** On the selector objects' cache: each under its selector's first pair. */
const BY_FIRST_PAIR = "podSelector";
/** On the selector objects' cache: each under its selector's first key (the keys Pods are filed under). */
const BY_FIRST_KEY = "podSelectorKey";

/**
 * The index value of one label pair in a namespace. A namespace holds no
 * `/` and a label key no `=`, so no two pairs share a value.
 *
 * @example
 * ```ts
 * labelPair("games", "app", "gs"); // "games/app=gs"
 * ```
 */
export function labelPair(namespace: string, key: string, value: string): string {
  return `${namespace}/${key}=${value}`;
}

/**
 * Whether `labels` show every pair of `selector`; an empty selector
 * selects nothing.
 *
 * @example
 * ```ts
 * selects({ app: "gs" }, { app: "gs", tier: "game" }); // true
 * selects({}, { app: "gs" });                          // false
 * ```
 */
export function selects(
  selector: LabelSelector | undefined,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  if (!selector || typeof selector !== "object") return false;
  let pairs = 0;
  for (const key in selector) {
    pairs++;
    if (labels?.[key] !== selector[key]) return false;
  }
  return pairs > 0;
}

/** The selector's first key by order, the one it is filed under. */
function firstKey(selector: LabelSelector | undefined): string | undefined {
  if (!selector || typeof selector !== "object") return undefined;
  let first: string | undefined;
  for (const key in selector) if (first === undefined || key < first) first = key;
  return first;
}

/** The indexes: see the module documentation. */
export class PodSelectorIndex<S extends Labelled> {
  readonly #podIndex: string;
  readonly #selectorOf: (obj: S) => LabelSelector | undefined;
  /** The label keys the Pods are filed under now. */
  #keys = new Set<string>();

  /**
   * @param name names the Pod cache's index (`selectedBy:<name>`), which
   *   several kinds may share.
   * @param selectorOf where a selector object keeps its selector.
   */
  constructor(name: string, selectorOf: (obj: S) => LabelSelector | undefined) {
    this.#podIndex = `selectedBy:${name}`;
    this.#selectorOf = selectorOf;
  }

  /** The indexes the selector objects' cache keeps. */
  selectorIndexers(): Indexers<S> {
    const namespaced = (obj: S, value: (key: string, selector: LabelSelector) => string) => {
      const selector = this.#selectorOf(obj);
      const key = firstKey(selector);
      return key === undefined ? [] : [value(key, selector!)];
    };
    return {
      [BY_FIRST_PAIR]: (obj) =>
        namespaced(obj, (key, sel) => labelPair(obj.metadata?.namespace ?? "", key, sel[key])),
      [BY_FIRST_KEY]: (obj) => namespaced(obj, (key) => key),
    };
  }

  /** The index the Pod cache keeps: a Pod's pairs whose key some selector is filed under. */
  podIndexers(): Indexers<Labelled> {
    return {
      [this.#podIndex]: (pod) => {
        const labels = pod.metadata?.labels;
        if (!labels || this.#keys.size === 0) return [];
        const ns = pod.metadata?.namespace ?? "";
        const out: string[] = [];
        for (const key of this.#keys) {
          const value = labels[key];
          if (value !== undefined) out.push(labelPair(ns, key, value));
        }
        return out;
      },
    };
  }

  /** The selector objects in `selectors` (kept with {@linkcode selectorIndexers}) selecting `pod`. */
  selecting(selectors: ReadonlyIndexer<S>, pod: Labelled): S[] {
    const labels = pod.metadata?.labels;
    if (!labels) return [];
    const ns = pod.metadata?.namespace ?? "";
    const out: S[] = [];
    // Each selector object is filed under one pair: no candidate comes twice.
    for (const key in labels) {
      for (const s of selectors.byIndex(BY_FIRST_PAIR, labelPair(ns, key, labels[key]))) {
        if (selects(this.#selectorOf(s), labels)) out.push(s);
      }
    }
    return out;
  }

  /**
   * The Pods of `pods` (kept with {@linkcode podIndexers}) in `obj`'s
   * namespace that its selector selects; `selectors` is the cache `obj`
   * comes from.
   */
  selectedPods<P extends Labelled>(pods: PodCache<P>, selectors: ReadonlyIndexer<S>, obj: S): P[] {
    const selector = this.#selectorOf(obj);
    const key = firstKey(selector);
    if (key === undefined) return [];
    this.#refresh(pods, selectors);
    const ns = obj.metadata?.namespace ?? "";
    // An object not (or no longer) in `selectors` may use a key the Pods
    // are not filed under: its namespace is read instead.
    const candidates = this.#keys.has(key)
      ? pods.store.byIndex(this.#podIndex, labelPair(ns, key, selector![key]))
      : pods.store.byIndex(NAMESPACE_INDEX, ns);
    return candidates.filter((p) => selects(selector, p.metadata?.labels));
  }

  /** Files the Pods again if the selectors' first keys are no longer those they are filed under. */
  #refresh(pods: PodCache<unknown>, selectors: ReadonlyIndexer<S>): void {
    const keys = selectors.indexValues(BY_FIRST_KEY);
    if (keys.length === this.#keys.size && keys.every((k) => this.#keys.has(k))) return;
    this.#keys = new Set(keys);
    pods.reindex(this.#podIndex);
  }
}
