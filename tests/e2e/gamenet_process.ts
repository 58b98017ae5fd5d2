/**
 * gamenet as a real process for end-to-end tests: `deno run main.ts` with
 * the `gamenet` kubeconfig (only the shipped RBAC), its own webhook
 * certificate, free ports, and a MutatingWebhookConfiguration that points
 * the API server at it. Tests kill it with SIGKILL and start it again.
 *
 * @example
 * ```ts
 * await using gamenet = await GamenetProcess.start(cp, { identity: "gamenet-0" });
 * await gamenet.waitReady();
 * ```
 * @module
 */

import { join } from "node:path";
import type { ControlPlane } from "../controlplane/control_plane.ts";
import { freePort } from "../controlplane/control_plane.ts";
import { REPO_ROOT } from "../controlplane/assets.ts";
import {
  type CertificateFiles,
  createCertificateAuthority,
  createServingCertificate,
} from "../controlplane/pki.ts";
import { applyManifests } from "../controlplane/apply.ts";
import { shippedFlags } from "../shipped_flags.ts";
import { SERVICE_ACCOUNT_DIR } from "../../controller/kube_client.ts";

/** Options of {@linkcode GamenetProcess.start}. */
export interface GamenetProcessOptions {
  /** Leader-election identity. @default {"gamenet-0"} */
  identity?: string;
  /** Extra flags. @default {[]} */
  args?: string[];
  /** Extra environment. @default {{}} */
  env?: Record<string, string>;
  /** Write the webhook configuration pointing at this process. @default {true} */
  registerWebhook?: boolean;
  /**
   * Reach the API server through this port (a test's breakable link, e.g.
   * a `TcpProxy` in front of it) instead of directly. @default {undefined}
   */
  apiServerPort?: number;
  /** Deno flags before the script, e.g. `--cpu-prof` for a benchmark's profile. @default {[]} */
  denoFlags?: string[];
  /** The kubeconfig to use (e.g. a benchmark's stub API server). @default {the `gamenet` identity's} */
  kubeconfig?: string;
  /**
   * Run as in a Pod instead: no kubeconfig, the service account's token
   * and CA at their path in a mount namespace of the process's own
   * (`unshare --mount`, root only) and `KUBERNETES_SERVICE_HOST`/`_PORT`
   * set, so gamenet takes the in-cluster path a shipped Deployment takes
   * (which never loads the kubeconfig library). @default {undefined}
   */
  inCluster?: InClusterAccess;
}

/** How a Pod reaches the API server: see {@linkcode GamenetProcessOptions.inCluster}. */
export interface InClusterAccess {
  /** `https://<host>:<port>`. */
  server: string;
  /** The service account's bearer token. */
  token: string;
  /** PEM of the CA the server's certificate chains to. */
  caPem: string;
}

/**
 * Writes the files the kubelet mounts at a Pod's service-account path
 * (`token`, `ca.crt`, `namespace`) into `dir`.
 */
export async function writeServiceAccount(
  dir: string,
  access: Pick<InClusterAccess, "token" | "caPem">,
  namespace: string,
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, "token"), access.token);
  await Deno.writeTextFile(join(dir, "ca.crt"), access.caPem);
  await Deno.writeTextFile(join(dir, "namespace"), namespace);
}

/** `KUBERNETES_SERVICE_HOST`/`_PORT` as the kubelet injects them for the API server at `server`. */
export function serviceEnv(server: string): Record<string, string> {
  const url = new URL(server);
  return { KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port };
}

/** `s` as one word of a POSIX shell command line. */
export const shellQuote = (s: string): string => `'${s.replaceAll("'", `'"'"'`)}'`;

/**
 * `command` run with `access`'s token and CA at the service account's
 * path, in a mount namespace of its own over a tmpfs `/run` (`/var/run`
 * is `/run`), so nothing on the machine changes; the files are written
 * under `dir`.
 */
