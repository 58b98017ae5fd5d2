/**
 * Loads a kubeconfig's current context into {@linkcode KubeClientOptions},
 * with `@kubernetes/client-node`'s `KubeConfig` as the loader: contexts,
 * clusters, users, paths relative to the file, client certificates (files
 * and `-data`), tokens and exec credential plugins
 * (`client.authentication.k8s.io/v1` and `v1beta1`), which run through
 * client-node's own exec authenticator.
 *
 * client-node is imported here, lazily, only when a kubeconfig is given:
 * its import alone costs about 80 MB of resident memory (its generated API
 * models), more than the rest of gamenet with 2,000 Pods cached, and a
 * Pod's service account needs none of it. Its HTTP client is not used
 * (see `kube_client.ts`).
 *
 * @example
 * ```ts
 * const client = new KubeClient(await loadKubeconfig(`${Deno.env.get("HOME")}/.kube/config`));
 * ```
 * @module
 */

import { delimiter, dirname, isAbsolute, join } from "node:path";
import process from "node:process";
import { parse as parseYaml } from "yaml";
import type { Cluster, KubeConfig, User } from "@kubernetes/client-node";
import type { Credentials, CredentialSource, KubeClientOptions } from "./kube_client.ts";

/**
 * A kubeconfig gamenet cannot use, with the reason.
 *
 * @example
 * ```ts
 * try {
 *   await loadKubeconfig("/etc/kube/config");
 * } catch (err) {
 *   if (err instanceof KubeconfigError) console.error(`gamenet: ${err.message}`);
 * }
 * ```
 */
export class KubeconfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KubeconfigError";
  }
}

type ClientNode = typeof import("@kubernetes/client-node");

/** The exec credential API versions Kubernetes still serves (v1alpha1 went in 1.24). */
const EXEC_API_VERSIONS = [
  "client.authentication.k8s.io/v1",
  "client.authentication.k8s.io/v1beta1",
];

/**
 * Imports client-node (a literal specifier, so that `deno compile` still
 * bundles it). Its `node-fetch` loads Node's deprecated `punycode`, whose
 * warning would be the first line of every out-of-cluster log.
 */
async function importClientNode(): Promise<ClientNode> {
  const quiet = process.noDeprecation;
  process.noDeprecation = true;
  try {
    return await import("@kubernetes/client-node");
  } finally {
    process.noDeprecation = quiet;
  }
}

/** What client-node drops that gamenet needs: a user's `tokenFile`, and each entry's file. */
interface FileFacts {
  /** User name → its `tokenFile`, made absolute. */
  tokenFiles: Map<string, string>;
  /** User name → the folder of the file that defined it (for a relative exec command). */
  userDirs: Map<string, string>;
}

/**
 * Reads one kubeconfig file through client-node, paths made absolute
 * against its folder. client-node reads `token-file`, not the `tokenFile`
 * that kubectl and client-go write, and reads it once; gamenet takes
 * `tokenFile` from the YAML itself and re-reads it as it rotates.
 */
