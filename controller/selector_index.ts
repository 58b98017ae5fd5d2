/**
 * Equality label selectors (a Service's `spec.selector`, a
 * DedicatedCLBService's) answered from indexes, both ways round:
 *
 * - "which objects does this selector select": {@linkcode byLabel} files
 *   an object under `namespace/key=value` for each of its labels;
 *   {@linkcode selectedBy} reads the smallest of the selector's pairs and
 *   checks the other pairs on those objects alone.
 * - "which selector objects select this object" (the reverse index):
 *   {@linkcode selectorIndex} files a selector object under one pair of
 *   its selector, the first key in order. Every object it selects shows
 *   that pair, so {@linkcode selecting} looks up one entry per label of
 *   the object and checks the candidates; a Pod event then costs its own
 *   labels and the selectors sharing a pair with it, not every selector.
 *
 * An empty or missing selector selects nothing, as a Service without a
 * selector selects no Pods.
 *
 * @example
 * ```ts
 * pods.addIndexers({ [LABEL_INDEX]: byLabel });
 * const services = new Indexer<Service>({ [SELECTOR]: selectorIndex((s) => s.spec?.selector) });
 * selectedBy(pods, "games", { app: "gs" });                      // Pods in games labelled app=gs
 * selecting(services, SELECTOR, (s) => s.spec?.selector, pod);   // services selecting pod
 * ```
 * @module
 */

import type { IndexFunc, ReadonlyIndexer } from "./indexer.ts";

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
 * What the functions here read of an object.
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
 * The name stores give the index {@linkcode byLabel} computes, which
 * {@linkcode selectedBy} reads.
 *
 * @example
 * ```ts
 * pods.addIndexers({ [LABEL_INDEX]: byLabel });
 * ```
 */
export const LABEL_INDEX = "labels";

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
 * {@linkcode LABEL_INDEX}'s function: one value per label.
 *
 * @example
 * ```ts
 * byLabel({ metadata: { namespace: "games", labels: { app: "gs" } } }); // ["games/app=gs"]
 * ```
 */
export function byLabel(obj: Labelled): readonly string[] {
  const labels = obj.metadata?.labels;
  if (!labels) return [];
  const ns = obj.metadata?.namespace ?? "";
  return Object.entries(labels).map(([k, v]) => labelPair(ns, k, v));
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
  if (!selector) return false;
  let pairs = 0;
  for (const key in selector) {
    pairs++;
    if (labels?.[key] !== selector[key]) return false;
  }
  return pairs > 0;
}

/**
 * The reverse index's function for objects keeping a selector where
 * `selectorOf` finds it: one value, the selector's first pair by key (see
 * the module documentation), none for an empty selector.
 *
 * @example
 * ```ts
 * const fn = selectorIndex<Service>((s) => s.spec?.selector);
 * fn({ metadata: { namespace: "games" }, spec: { selector: { tier: "game", app: "gs" } } });
 * // ["games/app=gs"]
 * ```
 */
export function selectorIndex<T extends Labelled>(
  selectorOf: (obj: T) => LabelSelector | undefined,
): IndexFunc<T> {
  return (obj) => {
    const selector = selectorOf(obj);
    if (!selector || typeof selector !== "object") return [];
    let first: string | undefined;
    for (const key in selector) if (first === undefined || key < first) first = key;
    if (first === undefined) return [];
    return [labelPair(obj.metadata?.namespace ?? "", first, String(selector[first]))];
  };
}

/**
 * The objects of `store` (which keeps {@linkcode LABEL_INDEX}) in
 * `namespace` that `selector` selects.
 *
 * @example
 * ```ts
 * selectedBy(pods, "games", { app: "gs" });
 * ```
 */
export function selectedBy<T extends Labelled>(
  store: ReadonlyIndexer<T>,
  namespace: string,
  selector: LabelSelector | undefined,
): T[] {
  if (!selector || typeof selector !== "object") return [];
  let smallest: string | undefined;
  let size = Infinity;
  for (const key in selector) {
    const pair = labelPair(namespace, key, String(selector[key]));
    const count = store.indexCount(LABEL_INDEX, pair);
    // A pair no object shows: nothing is selected.
    if (count === 0) return [];
    if (count < size) [smallest, size] = [pair, count];
  }
  if (smallest === undefined) return [];
  return store.byIndex(LABEL_INDEX, smallest).filter((o) => selects(selector, o.metadata?.labels));
}

/**
 * The objects of `selectors` (which keeps `index` =
 * `selectorIndex(selectorOf)`) whose selector selects `obj`, in `obj`'s
 * namespace.
 *
 * @example
 * ```ts
 * selecting(services, SELECTOR, (s) => s.spec?.selector, pod);
 * ```
 */
export function selecting<T extends Labelled>(
  selectors: ReadonlyIndexer<T>,
  index: string,
  selectorOf: (obj: T) => LabelSelector | undefined,
  obj: Labelled,
): T[] {
  const labels = obj.metadata?.labels;
  if (!labels) return [];
  const ns = obj.metadata?.namespace ?? "";
  const out: T[] = [];
  // Each selector object is filed under one pair: no candidate comes twice.
  for (const key in labels) {
    for (const s of selectors.byIndex(index, labelPair(ns, key, labels[key]))) {
      if (selects(selectorOf(s), labels)) out.push(s);
    }
  }
  return out;
}