async function inClusterCommand(
  dir: string,
  access: InClusterAccess,
  command: string[],
): Promise<{ command: string; args: string[] }> {
  await writeServiceAccount(dir, access, "gamenet-system");
  const script = [
    "set -e",
    "mount -t tmpfs gamenet-run /run",
    `mkdir -p ${shellQuote(SERVICE_ACCOUNT_DIR)}`,
    `mount --bind ${shellQuote(dir)} ${shellQuote(SERVICE_ACCOUNT_DIR)}`,
    `exec ${command.map(shellQuote).join(" ")}`,
  ].join("\n");
  return {
    command: "unshare",
    args: ["--mount", "--propagation", "private", "sh", "-c", script],
  };
}

/** The AdmissionReview the API server sends for the creation of `pod` in `namespace`. */
export function podCreationReview(pod: unknown, namespace: string, username: string): unknown {
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: crypto.randomUUID(),
      kind: { group: "", version: "v1", kind: "Pod" },
      resource: { group: "", version: "v1", resource: "pods" },
      operation: "CREATE",
      namespace,
      userInfo: { username },
      object: pod,
    },
  };
}

/** Webhook TLS material shared by every gamenet process of one test. */
const certs = new WeakMap<
  ControlPlane,
  { ca: CertificateFiles; serving: CertificateFiles; dir: string }
>();

async function webhookCerts(cp: ControlPlane) {
  let c = certs.get(cp);
  if (!c) {
    const dir = join(cp.dir, "gamenet-webhook");
    await Deno.mkdir(dir, { recursive: true });
    const ca = await createCertificateAuthority(dir, "gamenet-ca");
    const serving = await createServingCertificate(dir, ca, "gamenet-webhook", {
      dnsNames: ["localhost"],
      ipAddresses: ["127.0.0.1"],
    });
    c = { ca, serving, dir };
    certs.set(cp, c);
  }
  return c;
}

/** The webhook's serving certificate and key files, issued by the CA the API server is told to trust. */
export async function webhookFiles(cp: ControlPlane): Promise<CertificateFiles> {
  return (await webhookCerts(cp)).serving;
}

/**
 * Points the API server's admission chain at `port`: only Pods with a
 * network-type annotation are sent, as `deploy/` configures it.
 */
export async function registerWebhook(
  cp: ControlPlane,
  port: number,
  name = "gamenet-test",
): Promise<void> {
  const { ca } = await webhookCerts(cp);
  await applyManifests(
    cp.client("admin"),
    JSON.stringify({
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "MutatingWebhookConfiguration",
      metadata: { name },
      webhooks: [{
        name: "pods.gamenet.io",
        admissionReviewVersions: ["v1"],
        sideEffects: "NoneOnDryRun",
        failurePolicy: "Fail",
        timeoutSeconds: 10,
        reinvocationPolicy: "IfNeeded",
        clientConfig: { url: `https://127.0.0.1:${port}/mutate-pods`, caBundle: btoa(ca.certPem) },
        rules: [{
          apiGroups: [""],
          apiVersions: ["v1"],
          operations: ["CREATE"],
          resources: ["pods"],
        }],
        namespaceSelector: {
          matchExpressions: [{
            key: "kubernetes.io/metadata.name",
            operator: "NotIn",
            values: ["kube-system", "gamenet-system"],
          }],
        },
        matchConditions: [{
          name: "asks-for-a-network",
          expression:
            "has(object.metadata.annotations) && 'game.kruise.io/network-type' in object.metadata.annotations",
        }],
      }],
    }),
  );
}

/** A running gamenet: see the module documentation. */
export class GamenetProcess implements AsyncDisposable {
  readonly httpPort: number;
  /** The debug listener's port (`/allocations`), on 127.0.0.1. */
  readonly debugPort: number;
  readonly webhookPort: number;
  readonly identity: string;
  readonly logFile: string;
  readonly #caPem: string;
  #child: Deno.ChildProcess;
  #status: Promise<Deno.CommandStatus>;

  private constructor(
    child: Deno.ChildProcess,
    status: Promise<Deno.CommandStatus>,
    httpPort: number,
    debugPort: number,
    webhookPort: number,
    identity: string,
    logFile: string,
    caPem: string,
  ) {
    this.#caPem = caPem;
    this.#child = child;
    this.#status = status;
    this.httpPort = httpPort;
    this.debugPort = debugPort;
    this.webhookPort = webhookPort;
    this.identity = identity;
    this.logFile = logFile;
  }

