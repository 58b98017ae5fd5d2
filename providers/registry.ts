/**
 * Network type names and aliases → providers. Names match exactly, as
 * OpenKruiseGame's do; a Pod naming a type no provider has is left alone
 * (another controller may own it).
 *
 * @example
 * ```ts
 * const registry = new ProviderRegistry([createNoneProvider()]);
 * registry.get("Direct")?.name; // "Kubernetes-None"
 * ```
 * @module
 */

import type { Provider } from "./provider.ts";

/** The registry: see the module documentation. */
export class ProviderRegistry {
  readonly #byName = new Map<string, Provider>();
  readonly #all: Provider[] = [];

  constructor(providers: Provider[] = []) {
    for (const p of providers) this.add(p);
  }

  /** Registers a provider under its name and aliases; a clash is a programming error. */
  add(provider: Provider): void {
    for (const name of [provider.name, ...provider.aliases]) {
      const other = this.#byName.get(name);
      if (other) {
        throw new Error(`Network type "${name}" is claimed by ${other.name} and ${provider.name}`);
      }
      this.#byName.set(name, provider);
    }
    this.#all.push(provider);
  }

  /** The provider for a type name or alias. */
  get(type: string | undefined): Provider | undefined {
    return type === undefined ? undefined : this.#byName.get(type.trim());
  }

  /** Every provider, once. */
  get all(): readonly Provider[] {
    return this.#all;
  }

  /**
   * The known name or alias closest to `type` (a typo, another case, a
   * missing dash), or undefined when none is close.
   *
   * @example
   * ```ts
   * registry.closest("kubernetes-hostport"); // "Kubernetes-HostPort"
   * ```
   */
  closest(type: string): string | undefined {
    const folded = fold(type);
    let best: string | undefined;
    let bestDistance = Infinity;
    for (const name of this.#byName.keys()) {
      const d = editDistance(folded, fold(name));
      if (d < bestDistance) [best, bestDistance] = [name, d];
    }
    // Beyond a third of the name it is another word, not a slip.
    return best !== undefined && bestDistance <= Math.max(2, Math.floor(folded.length / 3))
      ? best
      : undefined;
  }
}

/** Case, spaces, dashes and underscores make no difference to a reader. */
function fold(name: string): string {
  return name.toLowerCase().replace(/[\s_-]+/g, "");
}

/** Levenshtein distance (two rows). */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j] + 1,
        current[j - 1] + 1,
        previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length];
}
