/**
 * The control plane's binaries: built once from the pinned Go modules into a
 * git-ignored cache, rebuilt only when the pins (or the Go toolchain) change.
 * `GAMENET_CONTROLPLANE_ASSETS` names a folder of prebuilt binaries instead,
 * as envtest's `KUBEBUILDER_ASSETS` does.
 *
 * @example
 * ```ts
 * const assets = await ensureControlPlaneAssets();
 * console.log(assets.kubeApiserver, assets.kubernetesVersion);
 * ```
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { existsSync } from "node:fs";
import { packImage } from "./image_archive.ts";

/** Paths of the four binaries and the Kubernetes version they report. */
export interface ControlPlaneAssets {
  etcd: string;
  kubeApiserver: string;
  kubeScheduler: string;
  kubeControllerManager: string;
  kubernetesVersion: string;
}

/** Environment variable naming a folder of prebuilt binaries. */
export const ASSETS_ENV = "GAMENET_CONTROLPLANE_ASSETS";

const HERE = dirname(fileURLToPath(import.meta.url));
/** The repository's root folder. */
export const REPO_ROOT = join(HERE, "..", "..");
const KUBE_MODULE = join(HERE, "kube");
const ETCD_MODULE = join(HERE, "etcd");
const IMAGES_MODULE = join(HERE, "images");
const BINARIES = ["etcd", "kube-apiserver", "kube-scheduler", "kube-controller-manager"] as const;

/** The `k8s.io/kubernetes` version the harness pins, read from its go.mod. */
export function pinnedKubernetesVersion(): string {
  const mod = Deno.readTextFileSync(join(KUBE_MODULE, "go.mod"));
  const match = mod.match(/^require k8s\.io\/kubernetes (v\d+\.\d+\.\d+)\s*$/m);
  if (!match) {
    throw new Error(`No "require k8s.io/kubernetes vX.Y.Z" line in ${KUBE_MODULE}/go.mod`);
  }
  return match[1];
}

async function run(cmd: string, args: string[], cwd: string, quiet = false): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd,
    stdout: "piped",
    stderr: quiet ? "piped" : "inherit",
    env: { GOFLAGS: "-mod=readonly -buildvcs=false", CGO_ENABLED: "0" },
  }).output();
  if (!out.success) {
    const err = quiet ? new TextDecoder().decode(out.stderr) : "(see above)";
    throw new Error(`${cmd} ${args.join(" ")} failed in ${cwd}: ${err}`);
  }
  return new TextDecoder().decode(out.stdout);
}

async function stamp(
  files = ["kube/go.mod", "kube/go.sum", "etcd/go.mod", "etcd/go.sum", "etcd/main.go"],
): Promise<string> {
  const parts = [await run("go", ["version"], HERE, true)];
  for (const file of files) {
    parts.push(file, await Deno.readTextFile(join(HERE, file)));
  }
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(parts.join("\n")));
  return Array.from(new Uint8Array(digest).slice(0, 8), (b) => b.toString(16).padStart(2, "0"))
    .join("");
}

function assetsIn(dir: string, kubernetesVersion: string): ControlPlaneAssets {
  return {
    etcd: join(dir, "etcd"),
    kubeApiserver: join(dir, "kube-apiserver"),
    kubeScheduler: join(dir, "kube-scheduler"),
    kubeControllerManager: join(dir, "kube-controller-manager"),
    kubernetesVersion,
  };
}

/** Link flags that make a component report `version` as a release build does. */
function versionLdflags(version: string): string {
  const [major, minor] = version.slice(1).split(".");
  return [
    "-s -w",
    `-X k8s.io/component-base/version.gitVersion=${version}`,
    `-X k8s.io/component-base/version.gitMajor=${major}`,
    `-X k8s.io/component-base/version.gitMinor=${minor}`,
    `-X k8s.io/component-base/version.gitTreeState=clean`,
  ].join(" ");
}

/**
 * Returns the binaries, building them first when the cache lacks them.
 * A cold build downloads the modules through the Go proxy and takes minutes.
 */
