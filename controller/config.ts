/**
 * gamenet's configuration: command-line flags, environment variables as
 * fallback, and an optional YAML file for pools. The core's settings and
 * their defaults are here ({@linkcode DEFAULTS}, {@linkcode FLAGS}); each
 * network type declares its own (`providers/mod.ts`), and this loader
 * reads them all alike and hands each type its texts and its section of
 * the pools file. Bad input is a {@linkcode ConfigError} whose message says
 * which flag, variable or file line is wrong.
 *
 * @example
 * ```ts
 * const config = await loadConfig(Deno.args, Deno.env.toObject(), {
 *   settings: settingsOf(NETWORK_TYPES),
 *   sections: sectionsOf(NETWORK_TYPES),
 * });
 * ```
 * @module
 */

import { parse as parseYaml } from "yaml";
import {
  ConfigError,
  parseBoolean,
  parseDuration,
  type SettingSpec,
} from "../providers/settings.ts";

export { ConfigError, parseDuration, type SettingSpec };

/** The whole configuration. */
export interface Config {
  kubeconfig?: string;
  namespace: string;
  identity: string;
  leaderElect: boolean;
  leaseName: string;
  httpAddr: { hostname: string; port: number };
  /** The listener of the views that name every game server: loopback unless told otherwise. */
  debugAddr: { hostname: string; port: number };
  /** `GET /metrics` asks for a bearer token allowed to get `/metrics`. */
  metricsSecure: boolean;
  webhookAddr: { hostname: string; port: number };
  tlsCertFile: string;
  tlsKeyFile: string;
  configFile?: string;
  workers: number;
  logLevel: "debug" | "info" | "warn" | "error";
  /** An admission allocation whose Pod never appears is released after this. */
  admissionGraceMs: number;
  /** Every live object is reconciled again this often. */
  resyncMs: number;
  /** The text of every network type's setting, by flag (flag, else variable, else default). */
  settings: Map<string, string>;
  /** The pools file's sections, by key: each is read by the network type that declares it. */
  sections: Record<string, unknown>;
}

/** The core's defaults, in one place. */
export const DEFAULTS = {
  namespace: "gamenet-system",
  leaderElect: true,
  leaseName: "gamenet",
  httpAddr: ":8080",
  debugAddr: "127.0.0.1:8082",
  metricsSecure: false,
  webhookAddr: ":9443",
  tlsCertFile: "/etc/gamenet/tls/tls.crt",
  tlsKeyFile: "/etc/gamenet/tls/tls.key",
  configFile: "/etc/gamenet/config.yaml",
  workers: 8,
  logLevel: "info",
  admissionGrace: "60s",
  resync: "10m",
} as const;

