/**
 * Settings as gamenet takes them: a flag, its environment variable, a
 * default and a help line, declared by whoever reads it (the core in
 * `controller/config.ts`, each network type in its own module), and the
 * parsers of their texts. A mistake is a {@linkcode ConfigError} whose
 * message names the flag, variable or file line and says what to write.
 *
 * @example
 * ```ts
 * const reuseDelay: SettingSpec = {
 *   flag: "reuse-delay",
 *   env: "GAMENET_REUSE_DELAY",
 *   help: "keep freed host ports out of circulation this long (e.g. 30s)",
 *   default: "0s",
 * };
 * parseDuration("--reuse-delay", "30s"); // 30_000
 * ```
 * @module
 */

/** One flag, with its environment fallback and default. */
export interface SettingSpec {
  /** Without the dashes, e.g. `reuse-delay`. */
  readonly flag: string;
  /** Read when the flag is not given, e.g. `GAMENET_REUSE_DELAY`. */
  readonly env?: string;
  /** One line for `--help` and README's table. */
  readonly help: string;
  /** The text used when neither flag nor variable is set. */
  readonly default?: string;
  /** `--flag` alone means `true`. @default {false} */
  readonly boolean?: boolean;
  /** What README's table says in the default column when there is no default (e.g. "none"). */
  readonly defaultText?: string;
}

/** A configuration mistake, reported before anything starts. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/**
 * Parses `30s`, `5m`, `1h`, `250ms`, `1.5s`, `0`.
 *
 * @example
 * ```ts
 * parseDuration("--resync", "10m"); // 600_000
 * ```
 */
export function parseDuration(what: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m || (m[2] === undefined && Number(m[1]) !== 0)) {
    throw new ConfigError(`${what} "${text}": write a duration like 30s, 5m or 250ms`);
  }
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? "ms"]!;
  return Math.round(Number(m[1]) * unit);
}

/** A port range, both ends included. */
export interface PortRange {
  min: number;
  max: number;
}

/**
 * Parses `min-max` within 1..65535.
 *
 * @example
 * ```ts
 * parseRange("--host-port-range", "8000-9000"); // { min: 8000, max: 9000 }
 * ```
 */
export function parseRange(what: string, text: string): PortRange {
  const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(String(text));
  const min = Number(m?.[1]);
  const max = Number(m?.[2]);
  if (!m || min < 1 || max > 65535 || min > max) {
    throw new ConfigError(
      `${what} "${text}": write a port range like 8000-9000 (1-65535, low-high)`,
    );
  }
  return { min, max };
}

/**
 * Parses `true` or `false`.
 *
 * @example
 * ```ts
 * parseBoolean("--leader-elect", "false"); // false
 * ```
 */
export function parseBoolean(what: string, text: string): boolean {
  if (text !== "true" && text !== "false") {
    throw new ConfigError(`${what}=${text}: write true or false`);
  }
  return text === "true";
}
