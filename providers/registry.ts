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
}