async function loadFile(cn: ClientNode, file: string, facts: FileFacts): Promise<KubeConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (err) {
    throw new KubeconfigError(`Kubeconfig ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new KubeconfigError(`Kubeconfig ${file}: not YAML: ${(err as Error).message}`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new KubeconfigError(`Kubeconfig ${file}: not a kubeconfig (a YAML map with clusters)`);
  }
  const kc = new cn.KubeConfig();
  try {
    kc.loadFromString(text);
  } catch (err) {
    throw new KubeconfigError(`Kubeconfig ${file}: ${(err as Error).message}`);
  }
  kc.makePathsAbsolute(dirname(file));
  const users = (doc as { users?: unknown }).users;
  for (const entry of Array.isArray(users) ? users : []) {
    const name = entry?.name;
    if (typeof name !== "string" || facts.userDirs.has(name)) continue;
    facts.userDirs.set(name, dirname(file));
    const tokenFile = entry?.user?.tokenFile;
    if (typeof tokenFile === "string" && tokenFile !== "") {
      facts.tokenFiles.set(
        name,
        isAbsolute(tokenFile) ? tokenFile : join(dirname(file), tokenFile),
      );
    }
  }
  return kc;
}

/** Merges `more` into `into` as kubectl merges a `KUBECONFIG` list: the first of a name wins. */
function merge(into: KubeConfig, more: KubeConfig): void {
  if (!into.currentContext) into.currentContext = more.currentContext;
  for (const c of more.clusters) if (!into.getCluster(c.name)) into.clusters.push(c);
  for (const u of more.users) if (!into.getUser(u.name)) into.users.push(u);
  for (const c of more.contexts) if (!into.getContextObject(c.name)) into.contexts.push(c);
}

function pem(buffer: Uint8Array | null): string | undefined {
  return buffer ? new TextDecoder().decode(buffer) : undefined;
}

/** The exec section of a kubeconfig user, as client-go defines it. */
interface ExecConfig {
  apiVersion?: string;
  command?: string;
  args?: string[];
  env?: { name: string; value: string }[] | null;
  installHint?: string;
  provideClusterInfo?: boolean;
  interactiveMode?: string;
}

/**
 * The exec section handed to client-node, completed as client-go
 * completes it: a relative command with a `/` is resolved against the
 * kubeconfig's folder, and `KUBERNETES_EXEC_INFO` tells the plugin the API
 * version to answer in, that nobody can be asked for input, and (when it
 * wants it) the cluster.
 */
function execFor(exec: ExecConfig, dir: string, cluster: Cluster, caPem?: string): ExecConfig {
  const command = exec.command ?? "";
  const info = {
    apiVersion: exec.apiVersion,
    kind: "ExecCredential",
    spec: {
      interactive: false,
      ...(exec.provideClusterInfo
        ? {
          cluster: {
            server: cluster.server,
            ...(caPem ? { "certificate-authority-data": btoa(caPem) } : {}),
          },
        }
        : {}),
    },
  };
  return {
    ...exec,
    command: command.includes("/") && !isAbsolute(command) ? join(dir, command) : command,
    env: [...(exec.env ?? []), { name: "KUBERNETES_EXEC_INFO", value: JSON.stringify(info) }],
  };
}

/**
 * An exec plugin's credentials, through client-node's exec authenticator:
 * it runs the plugin, keeps the `ExecCredential` until its
 * `expirationTimestamp` and runs the plugin again after (a credential
 * without one is fetched anew for every request, as client-node does).
 */
class ExecCredentials implements CredentialSource {
  #cn: ClientNode;
  #cluster: Cluster;
  #user: User;
  #what: string;
  #installHint?: string;
  #kc: KubeConfig;
  #pending?: Promise<Credentials>;
  #last?: Credentials;

  constructor(cn: ClientNode, cluster: Cluster, user: User, what: string) {
    this.#cn = cn;
    this.#cluster = cluster;
    this.#user = user;
    this.#what = what;
    this.#installHint = (user.exec as ExecConfig).installHint;
    this.#kc = this.#fresh();
  }

  /**
   * A KubeConfig of this user alone, exec only: the CA and certificate
   * files are read once by {@linkcode loadKubeconfig}, not per request.
   * A fresh one has an empty credential cache.
   */
  #fresh(): KubeConfig {
    const kc = new this.#cn.KubeConfig();
    kc.loadFromClusterAndUser(
      { name: this.#cluster.name, server: this.#cluster.server, skipTLSVerify: false },
      { name: this.#user.name, exec: this.#user.exec },
    );
    return kc;
  }

  get(): Promise<Credentials> {
    // One run at a time: at start-up every watch asks at once, and
    // client-node would start the plugin once for each.
    this.#pending ??= this.#fetch().finally(() => this.#pending = undefined);
    return this.#pending;
  }

  invalidate(used: Credentials): void {
    const last = this.#last;
    // Only the credentials in use: a burst of 401s with them runs the plugin once.
    if (!last || last.token !== used.token || last.certPem !== used.certPem) return;
    this.#last = undefined;
    this.#kc = this.#fresh();
  }

  async #fetch(): Promise<Credentials> {
    const options: {
      headers?: Record<string, string>;
      cert?: string | Uint8Array;
      key?: string | Uint8Array;
    } = {};
    try {
      await this.#kc.applyToHTTPSOptions(
        options as Parameters<KubeConfig["applyToHTTPSOptions"]>[0],
      );
    } catch (err) {
      // client-node may have cached what it could not use: start afresh next time.
      this.#kc = this.#fresh();
      throw new KubeconfigError(`${this.#what} failed: ${this.#reason(err as Error)}`);
    }
    const authorization = options.headers?.Authorization ?? "";
    const got: Credentials = {
      token: authorization.startsWith("Bearer ") ? authorization.slice(7) : undefined,
      certPem: options.cert ? String(options.cert) : undefined,
      keyPem: options.key ? String(options.key) : undefined,
    };
    if (!got.token && !(got.certPem && got.keyPem)) {
      this.#kc = this.#fresh();
      throw new KubeconfigError(
        `${this.#what} printed an ExecCredential with neither status.token nor status.clientCertificateData and status.clientKeyData`,
      );
    }
    return this.#last = got;
  }

  /** client-node's rejection as a person reads it: the plugin's stderr, or what went wrong. */
  #reason(err: Error): string {
    const message = err.message.trim();
    if (err instanceof SyntaxError) return `it did not print JSON (${message})`;
    if (err instanceof TypeError && /status|reading/.test(message)) {
      return `it did not print an ExecCredential with a status (${message})`;
    }
    if ((err as { code?: string }).code === "ENOENT" || err.name === "NotFound") {
      return `${message}${this.#installHint ? `\n${this.#installHint.trim()}` : ""}`;
    }
    return message
      ? `it exited with an error: ${message}`
      : "it exited with an error and no output";
  }
}

