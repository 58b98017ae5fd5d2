/**
 * A real Kubernetes control plane on loopback for tests and the demo: etcd,
 * kube-apiserver, kube-scheduler and kube-controller-manager, on free
 * ports, with generated certificates, service-account keys and a static
 * token file. Nodes come apart: {@linkcode KubeletStandIn} (fake, many) or
 * `RealNode` (a kubelet, containerd and kube-proxy on this machine).
 *
 * Identities (bearer tokens, all over TLS with the CA verified):
 * - `admin`: `system:masters`;
 * - `gamenet`: the user `system:serviceaccount:gamenet-system:gamenet`, so
 *   the ClusterRoleBinding shipped in `deploy/rbac.yaml` applies to it as
 *   it does to the real ServiceAccount, and nothing else does;
 * - `scheduler`, `controller-manager`, and `node` and `kube-proxy` for a
 *   `RealNode`: each the user its component is on a real cluster.
 *
 * @example
 * ```ts
 * await using cp = await ControlPlane.start();
 * const client = cp.client("admin");
 * await client.request("GET", "/api/v1/namespaces");
 * ```
 * @module
 */

import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { KubeClient } from "../../controller/kube_client.ts";
import { type ControlPlaneAssets, ensureControlPlaneAssets, REPO_ROOT } from "./assets.ts";
import {
  type CertificateFiles,
  createCertificateAuthority,
  createServiceAccountKeys,
  createServingCertificate,
} from "./pki.ts";
import { applyManifests } from "./apply.ts";
import { type LoggedProcess, logTail, spawnLogged, stopLogged } from "./logged_process.ts";

/** The identities the harness issues tokens for. */
export type Identity =
  | "admin"
  | "gamenet"
  | "scheduler"
  | "controller-manager"
  | "node"
  | "kube-proxy";

/** The user the `node` identity is: a real node's kubelet (see `real_node.ts`). */
export const NODE_USER = "system:node:gamenet-node";

/** The user name the shipped RBAC binds (the gamenet ServiceAccount). */
export const GAMENET_USER = "system:serviceaccount:gamenet-system:gamenet";

/** Options of {@linkcode ControlPlane.start}. */
export interface ControlPlaneOptions {
  /** Start kube-scheduler. @default {true} */
  scheduler?: boolean;
  /** Start kube-controller-manager. @default {true} */
  controllerManager?: boolean;
  /** Apply `deploy/rbac.yaml` so the `gamenet` identity has its shipped role. @default {true} */
  gamenetRbac?: boolean;
  /** Extra kube-apiserver flags. @default {[]} */
  apiServerArgs?: string[];
  /** Keep the temp folder (logs, certs) after stop, for debugging. @default {$GAMENET_E2E_KEEP === "1"} */
  keepDir?: boolean;
  /** Progress lines. @default {() => {}} */
  log?: (line: string) => void;
}

type Proc = LoggedProcess;

/** Returns a port free on 127.0.0.1 right now, for a server a test starts next. */
export function freePort(): number {
  // Below Linux's ephemeral range (32768-60999): a port the kernel picks for
  // us there can be given to any outgoing connection before the server that
  // is meant to listen on it binds it (etcd once failed so: "address already
  // in use"). Random, and never the same twice in a process.
  for (let tries = 0; tries < 1_000; tries++) {
    const port = FREE_PORT_FLOOR + Math.floor(Math.random() * FREE_PORT_SPAN);
    if (handedOut.has(port)) continue;
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
    } catch {
      continue;
    }
    handedOut.add(port);
    return port;
  }
  throw new Error("No free port in 20000-32767");
}

const FREE_PORT_FLOOR = 20_000;
const FREE_PORT_SPAN = 32_768 - FREE_PORT_FLOOR;
const handedOut = new Set<number>();

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  proc?: Proc,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  proc?.status.then(() => exited = true);
  while (Date.now() < deadline) {
    if (exited) break;
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const tail = proc ? await logTail(proc.logFile) : "";
  throw new Error(
    `${what} ${exited ? "exited" : `not ready after ${timeoutMs} ms`}${
      tail ? `; log tail:\n${tail}` : ""
    }`,
  );
}

/** A running control plane: see the module documentation. */
export class ControlPlane implements AsyncDisposable {
  /** Temp folder with certificates, kubeconfigs and logs. */
  readonly dir: string;
  readonly assets: ControlPlaneAssets;
  readonly ca: CertificateFiles;
  readonly apiServerPort: number;
  readonly etcdPort: number;
  #etcdPeerPort: number;
  #tokens: Record<Identity, string>;
  #apiServerArgs: string[];
  #procs = new Map<string, Proc>();
  #clients = new Map<Identity, KubeClient>();
  #keepDir: boolean;
  #log: (line: string) => void;
  #stopped = false;

