/**
 * Reading what `deploy/` and the chart ship: YAML streams as objects, the
 * kustomization's files, and `helm` when the machine has one.
 *
 * @example
 * ```ts
 * const objects = await deployObjects();
 * const chart = objectsOf(await run(helm, ["template", "gamenet", CHART]));
 * ```
 * @module
 */

import { join } from "node:path";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { REPO_ROOT } from "../controlplane/assets.ts";

/** `deploy/`. */
export const DEPLOY = join(REPO_ROOT, "deploy");
/** The Helm chart. */
export const CHART = join(DEPLOY, "helm", "gamenet");
/** The Helm the chart's tests use, built from its Go module when the machine has none. */
export const HELM_VERSION = "v3.22.0";
/** Where that build is cached (git-ignored, like the control plane's binaries). */
const HELM_CACHE = join(REPO_ROOT, ".cache", "helm", HELM_VERSION);

// deno-lint-ignore no-explicit-any
export type Obj = Record<string, any>;

/** Every object of a YAML stream (empty documents skipped). */
export function objectsOf(text: string): Obj[] {
  return parseAllDocuments(text).flatMap((doc) => {
    if (doc.errors.length > 0) throw new Error(`Bad YAML: ${doc.errors[0].message}`);
    const obj = doc.toJS() as Obj | null;
    return obj ? [obj] : [];
  });
}

/** The files `deploy/kustomization.yaml` lists, in its order. */
export async function kustomizationFiles(): Promise<string[]> {
  const k = parseYaml(await Deno.readTextFile(join(DEPLOY, "kustomization.yaml")));
  return k.resources as string[];
}

/**
 * The ConfigMaps of `deploy/kustomization.yaml`'s `configMapGenerator`, as
 * kustomize makes them (files only, names without a hash suffix).
 */
export async function generatedObjects(): Promise<Obj[]> {
  const k = parseYaml(await Deno.readTextFile(join(DEPLOY, "kustomization.yaml")));
  const objects: Obj[] = [];
  for (const gen of k.configMapGenerator ?? []) {
    if (!gen.options?.disableNameSuffixHash) {
      throw new Error(`configMapGenerator ${gen.name}: the chart's name has no hash suffix`);
    }
    const data: Record<string, string> = {};
    for (const entry of gen.files as string[]) {
      const [key, path] = entry.includes("=")
        ? entry.split("=", 2)
        : [entry.split("/").pop()!, entry];
      data[key] = await Deno.readTextFile(join(DEPLOY, path));
    }
    objects.push({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: gen.name, namespace: gen.namespace, labels: gen.options.labels },
      data,
    });
  }
  return objects;
}

/** Every object `kubectl apply -k deploy/` applies. */
export async function deployObjects(): Promise<Obj[]> {
  const objects: Obj[] = [];
  for (const file of await kustomizationFiles()) {
    objects.push(...objectsOf(await Deno.readTextFile(join(DEPLOY, file))));
  }
  return [...objects, ...await generatedObjects()];
}

/** `helm`, if this machine has one (`$HELM`, `.tools/bin/helm`, the cache, the PATH). */
export async function findHelm(): Promise<string | undefined> {
  const candidates = [
    Deno.env.get("HELM"),
    join(REPO_ROOT, ".tools", "bin", "helm"),
    join(HELM_CACHE, "helm"),
    "helm",
  ];
  for (const bin of candidates) {
    if (!bin) continue;
    try {
      const out = await new Deno.Command(bin, { args: ["version", "--short"], stdout: "null" })
        .output();
      if (out.success) return bin;
    } catch {
      // not this one
    }
  }
  return undefined;
}

/**
 * `helm`: the machine's, or built once from `helm.sh/helm/v3` into
 * `.cache/helm/` (as the control plane is built), so the chart's checks
 * never skip quietly. Without Go it fails saying what to install.
 */
export async function ensureHelm(): Promise<string> {
  const found = await findHelm();
  if (found) return found;
  const out = await new Deno.Command("go", {
    args: ["install", `helm.sh/helm/v3/cmd/helm@${HELM_VERSION}`],
    env: { GOBIN: HELM_CACHE, CGO_ENABLED: "0" },
    stdout: "piped",
    stderr: "piped",
  }).output().catch((err) => ({ success: false, stderr: new TextEncoder().encode(String(err)) }));
  if (!out.success) {
    throw new Error(
      `The chart's tests need helm, and building it failed (${
        new TextDecoder().decode(out.stderr).trim()
      }); install Go, or run: GOBIN=${HELM_CACHE} go install helm.sh/helm/v3/cmd/helm@${HELM_VERSION}`,
    );
  }
  return join(HELM_CACHE, "helm");
}

/** Runs `bin` and returns its stdout; a failure throws with its stderr. */
export async function run(
  bin: string,
  args: string[],
  env?: Record<string, string>,
): Promise<string> {
  const out = await new Deno.Command(bin, { args, env, stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  if (!out.success) {
    throw new Error(`${bin} ${args.join(" ")} failed:\n${dec.decode(out.stderr)}`);
  }
  return dec.decode(out.stdout);
}

/**
 * `helm template` of the chart as release `gamenet` in `gamenet-system`
 * for the test cluster's version, with `args` added (`--set ...`).
 */
export async function renderChart(helm: string, args: string[] = []): Promise<Obj[]> {
  return objectsOf(
    await run(helm, [
      "template",
      "gamenet",
      CHART,
      "--namespace",
      "gamenet-system",
      "--kube-version",
      "1.35.4",
      ...args,
    ]),
  );
}
