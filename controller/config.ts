/**
 * gamenet's configuration: command-line flags, environment variables as
 * fallback, and an optional YAML file for pools. Every default lives in
 * {@linkcode DEFAULTS}. Bad input is a {@linkcode ConfigError} whose message
 * says which flag, variable or file line is wrong.
 *
 * @example
 * ```ts
 * const config = await loadConfig(Deno.args, Deno.env.toObject());
 * ```
 * @module
 */

import { parse as parseYaml } from "yaml";

/** A named host-port range, e.g. `default: 8000-9000`. */
export interface PortRange {
  min: number;
  max: number;
}

/** The whole configuration. */
export interface Config {
  kubeconfig?: string;
  namespace: string;
  identity: string;
  leaderElect: boolean;
  leaseName: string;
  httpAddr: { hostname: string; port: number };
  webhookAddr: { hostname: string; port: number };
  tlsCertFile: string;
  tlsKeyFile: string;
  configFile?: string;
  workers: number;
  logLevel: "debug" | "info" | "warn" | "error";
  /** Host-port ranges by name; `default` is used when a Pod names none. */
  hostPortRanges: Record<string, PortRange>;
  /** Freed ports stay out of circulation this long. */
  reuseDelayMs: number;
  /** An admission allocation whose Pod never appears is released after this. */
  admissionGraceMs: number;
  /** Every live object is reconciled again this often. */
  resyncMs: number;
  /** Tencent Cloud region of the CLBs; without one, `TencentCloud-CLB` Pods are told so. */
  tencentcloudRegion?: string;
  /** Host (and port) of the Tencent Cloud API, `http://` allowed for a local fake. */
  tencentcloudEndpoint?: string;
  /** CLBs swept for orphan listeners even while no Pod names them. */
  clbIds: string[];
  /** How often gamenet reads its CLBs back (orphans, hand-made changes). */
  clbSweepMs: number;
  /** A NAT gateway Pod whose entries have not come after this is NotReady. */
  natgwEntryTimeoutMs: number;
}

/** Defaults, in one place. */
export const DEFAULTS = {
  namespace: "gamenet-system",
  leaderElect: true,
  leaseName: "gamenet",
  httpAddr: ":8080",
  webhookAddr: ":9443",
  tlsCertFile: "/etc/gamenet/tls/tls.crt",
  tlsKeyFile: "/etc/gamenet/tls/tls.key",
  configFile: "/etc/gamenet/config.yaml",
  workers: 8,
  logLevel: "info",
  /** OpenKruiseGame's host-port default range. */
  hostPortRange: "8000-9000",
  reuseDelay: "0s",
  admissionGrace: "60s",
  resync: "10m",
  tencentcloudEndpoint: "clb.tencentcloudapi.com",
  clbSweep: "60s",
  natgwEntryTimeout: "2m",
} as const;