/** The core's flags, their environment variables and help lines. */
export const FLAGS: readonly SettingSpec[] = [
  {
    flag: "kubeconfig",
    env: "KUBECONFIG",
    help:
      "kubeconfig file or list (current context: token, tokenFile, client certificate, exec plugin)",
    defaultText: "in-cluster service account",
  },
  {
    flag: "namespace",
    env: "POD_NAMESPACE",
    help: "namespace of the leader-election Lease",
    default: DEFAULTS.namespace,
  },
  {
    flag: "identity",
    env: "POD_NAME",
    help: "leader-election identity",
    defaultText: "host name",
  },
  {
    flag: "leader-elect",
    env: "GAMENET_LEADER_ELECT",
    help: "elect a leader among replicas",
    boolean: true,
    default: String(DEFAULTS.leaderElect),
  },
  {
    flag: "lease-name",
    env: "GAMENET_LEASE_NAME",
    help: "name of the Lease",
    default: DEFAULTS.leaseName,
  },
  {
    flag: "http-addr",
    env: "GAMENET_HTTP_ADDR",
    help: "plain HTTP: /healthz /readyz /metrics",
    default: DEFAULTS.httpAddr,
  },
  {
    flag: "debug-addr",
    env: "GAMENET_DEBUG_ADDR",
    help: "views naming every game server: /allocations, /ui (loopback: use kubectl port-forward)",
    default: DEFAULTS.debugAddr,
  },
  {
    flag: "metrics-secure",
    env: "GAMENET_METRICS_SECURE",
    help:
      "/metrics needs a bearer token allowed to get /metrics (TokenReview, SubjectAccessReview)",
    boolean: true,
    default: String(DEFAULTS.metricsSecure),
  },
  {
    flag: "webhook-addr",
    env: "GAMENET_WEBHOOK_ADDR",
    help: "TLS admission webhook (POST /mutate-pods)",
    default: DEFAULTS.webhookAddr,
  },
  {
    flag: "tls-cert-file",
    env: "GAMENET_TLS_CERT_FILE",
    help: "webhook certificate (reloaded when the file changes)",
    default: DEFAULTS.tlsCertFile,
  },
  {
    flag: "tls-key-file",
    env: "GAMENET_TLS_KEY_FILE",
    help: "webhook key",
    default: DEFAULTS.tlsKeyFile,
  },
  {
    flag: "config",
    env: "GAMENET_CONFIG",
    help: "the pools file (skipped when the default path is absent)",
    default: DEFAULTS.configFile,
  },
  {
    flag: "workers",
    env: "GAMENET_WORKERS",
    help: "reconcile workers",
    default: String(DEFAULTS.workers),
  },
  {
    flag: "log-level",
    env: "GAMENET_LOG_LEVEL",
    help: "debug, info, warn or error",
    default: DEFAULTS.logLevel,
  },
  {
    flag: "admission-grace",
    env: "GAMENET_ADMISSION_GRACE",
    help: "release an admission allocation whose Pod never appeared",
    default: DEFAULTS.admissionGrace,
  },
  {
    flag: "resync",
    env: "GAMENET_RESYNC",
    help: "reconcile every live Pod again this often",
    default: DEFAULTS.resync,
  },
];

/** Settings under a heading, for {@linkcode usage}: the core's, then each network type's. */
export interface SettingGroup {
  title: string;
  settings: readonly SettingSpec[];
}

/**
 * The `--help` text: the core's flags, then each group's.
 *
 * @example
 * ```ts
 * console.log(usage(NETWORK_TYPES));
 * ```
 */
export function usage(groups: readonly SettingGroup[] = []): string {
  const line = (f: SettingSpec) => {
    const name = `--${f.flag}${f.boolean ? "[=true|false]" : "=VALUE"}`;
    const def = f.default !== undefined ? ` (default ${f.default})` : "";
    const env = f.env ? ` [$${f.env}]` : "";
    return `  ${name.padEnd(34)} ${f.help}${def}${env}`;
  };
  return [
    "Usage: gamenet [flags]",
    "",
    "Flags (environment variable in brackets):",
    ...FLAGS.map(line),
    ...groups.flatMap((g) =>
      g.settings.length === 0 ? [] : ["", `${g.title}:`, ...g.settings.map(line)]
    ),
  ].join("\n");
}

function parseAddr(what: string, text: string): { hostname: string; port: number } {
  const i = text.lastIndexOf(":");
  const port = Number(text.slice(i + 1));
  if (i < 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`${what} "${text}": write [host]:port, e.g. :8080`);
  }
  const host = text.slice(0, i).replace(/^\[|\]$/g, "");
  return { hostname: host || "0.0.0.0", port };
}

/**
 * Reads flags (`--name=value`, `--name value`, `--flag`), then the
 * environment, then defaults, for every setting of `specs`.
 */
export function parseFlags(
  args: string[],
  env: Record<string, string>,
  specs: readonly SettingSpec[] = FLAGS,
): Map<string, string> {
  const values = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith("--")) throw new ConfigError(`Unexpected argument "${arg}"; see --help`);
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = specs.find((f) => f.flag === name);
    if (!spec) throw new ConfigError(`Unknown flag --${name}; see --help`);
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (spec.boolean) value = "true";
    else if (i + 1 < args.length) value = args[++i];
    else throw new ConfigError(`--${name} needs a value`);
    values.set(name, value);
  }
  for (const f of specs) {
    if (values.has(f.flag)) continue;
    const fromEnv = f.env ? env[f.env] : undefined;
    if (fromEnv !== undefined && fromEnv !== "") values.set(f.flag, fromEnv);
    else if (f.default !== undefined) values.set(f.flag, f.default);
  }
  return values;
}