  private constructor(
    dir: string,
    assets: ControlPlaneAssets,
    ca: CertificateFiles,
    tokens: Record<Identity, string>,
    options: ControlPlaneOptions,
  ) {
    this.dir = dir;
    this.assets = assets;
    this.ca = ca;
    this.#tokens = tokens;
    this.apiServerPort = freePort();
    this.etcdPort = freePort();
    this.#etcdPeerPort = freePort();
    this.#apiServerArgs = options.apiServerArgs ?? [];
    this.#keepDir = options.keepDir ?? Deno.env.get("GAMENET_E2E_KEEP") === "1";
    this.#log = options.log ?? (() => {});
  }

  /** The API server's URL. */
  get server(): string {
    return `https://127.0.0.1:${this.apiServerPort}`;
  }

  /** Builds (if needed) and starts everything, then waits until it serves. */
  static async start(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
    const assets = await ensureControlPlaneAssets();
    const dir = await Deno.makeTempDir({ prefix: "gamenet-cp-" });
    let cp: ControlPlane | undefined;
    try {
      const ca = await createCertificateAuthority(dir, "ca");
      const tokens: Record<Identity, string> = {
        admin: randomToken(),
        gamenet: randomToken(),
        scheduler: randomToken(),
        "controller-manager": randomToken(),
        node: randomToken(),
        "kube-proxy": randomToken(),
      };
      cp = new ControlPlane(dir, assets, ca, tokens, options);
      await cp.#prepare();
      await cp.#startEtcd();
      await cp.startApiServer();
      if (options.gamenetRbac ?? true) {
        await applyManifests(
          cp.client("admin"),
          await Deno.readTextFile(join(REPO_ROOT, "deploy", "rbac.yaml")),
        );
      }
      if (options.scheduler ?? true) await cp.#startScheduler();
      if (options.controllerManager ?? true) await cp.#startControllerManager();
      return cp;
    } catch (err) {
      if (cp) await cp.stop();
      else await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw err;
    }
  }