  /** Starts `deno run main.ts` against `cp`; `webhookPort` may be given to reuse one. */
  static async start(
    cp: ControlPlane,
    options: GamenetProcessOptions & {
      webhookPort?: number;
      httpPort?: number;
      debugPort?: number;
    } = {},
  ): Promise<GamenetProcess> {
    const { serving } = await webhookCerts(cp);
    const httpPort = options.httpPort ?? freePort();
    const debugPort = options.debugPort ?? freePort();
    const webhookPort = options.webhookPort ?? freePort();
    const identity = options.identity ?? "gamenet-0";
    if (options.registerWebhook ?? true) await registerWebhook(cp, webhookPort);
    let kubeconfig = options.kubeconfig ?? cp.kubeconfigPath("gamenet");
    if (options.apiServerPort) {
      kubeconfig = join(cp.dir, `gamenet-${identity}-via-${options.apiServerPort}.kubeconfig`);
      await Deno.writeTextFile(
        kubeconfig,
        cp.kubeconfig("gamenet").replace(cp.server, `https://127.0.0.1:${options.apiServerPort}`),
      );
    }
    const command = [
      Deno.execPath(),
      "run",
      // As the image runs it (its permissions are wider: the test's paths).
      shippedFlags().v8Flags,
      "--allow-net",
      "--allow-env",
      "--allow-read",
      ...(options.denoFlags ?? []),
      join(REPO_ROOT, "main.ts"),
      ...(options.inCluster ? [] : [`--kubeconfig=${kubeconfig}`]),
      `--identity=${identity}`,
      `--http-addr=127.0.0.1:${httpPort}`,
      `--debug-addr=127.0.0.1:${debugPort}`,
      `--webhook-addr=127.0.0.1:${webhookPort}`,
      `--tls-cert-file=${serving.certFile}`,
      `--tls-key-file=${serving.keyFile}`,
      "--config=",
      ...(options.args ?? []),
    ];
    const env = { NO_COLOR: "1", ...options.env };
    const access = options.inCluster;
    return await GamenetProcess.launch(cp, {
      ...(access
        ? await inClusterCommand(join(cp.dir, `serviceaccount-${identity}`), access, command)
        : { command: command[0], args: command.slice(1) }),
      env: access ? { ...env, ...serviceEnv(access.server) } : env,
      httpPort,
      debugPort,
      webhookPort,
      identity,
    });
  }