/** A configuration mistake, reported before anything starts. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

interface FlagSpec {
  flag: string;
  env?: string;
  help: string;
  boolean?: boolean;
  default?: string;
}

/** Every flag, its environment variable and its help line. */
export const FLAGS: FlagSpec[] = [
  {
    flag: "kubeconfig",
    env: "KUBECONFIG",
    help: "kubeconfig file (default: the in-cluster service account)",
  },
  {
    flag: "namespace",
    env: "POD_NAMESPACE",
    help: "namespace of the leader-election Lease",
    default: DEFAULTS.namespace,
  },
  { flag: "identity", env: "POD_NAME", help: "leader-election identity (default: the host name)" },
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
    help: "plain HTTP: /healthz /readyz /allocations /metrics",
    default: DEFAULTS.httpAddr,
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
    help: "webhook certificate",
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
    help: "YAML pools file (optional; skipped when the default path is absent)",
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
    flag: "host-port-range",
    env: "GAMENET_HOST_PORT_RANGE",
    help: "the default host-port range (the pools file may name more)",
    default: DEFAULTS.hostPortRange,
  },
  {
    flag: "reuse-delay",
    env: "GAMENET_REUSE_DELAY",
    help: "keep freed host ports out of circulation this long (e.g. 30s)",
    default: DEFAULTS.reuseDelay,
  },
  {
    flag: "admission-grace",
    env: "GAMENET_ADMISSION_GRACE",
    help: "release an admission allocation whose Pod never appeared after this",
    default: DEFAULTS.admissionGrace,
  },
  {
    flag: "resync",
    env: "GAMENET_RESYNC",
    help: "reconcile every live Pod again this often",
    default: DEFAULTS.resync,
  },
  {
    flag: "tencentcloud-region",
    env: "TENCENTCLOUD_REGION",
    help: "region of the CLBs (credentials: TENCENTCLOUD_SECRET_ID/_KEY or their _FILE)",
  },
  {
    flag: "tencentcloud-endpoint",
    env: "TENCENTCLOUD_ENDPOINT",
    help: "CLB API host[:port], or http://host:port for a local fake",
    default: DEFAULTS.tencentcloudEndpoint,
  },
  {
    flag: "clb-ids",
    env: "GAMENET_CLB_IDS",
    help: "CLBs (lb-a,lb-b) swept for orphan listeners even when no Pod names them",
  },
  {
    flag: "clb-sweep",
    env: "GAMENET_CLB_SWEEP",
    help: "read the CLBs back this often (orphan listeners, hand-made changes)",
    default: DEFAULTS.clbSweep,
  },
  {
    flag: "natgw-entry-timeout",
    env: "GAMENET_NATGW_ENTRY_TIMEOUT",
    help: "a NAT gateway Pod whose DNAT entries have not come after this is NotReady",
    default: DEFAULTS.natgwEntryTimeout,
  },
];

/** The `--help` text. */
export function usage(): string {
  const lines = FLAGS.map((f) => {
    const name = `--${f.flag}${f.boolean ? "[=true|false]" : "=VALUE"}`;
    const def = f.default !== undefined ? ` (default ${f.default})` : "";
    const env = f.env ? ` [$${f.env}]` : "";
    return `  ${name.padEnd(34)} ${f.help}${def}${env}`;
  });
  return ["Usage: gamenet [flags]", "", "Flags (environment variable in brackets):", ...lines].join(
    "\n",
  );
}

/** Parses `lb-a,lb-b`. */
export function parseClbIds(text: string): string[] {
  const ids = text.split(",").map((s) => s.trim()).filter(Boolean);
  for (const id of ids) {
    if (!/^lb-[0-9a-z]+$/.test(id)) {
      throw new ConfigError(`--clb-ids "${text}": "${id}" is not a CLB id (like lb-abc123)`);
    }
  }
  return ids;
}

/** Parses `30s`, `5m`, `1h`, `250ms`, `0`. */
export function parseDuration(what: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m || (m[2] === undefined && Number(m[1]) !== 0)) {
    throw new ConfigError(`${what} "${text}": write a duration like 30s, 5m or 250ms`);
  }
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? "ms"]!;
  return Math.round(Number(m[1]) * unit);
}

/** Parses `min-max` within 1..65535. */
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

function parseAddr(what: string, text: string): { hostname: string; port: number } {
  const i = text.lastIndexOf(":");
  const port = Number(text.slice(i + 1));
  if (i < 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`${what} "${text}": write [host]:port, e.g. :8080`);
  }
  const host = text.slice(0, i).replace(/^\[|\]$/g, "");
  return { hostname: host || "0.0.0.0", port };
}