  async #prepare(): Promise<void> {
    await createServingCertificate(this.dir, this.ca, "apiserver", {
      dnsNames: ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"],
      ipAddresses: ["127.0.0.1", "10.96.0.1"],
    });
    await createServiceAccountKeys(this.dir);
    const t = this.#tokens;
    await Deno.writeTextFile(
      join(this.dir, "tokens.csv"),
      [
        `${t.admin},admin,uid-admin,"system:masters"`,
        `${t.gamenet},${GAMENET_USER},uid-gamenet,"system:serviceaccounts,system:serviceaccounts:gamenet-system"`,
        `${t.scheduler},system:kube-scheduler,uid-scheduler`,
        `${t["controller-manager"]},system:kube-controller-manager,uid-kcm`,
        // Bound to their roles as on a kubeadm cluster: kube-proxy by the
        // default system:node-proxier binding, the node by the binding
        // RealNode makes (RBAC alone, without the Node authorizer).
        `${t.node},${NODE_USER},uid-node,"system:nodes"`,
        `${t["kube-proxy"]},system:kube-proxy,uid-kube-proxy`,
      ].join("\n") + "\n",
    );
    for (const id of Object.keys(t) as Identity[]) {
      await Deno.writeTextFile(this.kubeconfigPath(id), this.kubeconfig(id));
    }
  }

  /** Path of the kubeconfig file written for `identity`. */
  kubeconfigPath(identity: Identity): string {
    return join(this.dir, `${identity}.kubeconfig`);
  }

  /** The bearer token of `identity`. */
  token(identity: Identity): string {
    return this.#tokens[identity];
  }

  /** A kubeconfig (YAML) for `identity`, CA embedded. */
  kubeconfig(identity: Identity): string {
    const caData = btoa(this.ca.certPem);
    return [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "- name: gamenet-test",
      "  cluster:",
      `    server: ${this.server}`,
      `    certificate-authority-data: ${caData}`,
      "users:",
      `- name: ${identity}`,
      "  user:",
      `    token: ${this.#tokens[identity]}`,
      "contexts:",
      `- name: ${identity}`,
      "  context:",
      "    cluster: gamenet-test",
      `    user: ${identity}`,
      `current-context: ${identity}`,
      "",
    ].join("\n");
  }

  /** A `@kubernetes/client-node` KubeConfig for `identity`. */
  kubeConfig(identity: Identity): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromString(this.kubeconfig(identity));
    return kc;
  }

  /** gamenet's own REST client for `identity` (cached; closed on stop). */
  client(identity: Identity): KubeClient {
    let c = this.#clients.get(identity);
    if (!c) {
      c = new KubeClient({
        server: this.server,
        token: this.#tokens[identity],
        caPem: this.ca.certPem,
      });
      this.#clients.set(identity, c);
    }
    return c;
  }

  async #spawn(name: string, binary: string, args: string[]): Promise<Proc> {
    const proc = await spawnLogged(binary, args, join(this.dir, `${name}.log`));
    this.#procs.set(name, proc);
    return proc;
  }

  async #startEtcd(): Promise<void> {
    const client = `http://127.0.0.1:${this.etcdPort}`;
    const peer = `http://127.0.0.1:${this.#etcdPeerPort}`;
    const proc = await this.#spawn("etcd", this.assets.etcd, [
      "--name=default",
      `--data-dir=${join(this.dir, "etcd-data")}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=default=${peer}`,
      // Test data is thrown away: durability only costs time here.
      "--unsafe-no-fsync",
      "--log-level=warn",
    ]);
    this.#log(`etcd on ${client}`);
    await waitFor(
      "etcd",
      async () => {
        const res = await fetch(`${client}/health`);
        const body = await res.json();
        return res.ok && body.health === "true";
      },
      30_000,
      proc,
    );
  }

  /** Starts kube-apiserver (again, after {@linkcode stopApiServer}) and waits for `/readyz`. */
  async startApiServer(): Promise<void> {
    const d = this.dir;
    const proc = await this.#spawn("kube-apiserver", this.assets.kubeApiserver, [
      `--etcd-servers=http://127.0.0.1:${this.etcdPort}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${this.apiServerPort}`,
      `--tls-cert-file=${join(d, "apiserver.crt")}`,
      `--tls-private-key-file=${join(d, "apiserver.key")}`,
      `--client-ca-file=${this.ca.certFile}`,
      `--token-auth-file=${join(d, "tokens.csv")}`,
      "--authorization-mode=RBAC",
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${join(d, "sa.pub")}`,
      `--service-account-signing-key-file=${join(d, "sa.key")}`,
      "--service-cluster-ip-range=10.96.0.0/16",
      `--cert-dir=${join(d, "apiserver-certs")}`,
      "--profiling=false",
      "--v=1",
      ...this.#apiServerArgs,
    ]);
    this.#log(`kube-apiserver on ${this.server}`);
    const admin = this.client("admin");
    await waitFor(
      "kube-apiserver",
      async () => {
        const res = await admin.fetch("GET", "/readyz", { signal: AbortSignal.timeout(2000) });
        await res.body?.cancel();
        return res.ok;
      },
      120_000,
      proc,
    );
  }

  /** Stops kube-apiserver (SIGTERM, or SIGKILL with `{kill: true}`), leaving etcd running. */
  async stopApiServer(options: { kill?: boolean } = {}): Promise<void> {
    await this.#stopProc("kube-apiserver", options.kill ? "SIGKILL" : "SIGTERM");
  }

  /** Stops and starts kube-apiserver on the same port and data. */
  async restartApiServer(options: { kill?: boolean } = {}): Promise<void> {
    await this.stopApiServer(options);
    await this.startApiServer();
  }

  async #startScheduler(): Promise<void> {
    await this.#spawn("kube-scheduler", this.assets.kubeScheduler, [
      `--kubeconfig=${this.kubeconfigPath("scheduler")}`,
      `--authentication-kubeconfig=${this.kubeconfigPath("admin")}`,
      `--authorization-kubeconfig=${this.kubeconfigPath("admin")}`,
      "--leader-elect=false",
      "--bind-address=127.0.0.1",
      `--secure-port=${freePort()}`,
      `--cert-dir=${join(this.dir, "scheduler-certs")}`,
      "--v=1",
    ]);
  }

  async #startControllerManager(): Promise<void> {
    await this.#spawn("kube-controller-manager", this.assets.kubeControllerManager, [
      `--kubeconfig=${this.kubeconfigPath("controller-manager")}`,
      `--authentication-kubeconfig=${this.kubeconfigPath("admin")}`,
      `--authorization-kubeconfig=${this.kubeconfigPath("admin")}`,
      "--use-service-account-credentials=true",
      `--service-account-private-key-file=${join(this.dir, "sa.key")}`,
      `--root-ca-file=${this.ca.certFile}`,
      "--leader-elect=false",
      "--bind-address=127.0.0.1",
      `--secure-port=${freePort()}`,
      `--cert-dir=${join(this.dir, "kcm-certs")}`,
      "--v=1",
    ]);
  }

  async #stopProc(name: string, signal: Deno.Signal): Promise<void> {
    const proc = this.#procs.get(name);
    if (!proc) return;
    this.#procs.delete(name);
    await stopLogged(proc, signal);
  }

  /** The last lines a component logged (for failure messages). */
  async logTail(name: string, lines = 30): Promise<string> {
    return await logTail(join(this.dir, `${name}.log`), lines);
  }

  /** Stops every process and removes the temp folder. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const c of this.#clients.values()) c.close();
    this.#clients.clear();
    // Clients first, etcd last: the others flush to it while shutting down.
    for (const name of ["kube-controller-manager", "kube-scheduler", "kube-apiserver", "etcd"]) {
      await this.#stopProc(name, "SIGTERM");
    }
    if (!this.#keepDir) await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