  /**
   * Runs gamenet by a command of the caller's (e.g. inside a mount
   * namespace that gives it a Pod's volumes); the webhook certificate of
   * {@linkcode webhookFiles} is the one the API server trusts.
   */
  static async launch(cp: ControlPlane, run: {
    command: string;
    args: string[];
    env: Record<string, string>;
    /** Only `env`, as a container gets. @default {false} */
    clearEnv?: boolean;
    httpPort: number;
    debugPort: number;
    webhookPort: number;
    identity: string;
  }): Promise<GamenetProcess> {
    const { ca } = await webhookCerts(cp);
    const logFile = join(cp.dir, `gamenet-${run.identity}.log`);
    const log = await Deno.open(logFile, { create: true, append: true, write: true });
    const child = new Deno.Command(run.command, {
      args: run.args,
      env: run.env,
      clearEnv: run.clearEnv ?? false,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const copy = async (s: ReadableStream<Uint8Array>) => {
      for await (const chunk of s) await log.write(chunk);
    };
    const copies = Promise.all([copy(child.stdout), copy(child.stderr)]).catch(() => {});
    const status = child.status.then(async (st) => {
      await copies;
      log.close();
      return st;
    });
    return new GamenetProcess(
      child,
      status,
      run.httpPort,
      run.debugPort,
      run.webhookPort,
      run.identity,
      logFile,
      ca.certPem,
    );
  }

  /** The process id (to read its memory from `/proc`). */
  get pid(): number {
    return this.#child.pid;
  }

  /** `GET` on the plain HTTP port (`/healthz`, `/readyz`, `/metrics`). */
  async get(path: string, headers: Record<string, string> = {}): Promise<Response> {
    return await fetch(`http://127.0.0.1:${this.httpPort}${path}`, {
      headers,
      signal: AbortSignal.timeout(5_000),
    });
  }

  /** `GET` on the debug port (`/allocations`), which listens on loopback only. */
  async debugGet(path: string): Promise<Response> {
    return await fetch(`http://127.0.0.1:${this.debugPort}${path}`, {
      signal: AbortSignal.timeout(5_000),
    });
  }

  /** The webhook's URL and the CA it is signed by, for callers posting reviews themselves. */
  webhookTarget(): { url: string; caPem: string } {
    return { url: `https://127.0.0.1:${this.webhookPort}/mutate-pods`, caPem: this.#caPem };
  }

  /** The text of `/metrics`. */
  async metrics(): Promise<string> {
    return await (await this.get("/metrics")).text();
  }

  /**
   * Sends one AdmissionReview straight to this process's webhook
   * (bypassing the API server), for `object` (by default a HostPort Pod in
   * `default`); returns `allowed` or the refusal's message.
   */
  async admitDirectly(object?: unknown, namespace = "default"): Promise<string> {
    const answer = await this.review(
      object ?? {
        metadata: {
          generateName: "gs-",
          annotations: {
            "game.kruise.io/network-type": "Kubernetes-HostPort",
            "game.kruise.io/network-conf": '[{"name":"ContainerPorts","value":"gs:7777/UDP"}]',
          },
        },
        spec: {
          containers: [{ name: "gs", ports: [{ containerPort: 7777, protocol: "UDP" }] }],
        },
      },
      namespace,
    );
    return answer.allowed ? "allowed" : String(answer.status?.message);
  }

  /** Sends one AdmissionReview of `object` straight to the webhook; returns its `response`. */
  async review(
    object: unknown,
    namespace = "default",
  ): Promise<
    { allowed: boolean; status?: { code: number; message: string }; warnings?: string[] }
  > {
    const client = Deno.createHttpClient({ caCerts: [this.#caPem] });
    try {
      const res = await fetch(`https://127.0.0.1:${this.webhookPort}/mutate-pods`, {
        method: "POST",
        client,
        headers: { "content-type": "application/json" },
        body: JSON.stringify(podCreationReview(object, namespace, "test")),
        signal: AbortSignal.timeout(5_000),
      });
      return (await res.json()).response;
    } finally {
      client.close();
    }
  }

  /** Waits until `/readyz` answers 200. */
  async waitReady(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    this.#status.then(() => exited = true);
    while (Date.now() < deadline && !exited) {
      try {
        const res = await this.get("/readyz");
        await res.body?.cancel();
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(
      `gamenet ${this.identity} not ready (${exited ? "exited" : "timeout"}); log:\n${await this
        .logTail()}`,
    );
  }

  /** Everything gamenet logged so far. */
  async logText(): Promise<string> {
    try {
      return await Deno.readTextFile(this.logFile);
    } catch {
      return "";
    }
  }

  /** The last lines gamenet logged. */
  async logTail(lines = 40): Promise<string> {
    try {
      return (await Deno.readTextFile(this.logFile)).trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "";
    }
  }

  /**
   * Sends `signal` and waits for the exit; a process still there after
   * `graceMs` is killed, so a stuck stop fails its test instead of hanging it.
   */
  async kill(signal: Deno.Signal = "SIGKILL", graceMs = 20_000): Promise<Deno.CommandStatus> {
    const send = (s: Deno.Signal) => {
      try {
        this.#child.kill(s);
      } catch {
        // already gone
      }
    };
    send(signal);
    const timer = setTimeout(() => send("SIGKILL"), graceMs);
    try {
      return await this.#status;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The exit status, once it exits. */
  get exited(): Promise<Deno.CommandStatus> {
    return this.#status;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.kill("SIGTERM");
  }
}