export async function ensureControlPlaneAssets(
  options: { log?: (line: string) => void } = {},
): Promise<ControlPlaneAssets> {
  const log = options.log ?? ((line: string) => console.error(line));
  const version = pinnedKubernetesVersion();
  const prebuilt = Deno.env.get(ASSETS_ENV);
  if (prebuilt) {
    const missing = BINARIES.filter((b) => !existsSync(join(prebuilt, b)));
    if (missing.length > 0) {
      throw new Error(`${ASSETS_ENV}=${prebuilt} lacks ${missing.join(", ")}`);
    }
    return assetsIn(prebuilt, version);
  }
  const dir = join(REPO_ROOT, ".cache", "controlplane", await stamp());
  if (BINARIES.every((b) => existsSync(join(dir, b)))) return assetsIn(dir, version);

  const started = Date.now();
  const tmp = `${dir}.building-${Deno.pid}`;
  await Deno.mkdir(tmp, { recursive: true });
  log(`Building kube-apiserver, kube-scheduler, kube-controller-manager ${version} into ${dir}`);
  await run("go", [
    "build",
    "-trimpath",
    "-ldflags",
    versionLdflags(version),
    "-o",
    tmp + "/",
    "k8s.io/kubernetes/cmd/kube-apiserver",
    "k8s.io/kubernetes/cmd/kube-scheduler",
    "k8s.io/kubernetes/cmd/kube-controller-manager",
  ], KUBE_MODULE);
  log("Building etcd");
  await run(
    "go",
    ["build", "-trimpath", "-ldflags", "-s -w", "-o", join(tmp, "etcd"), "."],
    ETCD_MODULE,
  );
  // A rename makes the cache entry appear whole or not at all, so an
  // interrupted build is never mistaken for a finished one.
  await Deno.rename(tmp, dir);
  log(`Control plane built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return assetsIn(dir, version);
}

/** A real node's binaries and container images (see `real_node.ts`). */
export interface NodeAssets {
  kubelet: string;
  kubeProxy: string;
  /** Image archives (`docker save` layout) to import into containerd. */
  images: { pause: string; gameServer: string };
  kubernetesVersion: string;
}

/** The names the node's images are imported under; Pods use them with `imagePullPolicy: Never`. */
export const NODE_IMAGES = {
  pause: "gamenet.test/pause:1.0",
  gameServer: "gamenet.test/gameserver:1.0",
} as const;

const NODE_SOURCES = [
  "kube/go.mod",
  "kube/go.sum",
  "images/go.mod",
  "images/pause/main.go",
  "images/gameserver/main.go",
  "image_archive.ts",
];
const NODE_FILES = ["kubelet", "kube-proxy", "pause.tar", "gameserver.tar"] as const;

function nodeAssetsIn(dir: string, kubernetesVersion: string): NodeAssets {
  return {
    kubelet: join(dir, "kubelet"),
    kubeProxy: join(dir, "kube-proxy"),
    images: { pause: join(dir, "pause.tar"), gameServer: join(dir, "gameserver.tar") },
    kubernetesVersion,
  };
}

/**
 * Returns the real node's binaries and images, building them first when
 * the cache lacks them (kubelet and kube-proxy from the same pinned module
 * as the control plane; the images from `images/`). A folder named by
 * `GAMENET_CONTROLPLANE_ASSETS` is used when it holds them too.
 */
export async function ensureNodeAssets(
  options: { log?: (line: string) => void } = {},
): Promise<NodeAssets> {
  const log = options.log ?? ((line: string) => console.error(line));
  const version = pinnedKubernetesVersion();
  const prebuilt = Deno.env.get(ASSETS_ENV);
  if (prebuilt && NODE_FILES.every((f) => existsSync(join(prebuilt, f)))) {
    return nodeAssetsIn(prebuilt, version);
  }
  const dir = join(REPO_ROOT, ".cache", "node", await stamp(NODE_SOURCES));
  if (NODE_FILES.every((f) => existsSync(join(dir, f)))) return nodeAssetsIn(dir, version);

  const started = Date.now();
  const tmp = `${dir}.building-${Deno.pid}`;
  await Deno.mkdir(tmp, { recursive: true });
  log(`Building kubelet, kube-proxy ${version} and the node's images into ${dir}`);
  await run("go", [
    "build",
    "-trimpath",
    "-ldflags",
    versionLdflags(version),
    "-o",
    tmp + "/",
    "k8s.io/kubernetes/cmd/kubelet",
    "k8s.io/kubernetes/cmd/kube-proxy",
  ], KUBE_MODULE);
  const bin = join(tmp, "bin");
  await run("go", [
    "build",
    "-trimpath",
    "-ldflags",
    "-s -w",
    "-o",
    bin + "/",
    "./pause",
    "./gameserver",
  ], IMAGES_MODULE);
  await packImage(join(bin, "pause"), NODE_IMAGES.pause, join(tmp, "pause.tar"));
  await packImage(join(bin, "gameserver"), NODE_IMAGES.gameServer, join(tmp, "gameserver.tar"));
  await Deno.remove(bin, { recursive: true });
  await Deno.rename(tmp, dir);
  log(`Node built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return nodeAssetsIn(dir, version);
}