/** Reads flags (`--name=value`, `--name value`, `--flag`), then env, then defaults. */
export function parseFlags(args: string[], env: Record<string, string>): Map<string, string> {
  const values = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith("--")) throw new ConfigError(`Unexpected argument "${arg}"; see --help`);
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = FLAGS.find((f) => f.flag === name);
    if (!spec) throw new ConfigError(`Unknown flag --${name}; see --help`);
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (spec.boolean) value = "true";
    else if (i + 1 < args.length) value = args[++i];
    else throw new ConfigError(`--${name} needs a value`);
    values.set(name, value);
  }
  for (const f of FLAGS) {
    if (values.has(f.flag)) continue;
    const fromEnv = f.env ? env[f.env] : undefined;
    if (fromEnv !== undefined && fromEnv !== "") values.set(f.flag, fromEnv);
    else if (f.default !== undefined) values.set(f.flag, f.default);
  }
  return values;
}

interface PoolsFile {
  hostPort?: { ranges?: Record<string, string>; reuseDelay?: string };
}

/** Builds the configuration; reads the pools file when it exists. */
export async function loadConfig(args: string[], env: Record<string, string>): Promise<Config> {
  const v = parseFlags(args, env);
  const bool = (name: string) => {
    const s = v.get(name)!;
    if (s !== "true" && s !== "false") throw new ConfigError(`--${name}=${s}: write true or false`);
    return s === "true";
  };
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
    leaderElect: bool("leader-elect"),
    leaseName: v.get("lease-name")!,
    httpAddr: parseAddr("--http-addr", v.get("http-addr")!),
    webhookAddr: parseAddr("--webhook-addr", v.get("webhook-addr")!),
    tlsCertFile: v.get("tls-cert-file")!,
    tlsKeyFile: v.get("tls-key-file")!,
    configFile: v.get("config"),
    workers,
    logLevel,
    hostPortRanges: { default: parseRange("--host-port-range", v.get("host-port-range")!) },
    reuseDelayMs: parseDuration("--reuse-delay", v.get("reuse-delay")!),
    admissionGraceMs: parseDuration("--admission-grace", v.get("admission-grace")!),
    resyncMs: parseDuration("--resync", v.get("resync")!),
    tencentcloudRegion: v.get("tencentcloud-region") || undefined,
    tencentcloudEndpoint: v.get("tencentcloud-endpoint") || undefined,
    clbIds: parseClbIds(v.get("clb-ids") ?? ""),
    clbSweepMs: parseDuration("--clb-sweep", v.get("clb-sweep")!),
    natgwEntryTimeoutMs: parseDuration("--natgw-entry-timeout", v.get("natgw-entry-timeout")!),
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
    if (text !== undefined) applyPoolsFile(config, file, text);
  }
  return config;
}

/** Merges a pools file into `config`. */
export function applyPoolsFile(config: Config, file: string, text: string): void {
  let doc: PoolsFile;
  try {
    doc = (parseYaml(text) ?? {}) as PoolsFile;
  } catch (err) {
    throw new ConfigError(`${file}: not valid YAML: ${(err as Error).message}`);
  }
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new ConfigError(`${file}: expected a mapping at the top`);
  }
  for (const key of Object.keys(doc)) {
    if (key !== "hostPort") {
      throw new ConfigError(`${file}: unknown section "${key}"; known: hostPort`);
    }
  }
  const hp = doc.hostPort ?? {};
  for (const key of Object.keys(hp)) {
    if (key !== "ranges" && key !== "reuseDelay") {
      throw new ConfigError(`${file}: hostPort has no "${key}"; it takes ranges and reuseDelay`);
    }
  }
  if (hp.ranges) {
    const ranges: Record<string, PortRange> = {};
    for (const [name, text] of Object.entries(hp.ranges)) {
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
        throw new ConfigError(
          `${file}: hostPort.ranges name "${name}": use letters, digits, ".", "_" or "-"`,
        );
      }
      ranges[name] = parseRange(`${file}: hostPort.ranges.${name}`, String(text));
    }
    ranges.default ??= config.hostPortRanges.default;
    config.hostPortRanges = ranges;
  }
  if (hp.reuseDelay !== undefined) {
    config.reuseDelayMs = parseDuration(`${file}: hostPort.reuseDelay`, String(hp.reuseDelay));
  }
}