/** The network types' part of the configuration: their flags and their pools-file sections. */
export interface TypeSettings {
  settings: readonly SettingSpec[];
  sections: readonly string[];
}

/**
 * Builds the configuration: the core's and `types`' flags, then the pools
 * file (when it exists), whose top-level keys must be sections of `types`.
 */
export async function loadConfig(
  args: string[],
  env: Record<string, string>,
  types: TypeSettings = { settings: [], sections: [] },
): Promise<Config> {
  const clash = types.settings.find((s) => FLAGS.some((f) => f.flag === s.flag));
  if (clash) throw new Error(`Flag --${clash.flag} is declared twice`);
  const v = parseFlags(args, env, [...FLAGS, ...types.settings]);
  const workers = Number(v.get("workers"));
  if (!Number.isInteger(workers) || workers < 1 || workers > 256) {
    throw new ConfigError(`--workers=${v.get("workers")}: write a whole number from 1 to 256`);
  }
  const logLevel = v.get("log-level") as Config["logLevel"];
  if (!["debug", "info", "warn", "error"].includes(logLevel)) {
    throw new ConfigError(`--log-level=${logLevel}: write debug, info, warn or error`);
  }
  const config: Config = {
    kubeconfig: v.get("kubeconfig"),
    namespace: v.get("namespace")!,
    // HOSTNAME, not Deno.hostname(): the binary runs without --allow-sys.
    identity: v.get("identity") ?? env.HOSTNAME ?? "gamenet",
    leaderElect: parseBoolean("--leader-elect", v.get("leader-elect")!),
    leaseName: v.get("lease-name")!,
    httpAddr: parseAddr("--http-addr", v.get("http-addr")!),
    debugAddr: parseAddr("--debug-addr", v.get("debug-addr")!),
    metricsSecure: parseBoolean("--metrics-secure", v.get("metrics-secure")!),
    webhookAddr: parseAddr("--webhook-addr", v.get("webhook-addr")!),
    tlsCertFile: v.get("tls-cert-file")!,
    tlsKeyFile: v.get("tls-key-file")!,
    configFile: v.get("config"),
    workers,
    logLevel,
    admissionGraceMs: parseDuration("--admission-grace", v.get("admission-grace")!),
    resyncMs: parseDuration("--resync", v.get("resync")!),
    settings: new Map(
      types.settings.flatMap((s) => v.has(s.flag) ? [[s.flag, v.get(s.flag)!]] : []),
    ),
    sections: {},
  };
  const file = config.configFile;
  if (file) {
    let text: string | undefined;
    try {
      text = await Deno.readTextFile(file);
    } catch (err) {
      // The default path is optional; a path the user named must exist.
      const named = file !== DEFAULTS.configFile;
      if (!(err instanceof Deno.errors.NotFound) || named) {
        throw new ConfigError(`--config=${file}: ${(err as Error).message}`);
      }
    }
    if (text !== undefined) config.sections = readPoolsFile(file, text, types.sections);
  }
  return config;
}

/**
 * The top-level sections of a pools file; each must be one of `known`.
 *
 * @example
 * ```ts
 * readPoolsFile("pools.yaml", "hostPort:\n  reuseDelay: 30s\n", ["hostPort"]);
 * // { hostPort: { reuseDelay: "30s" } }
 * ```
 */
export function readPoolsFile(
  file: string,
  text: string,
  known: readonly string[],
): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parseYaml(text) ?? {};
  } catch (err) {
    throw new ConfigError(`${file}: not valid YAML: ${(err as Error).message}`);
  }
  if (typeof doc !== "object" || Array.isArray(doc) || doc === null) {
    throw new ConfigError(`${file}: expected a mapping at the top`);
  }
  for (const key of Object.keys(doc)) {
    if (!known.includes(key)) {
      throw new ConfigError(`${file}: unknown section "${key}"; known: ${known.join(", ")}`);
    }
  }
  return doc as Record<string, unknown>;
}
