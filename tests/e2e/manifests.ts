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
/** How `.ci/run` builds the helm these tests use, for the message when it is missing. */
export const HELM_INSTALL = `GOBIN=${
  join(REPO_ROOT, ".tools", "bin")
} go install helm.sh/helm/v3/cmd/helm@v3.22.0`;

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

/** Every object `kubectl apply -k deploy/` applies. */
export async function deployObjects(): Promise<Obj[]> {
  const objects: Obj[] = [];
  for (const file of await kustomizationFiles()) {
    objects.push(...objectsOf(await Deno.readTextFile(join(DEPLOY, file))));
  }
  return objects;
}

/** `helm`, if this machine has one (`$HELM`, `.tools/bin/helm`, the PATH). */
export async function findHelm(): Promise<string | undefined> {
  const candidates = [Deno.env.get("HELM"), join(REPO_ROOT, ".tools", "bin", "helm"), "helm"];
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
