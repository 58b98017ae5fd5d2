/**
 * Reads a kubeconfig file's current context: server, CA and bearer token.
 *
 * gamenet parses kubeconfig itself rather than through
 * `@kubernetes/client-node`, whose import alone costs about 80 MB of
 * resident memory (its generated API models), more than the rest of
 * gamenet with 2,000 Pods cached.
 *
 * @example
 * ```ts
 * const { server, caPem, token } = readKubeconfig("admin.kubeconfig");
 * ```
 * @module
 */

import { dirname, isAbsolute, join } from "node:path";
import { parse as parseYaml } from "yaml";

/** What gamenet needs of a kubeconfig context. */
export interface KubeconfigContext {
  /** The API server's URL. */
  server: string;
  /** PEM of the CA to trust; absent means the system roots. */
  caPem?: string;
  /** A bearer token (`token`) ... */
  token?: string;
  /** ... or a file holding one (`tokenFile`), re-read as it rotates. */
  tokenFile?: string;
}

/** A kubeconfig gamenet cannot use, with the reason. */
export class KubeconfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KubeconfigError";
  }
}

interface Named {
  name: string;
  [key: string]: unknown;
}

interface RawKubeconfig {
  "current-context"?: string;
  contexts?: Named[];
  clusters?: Named[];
  users?: Named[];
}

function pick(
  list: Named[] | undefined,
  name: string,
  what: string,
  file: string,
): Record<string, unknown> {
  const found = list?.find((e) => e?.name === name);
  if (!found) throw new KubeconfigError(`${file}: no ${what} named "${name}"`);
  return (found[what] ?? {}) as Record<string, unknown>;
}

function decodeBase64(b64: string): string {
  const bin = atob(b64.replace(/\s+/g, ""));
  return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}

/**
 * Parses kubeconfig `text` (read from `file`, which relative paths in it
 * are resolved against) and returns its current context.
 *
 * @example
 * ```ts
 * const ctx = parseKubeconfig(Deno.readTextFileSync(path), path);
 * ```
 */
export function parseKubeconfig(text: string, file: string): KubeconfigContext {
  let doc: RawKubeconfig;
  try {
    doc = (parseYaml(text) ?? {}) as RawKubeconfig;
  } catch (err) {
    throw new KubeconfigError(`${file}: not YAML: ${(err as Error).message}`);
  }
  const contextName = doc["current-context"];
  if (!contextName) throw new KubeconfigError(`${file}: no current-context`);
  const context = pick(doc.contexts, contextName, "context", file);
  const cluster = pick(doc.clusters, String(context.cluster ?? ""), "cluster", file);
  const userName = String(context.user ?? "");
  const user = userName ? pick(doc.users, userName, "user", file) : {};
  const resolve = (p: unknown) =>
    isAbsolute(String(p)) ? String(p) : join(dirname(file), String(p));

  const server = String(cluster.server ?? "");
  if (!/^https?:\/\//.test(server)) {
    throw new KubeconfigError(`${file}: cluster "${context.cluster}" has no https:// server`);
  }
  if (cluster["insecure-skip-tls-verify"] === true) {
    throw new KubeconfigError(
      `${file}: insecure-skip-tls-verify is not supported: give the cluster's CA instead`,
    );
  }
  let caPem: string | undefined;
  if (cluster["certificate-authority-data"]) {
    caPem = decodeBase64(String(cluster["certificate-authority-data"]));
  } else if (cluster["certificate-authority"]) {
    caPem = Deno.readTextFileSync(resolve(cluster["certificate-authority"]));
  }
  if (user.token) return { server, caPem, token: String(user.token) };
  if (user.tokenFile) return { server, caPem, tokenFile: resolve(user.tokenFile) };
  const has = Object.keys(user).filter((k) => user[k] !== undefined && user[k] !== null);
  throw new KubeconfigError(
    `${file}: user "${userName}" has no token or tokenFile${
      has.length ? ` (it has ${has.join(", ")})` : ""
    }: gamenet authenticates with bearer tokens only`,
  );
}

/**
 * Reads and parses the kubeconfig file at `path`.
 *
 * @example
 * ```ts
 * const client = new KubeClient(readKubeconfig("/etc/kube/config"));
 * ```
 */
export function readKubeconfig(path: string): KubeconfigContext {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (err) {
    throw new KubeconfigError(`${path}: ${(err as Error).message}`);
  }
  return parseKubeconfig(text, path);
}
