/**
 * gamenet as a shipped Deployment runs it, for the tests that hold
 * `deploy/` and the chart to their word: the container's args and
 * environment (field references resolved as the kubelet resolves them,
 * `KUBERNETES_SERVICE_HOST`/`_PORT` as it injects them), its volumes at
 * their mount paths (the ConfigMap's files, the webhook TLS Secret, the
 * emptyDirs, the service account's token and CA), and the image's V8 flags
 * and permissions. The volumes are mounted in a mount namespace of the
 * process's own (`unshare --mount`, root only), over a tmpfs `/run` and an
 * overlay of `/etc`, so nothing on the machine changes.
 *
 * What differs from a cluster, and only that: the API server is on
 * loopback, and the listeners bind the host's ports (the addresses the
 * args give, e.g. `:8080`), which must be free.
 *
 * @example
 * ```ts
 * const pod = shippedPod(objectsOf(deploymentYaml + configMapYaml), "deploy/");
 * await using gamenet = await startShippedPod(cp, pod, "gamenet-7d9f-abcde");
 * await gamenet.waitReady();
 * ```
 * @module
 */

import { basename, dirname, join } from "node:path";
import type { ControlPlane } from "../controlplane/control_plane.ts";
import { REPO_ROOT } from "../controlplane/assets.ts";
import { shippedFlags } from "../shipped_flags.ts";
import {
  GamenetProcess,
  registerWebhook,
  serviceEnv,
  shellQuote as quote,
  webhookFiles,
  writeServiceAccount,
} from "./gamenet_process.ts";
import { SERVICE_ACCOUNT_DIR } from "../../controller/kube_client.ts";
import { DEFAULTS } from "../../controller/config.ts";

// deno-lint-ignore no-explicit-any
type Obj = Record<string, any>;

/** What a Deployment's gamenet container is given. */
export interface ShippedPod {
  /** Where the objects came from, for messages. */
  source: string;
  namespace: string;
  args: string[];
  env: Obj[];
  volumeMounts: { name: string; mountPath: string }[];
  volumes: Obj[];
  /** The data of the ConfigMaps among `objects`, by name. */
  configMaps: Record<string, Record<string, string>>;
}

/** Picks the gamenet Deployment's container, its volumes and the ConfigMaps out of `objects`. */
export function shippedPod(objects: Obj[], source: string): ShippedPod {
  const deployment = objects.find((o) => o.kind === "Deployment");
  if (!deployment) throw new Error(`${source}: no Deployment`);
  const spec = deployment.spec.template.spec;
  const container = spec.containers.find((c: Obj) => c.name === "gamenet");
  if (!container) throw new Error(`${source}: the Deployment has no container named gamenet`);
  const configMaps: Record<string, Record<string, string>> = {};
  for (const o of objects) if (o.kind === "ConfigMap") configMaps[o.metadata.name] = o.data ?? {};
  return {
    source,
    namespace: deployment.metadata.namespace,
    args: container.args ?? [],
    env: container.env ?? [],
    volumeMounts: container.volumeMounts ?? [],
    volumes: spec.volumes ?? [],
    configMaps,
  };
}

/** The port of an address flag (`--http-addr=:8080`) among `args`, else of `fallback`. */
export function portOf(args: string[], flag: string, fallback?: string): number {
  const arg = args.find((a) => a.startsWith(`--${flag}=`)) ?? fallback;
  if (!arg) throw new Error(`The args set no --${flag}`);
  return Number(arg.slice(arg.lastIndexOf(":") + 1));
}

function assertFree(port: number): void {
  try {
    Deno.listen({ hostname: "0.0.0.0", port }).close();
  } catch (err) {
    throw new Error(
      `Port ${port}, which the shipped args bind, is in use on this machine: ${err}`,
    );
  }
}

/** Values of the Pod's environment, as the kubelet resolves them. */
function podEnv(pod: ShippedPod, podName: string, cp: ControlPlane): Record<string, string> {
  const env = serviceEnv(cp.server);
  for (const e of pod.env) {
    const field = e.valueFrom?.fieldRef?.fieldPath;
    if (e.value !== undefined) env[e.name] = e.value;
    else if (field === "metadata.namespace") env[e.name] = pod.namespace;
    else if (field === "metadata.name") env[e.name] = podName;
    else throw new Error(`${pod.source}: env ${e.name}: no stand-in for ${JSON.stringify(e)}`);
  }
  return env;
}

/**
 * Writes each volume's files under `dir` and returns the mounts in the
 * order to make them (parents first; `/tmp` last, since the sources live
 * there).
 */