/**
 * Loads the current context of the kubeconfig at `path` (or of a
 * `KUBECONFIG`-style list of files, the first of a name winning, as
 * kubectl merges them). An exec plugin runs once here, so that a failing
 * one stops gamenet at start with the plugin's own message.
 *
 * @example
 * ```ts
 * const options = await loadKubeconfig("/etc/kube/config");
 * const client = new KubeClient(options);
 * ```
 */
export async function loadKubeconfig(path: string): Promise<KubeClientOptions> {
  const files = path.split(delimiter).filter((f) => f !== "");
  if (files.length === 0) throw new KubeconfigError("No kubeconfig file given");
  const cn = await importClientNode();
  const facts: FileFacts = { tokenFiles: new Map(), userDirs: new Map() };
  const kc = await loadFile(cn, files[0], facts);
  for (const file of files.slice(1)) merge(kc, await loadFile(cn, file, facts));

  const where = `Kubeconfig ${path}`;
  const contextName = kc.getCurrentContext();
  if (!contextName) throw new KubeconfigError(`${where}: no current-context`);
  const context = kc.getContextObject(contextName);
  if (!context) throw new KubeconfigError(`${where}: no context named "${contextName}"`);
  const cluster = kc.getCluster(context.cluster);
  if (!cluster) {
    throw new KubeconfigError(
      `${where}: context "${contextName}" names cluster "${context.cluster}", which is not there`,
    );
  }
  if (!/^https?:\/\//.test(cluster.server)) {
    throw new KubeconfigError(
      `${where}: cluster "${cluster.name}" has server "${cluster.server}": write https://host:port`,
    );
  }
  if (cluster.skipTLSVerify) {
    throw new KubeconfigError(
      `${where}: cluster "${cluster.name}": insecure-skip-tls-verify is not supported: give the cluster's CA (certificate-authority-data) instead`,
    );
  }
  if (cluster.tlsServerName) {
    throw new KubeconfigError(
      `${where}: cluster "${cluster.name}": tls-server-name is not supported: use a server URL whose host the API server's certificate names`,
    );
  }
  const user = context.user ? kc.getUser(context.user) : null;
  if (!user) {
    throw new KubeconfigError(
      context.user
        ? `${where}: context "${contextName}" names user "${context.user}", which is not there`
        : `${where}: context "${contextName}" names no user`,
    );
  }
  const about = `${where}: user "${user.name}"`;
  if (user.username || user.password) {
    throw new KubeconfigError(
      `${about}: username and password (basic authentication) are not supported: Kubernetes removed them in 1.19; use a token, a client certificate or an exec plugin`,
    );
  }
  if (user.authProvider) {
    throw new KubeconfigError(
      `${about}: auth-provider "${user.authProvider.name}" is not supported: use the exec plugin that replaces it (e.g. kubelogin, gke-gcloud-auth-plugin)`,
    );
  }
  if (user.impersonateUser) {
    throw new KubeconfigError(`${about}: "as" (impersonation) is not supported`);
  }

  let caPem: string | undefined;
  let certPem: string | undefined;
  let keyPem: string | undefined;
  try {
    caPem = pem(cn.bufferFromFileOrString(cluster.caFile, cluster.caData));
    certPem = pem(cn.bufferFromFileOrString(user.certFile, user.certData));
    keyPem = pem(cn.bufferFromFileOrString(user.keyFile, user.keyData));
  } catch (err) {
    throw new KubeconfigError(`${where}: ${(err as Error).message}`);
  }
  if (Boolean(certPem) !== Boolean(keyPem)) {
    throw new KubeconfigError(
      `${about} has a client ${
        certPem ? "certificate but no client-key" : "key but no client-certificate"
      }`,
    );
  }
  const options: KubeClientOptions = {
    server: cluster.server,
    caPem,
    certPem,
    keyPem,
    proxyUrl: cluster.proxyUrl,
  };
  if (user.exec) {
    const exec = user.exec as ExecConfig;
    if (!exec.command) throw new KubeconfigError(`${about}: exec has no command`);
    if (!EXEC_API_VERSIONS.includes(exec.apiVersion ?? "")) {
      throw new KubeconfigError(
        `${about}: exec apiVersion "${exec.apiVersion ?? ""}" is not supported: write ${
          EXEC_API_VERSIONS.join(" or ")
        }`,
      );
    }
    if (exec.interactiveMode === "Always") {
      throw new KubeconfigError(
        `${about}: exec interactiveMode Always: gamenet has no terminal to answer the plugin`,
      );
    }
    const dir = facts.userDirs.get(user.name) ?? dirname(files[0]);
    const source = new ExecCredentials(
      cn,
      cluster,
      { ...user, exec: execFor(exec, dir, cluster, caPem) },
      `${about}: exec plugin "${exec.command}"`,
    );
    await source.get();
    return { ...options, credentials: source };
  }
  if (user.token) return { ...options, token: user.token.trim() };
  const tokenFile = facts.tokenFiles.get(user.name);
  if (tokenFile) return { ...options, tokenFile };
  if (certPem) return options;
  throw new KubeconfigError(
    `${about} has no credentials: give it a token, tokenFile, client-certificate and client-key, or an exec plugin`,
  );
}
