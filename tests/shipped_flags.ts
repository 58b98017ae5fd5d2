/**
 * The runtime flags gamenet ships with, read from deno.json's `compile`
 * task (the Dockerfile repeats them; `shipped_flags_test.ts` keeps the two
 * equal), so that the end-to-end tests run `main.ts` as the image runs it.
 *
 * @example
 * ```ts
 * const { v8Flags, permissions } = shippedFlags();
 * ```
 * @module
 */

import { join } from "node:path";
import { REPO_ROOT } from "./controlplane/assets.ts";

/** The flags of `deno compile` that change how gamenet runs. */
export interface ShippedFlags {
  /** e.g. `--v8-flags=--optimize-for-size,...` */
  v8Flags: string;
  /** `--allow-*` flags, in order. */
  permissions: string[];
}

/** Picks the V8 and permission flags out of a `deno compile` command line. */
export function parseCompileFlags(commandLine: string): ShippedFlags {
  const words = commandLine.split(/\s+/).filter((w) => w && w !== "\\");
  const v8Flags = words.find((w) => w.startsWith("--v8-flags="));
  if (!v8Flags) throw new Error(`no --v8-flags in: ${commandLine}`);
  return { v8Flags, permissions: words.filter((w) => w.startsWith("--allow-")) };
}

/** The flags of deno.json's `compile` task. */
export function shippedFlags(): ShippedFlags {
  const config = JSON.parse(Deno.readTextFileSync(join(REPO_ROOT, "deno.json")));
  return parseCompileFlags(config.tasks.compile);
}
