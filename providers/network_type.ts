/**
 * A network type as the process sees it: the settings it takes (flags,
 * environment, a section of the pools file) and how it builds its
 * provider(s) from them. `providers/mod.ts` lists them; `main.ts` hands
 * their settings to the configuration loader and their values back to
 * {@linkcode NetworkType.create}, so neither `main.ts` nor `controller/`
 * names a type, a cloud or a cloud setting.
 *
 * @example
 * ```ts
 * export const noneType: NetworkType = {
 *   title: "Kubernetes-None",
 *   settings: [],
 *   create: () => [createNoneProvider()],
 * };
 * ```
 * @module
 */

import type { CloudCallObserver } from "./cloud_call.ts";
import type { Provider } from "./provider.ts";
import type { SettingSpec } from "./settings.ts";

/** What a network type is built from. */
export interface NetworkTypeContext {
  /** The text of one of the type's settings: its flag, else its variable, else its default. */
  setting(flag: string): string | undefined;
  /** The type's section of the pools file, when the file has one. */
  section?: unknown;
  /** Where the section came from (the file), for messages. */
  source: string;
  /** The process environment: credentials are read from it (or from files it names). */
  env: Record<string, string>;
  /** Where a type says what it runs with (never a secret). */
  log: { info(message: string): void; warn(message: string): void };
  /** Told of every cloud API call the type's clients make (the metrics). @default {none} */
  cloudCalls?: CloudCallObserver;
}

/** One entry of `providers/mod.ts`. */
export interface NetworkType {
  /** A heading for `--help` and README, e.g. `Kubernetes-HostPort`. */
  readonly title: string;
  /** Its flags; names are unique across all types and the core. */
  readonly settings: readonly SettingSpec[];
  /** The top-level key of the pools file it reads, e.g. `hostPort`. */
  readonly section?: string;
  /**
   * Builds the type's providers from its settings.
   * @throws {ConfigError} naming the flag or file entry that is wrong.
   */
  create(ctx: NetworkTypeContext): Provider[];
}
