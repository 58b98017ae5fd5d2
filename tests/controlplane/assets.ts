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

async function stamp(): Promise<string> {
  const parts = [await run("go", ["version"], HERE, true)];
  for (const file of ["kube/go.mod", "kube/go.sum", "etcd/go.mod", "etcd/go.sum", "etcd/main.go"]) {
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

  const [major, minor] = version.slice(1).split(".");
  const started = Date.now();
  const tmp = `${dir}.building-${Deno.pid}`;
  await Deno.mkdir(tmp, { recursive: true });
  log(`Building kube-apiserver, kube-scheduler, kube-controller-manager ${version} into ${dir}`);
  await run("go", [
    "build",
    "-trimpath",
    "-ldflags",
    [
      "-s -w",
      `-X k8s.io/component-base/version.gitVersion=${version}`,
      `-X k8s.io/component-base/version.gitMajor=${major}`,
      `-X k8s.io/component-base/version.gitMinor=${minor}`,
      `-X k8s.io/component-base/version.gitTreeState=clean`,
    ].join(" "),
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
