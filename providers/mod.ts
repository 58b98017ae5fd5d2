/**
 * The one list of network types. Adding one is a module in `providers/`
 * that exports a {@linkcode NetworkType} (its settings and how it builds
 * its provider) and one line here: `main.ts` and `controller/` take the
 * settings, the `--help` text and the registry from this list and name no
 * type themselves.
 *
 * @example
 * ```ts
 * const registry = createRegistry(NETWORK_TYPES, { setting, source, env, log, sections: {} });
 * registry.get("HostPortNetwork")?.name; // "Kubernetes-HostPort"
 * ```
 * @module
 */

import type { NetworkType, NetworkTypeContext } from "./network_type.ts";
import { ProviderRegistry } from "./registry.ts";
import type { SettingSpec } from "./settings.ts";
import { hostPortType } from "./kubernetes_host_port.ts";
import { noneType } from "./kubernetes_none.ts";
import { nodePortType } from "./kubernetes_node_port.ts";
import { ingressType } from "./kubernetes_ingress.ts";
import { alibabaNatGwType } from "./alibaba_natgw.ts";
import { cloudLbType } from "./lb_types.ts";
import { tencentClbType } from "./tencent_clb/mod.ts";

export type { NetworkType, NetworkTypeContext } from "./network_type.ts";
export { ProviderRegistry } from "./registry.ts";

/** Every network type gamenet serves, in `--help` order. */
export const NETWORK_TYPES: readonly NetworkType[] = [
  hostPortType,
  noneType,
  nodePortType,
  ingressType,
  alibabaNatGwType,
  cloudLbType,
  tencentClbType,
];

/** Every setting of `types`, in order. */
export function settingsOf(types: readonly NetworkType[]): SettingSpec[] {
  return types.flatMap((t) => t.settings);
}

/** The pools-file sections `types` read. */
export function sectionsOf(types: readonly NetworkType[]): string[] {
  return types.flatMap((t) => (t.section ? [t.section] : []));
}

/** What {@linkcode createRegistry} builds the types from. */
export interface RegistryInput extends Omit<NetworkTypeContext, "section"> {
  /** The pools file's sections, by key. */
  sections: Record<string, unknown>;
}

/**
 * Builds every type's providers into one registry.
 * @throws {ConfigError} from a type whose settings are wrong.
 */
export function createRegistry(
  types: readonly NetworkType[],
  input: RegistryInput,
): ProviderRegistry {
  const registry = new ProviderRegistry();
  for (const type of types) {
    const section = type.section ? input.sections[type.section] : undefined;
    for (const provider of type.create({ ...input, section })) registry.add(provider);
  }
  return registry;
}