async function prepareVolumes(
  cp: ControlPlane,
  pod: ShippedPod,
  dir: string,
): Promise<{ source: string; target: string }[]> {
  const tls = await webhookFiles(cp);
  const mounts: { source: string; target: string }[] = [];
  const byPath = [...pod.volumeMounts].sort((a, b) => a.mountPath.length - b.mountPath.length);
  for (const m of byPath) {
    const volume = pod.volumes.find((v) => v.name === m.name);
    if (!volume) throw new Error(`${pod.source}: volumeMount ${m.name} has no volume`);
    const source = join(dir, `volume-${m.name}`);
    await Deno.mkdir(source, { recursive: true });
    if (volume.configMap) {
      const data = pod.configMaps[volume.configMap.name];
      if (!data) throw new Error(`${pod.source}: no ConfigMap ${volume.configMap.name}`);
      for (const [file, text] of Object.entries(data)) {
        await Deno.writeTextFile(join(source, file), text);
      }
    } else if (volume.secret) {
      // The webhook's serving certificate, as cert-manager or the user puts it in the Secret.
      await Deno.writeTextFile(join(source, "tls.crt"), tls.certPem);
      await Deno.writeTextFile(join(source, "tls.key"), tls.keyPem);
    } else if (!volume.emptyDir) {
      throw new Error(`${pod.source}: no stand-in for volume ${JSON.stringify(volume)}`);
    }
    // As the kubelet does: a mount point inside another volume is made in that volume.
    const parent = mounts.findLast((p) => m.mountPath.startsWith(`${p.target}/`));
    if (parent) {
      await Deno.mkdir(join(parent.source, m.mountPath.slice(parent.target.length + 1)), {
        recursive: true,
      });
    }
    mounts.push({ source, target: m.mountPath });
  }
  const sa = join(dir, "serviceaccount");
  await writeServiceAccount(
    sa,
    { token: cp.token("gamenet"), caPem: cp.ca.certPem },
    pod.namespace,
  );
  mounts.push({ source: sa, target: SERVICE_ACCOUNT_DIR });
  return [
    ...mounts.filter((m) => m.target !== "/tmp"),
    ...mounts.filter((m) => m.target === "/tmp"),
  ];
}

/**
 * Starts gamenet as the Pod `podName` of `pod`'s Deployment against `cp`,
 * and points the API server's webhook at its webhook port.
 */
export async function startShippedPod(
  cp: ControlPlane,
  pod: ShippedPod,
  podName: string,
): Promise<GamenetProcess> {
  const httpPort = portOf(pod.args, "http-addr");
  const debugPort = portOf(pod.args, "debug-addr", DEFAULTS.debugAddr);
  const webhookPort = portOf(pod.args, "webhook-addr");
  assertFree(httpPort);
  assertFree(debugPort);
  assertFree(webhookPort);
  const dir = join(cp.dir, `pod-${podName}`);
  await Deno.mkdir(join(dir, "etc-upper"), { recursive: true });
  await Deno.mkdir(join(dir, "etc-work"), { recursive: true });
  const mounts = await prepareVolumes(cp, pod, dir);
  const { v8Flags, permissions } = shippedFlags();
  // The Pod's volumes may cover where the checkout or Deno is (a clone
  // under /tmp, which the Pod mounts an emptyDir on): those are reached
  // through a view of their own under this namespace's /run first.
  const hidden = (path: string) => mounts.some(({ target }) => path.startsWith(`${target}/`));
  const views: { source: string; target: string }[] = [];
  const seen = (path: string, name: string) => {
    if (!hidden(path)) return path;
    views.push({ source: path, target: `/run/gamenet-test/${name}` });
    return `/run/gamenet-test/${name}`;
  };
  const denoDir = seen(dirname(Deno.execPath()), "deno");
  const repo = seen(REPO_ROOT, "repo");
  const gamenet = [
    join(denoDir, basename(Deno.execPath())),
    "run",
    v8Flags,
    ...permissions,
    join(repo, "main.ts"),
    ...pod.args,
  ];
  const script = [
    "set -e",
    // /var/run is /run here; a tmpfs of this namespace's own takes the service account.
    "mount -t tmpfs gamenet-run /run",
    ...views.flatMap(({ source, target }) => [
      `mkdir -p ${quote(target)}`,
      `mount --bind ${quote(source)} ${quote(target)}`,
    ]),
    `mount -t overlay gamenet-etc -o lowerdir=/etc,upperdir=${quote(join(dir, "etc-upper"))},` +
    `workdir=${quote(join(dir, "etc-work"))} /etc`,
    ...mounts.flatMap(({ source, target }) => [
      `mkdir -p ${quote(target)}`,
      `mount --bind ${quote(source)} ${quote(target)}`,
    ]),
    `exec ${gamenet.map(quote).join(" ")}`,
  ].join("\n");
  await registerWebhook(cp, webhookPort);
  const infra: Record<string, string> = { NO_COLOR: "1" };
  // Where Deno finds its module cache: the test machine's, not a setting of gamenet's.
  for (const name of ["HOME", "DENO_DIR", "PATH"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) infra[name] = value;
  }
  return await GamenetProcess.launch(cp, {
    command: "unshare",
    args: ["--mount", "--propagation", "private", "sh", "-c", script],
    env: { ...infra, ...podEnv(pod, podName, cp) },
    clearEnv: true,
    httpPort,
    debugPort,
    webhookPort,
    identity: podName,
  });
}
