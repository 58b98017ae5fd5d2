import assert from "node:assert/strict";
import { join } from "node:path";
import { REPO_ROOT } from "./controlplane/assets.ts";
import { parseCompileFlags, shippedFlags } from "./shipped_flags.ts";

Deno.test("shippedFlags() equal the Dockerfile's deno compile and the start task's", () => {
  const shipped = shippedFlags();
  assert.match(shipped.v8Flags, /--optimize-for-size/);
  assert.deepEqual(shipped.permissions, [
    "--allow-net",
    "--allow-env",
    "--allow-read=/var/run/secrets,/etc/gamenet",
  ]);
  const dockerfile = Deno.readTextFileSync(join(REPO_ROOT, "Dockerfile"));
  const lines = dockerfile.split("\n");
  const first = lines.findIndex((l) => /^\s*(RUN|&&) .*deno compile /.test(l));
  assert.ok(first >= 0, "the Dockerfile runs deno compile");
  let last = first;
  while (lines[last].trimEnd().endsWith("\\")) last++;
  const compile = lines.slice(first, last + 1).join(" ");
  assert.deepEqual(parseCompileFlags(compile), shipped);
  const tasks = JSON.parse(Deno.readTextFileSync(join(REPO_ROOT, "deno.json"))).tasks;
  assert.equal(parseCompileFlags(tasks.start).v8Flags, shipped.v8Flags);
});

Deno.test("parseCompileFlags() refuses a command line without V8 flags", () => {
  assert.throws(() => parseCompileFlags("deno compile --allow-net main.ts"), /no --v8-flags/);
});
