/**
 * Whether the real-node tests run here. A machine without what a real node
 * needs skips them with a message naming what is missing, never silently;
 * with `GAMENET_REAL_NODE=require` (CI sets it) a missing piece fails them
 * instead.
 *
 * @example
 * ```ts
 * Deno.test({ name: "…", ignore: skipRealNode("HostPort on a real node"), fn: async () => {} });
 * ```
 * @module
 */

import { realNodeMissing } from "../controlplane/real_node.ts";

/** Environment variable: `require` turns a skip into a failure. */
export const REAL_NODE_ENV = "GAMENET_REAL_NODE";

/** True (after saying why on stderr) when `test` must be skipped on this machine. */
export function skipRealNode(test: string): boolean {
  const missing = realNodeMissing();
  if (missing.length === 0 || Deno.env.get(REAL_NODE_ENV) === "require") return false;
  console.error(
    `SKIPPED "${test}": a real node needs ${missing.join("; ")}. ` +
      `Set ${REAL_NODE_ENV}=require to fail instead.`,
  );
  return true;
}
