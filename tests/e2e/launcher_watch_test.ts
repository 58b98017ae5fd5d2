// Reading another process's /proc entry needs --allow-all in Deno: an end-to-end test.
import assert from "node:assert/strict";
import { pathToFileURL } from "node:url";
import { join } from "node:path";
import { ancestors, parentOf } from "../launcher_watch.ts";

Deno.test("ancestors() lists this process's parents up to init", () => {
  const chain = ancestors();
  assert.ok(chain.length >= 1);
  assert.equal(chain[0].pid, parentOf("self"));
  for (let i = 1; i < chain.length; i++) assert.equal(chain[i].pid, chain[i - 1].parent);
  assert.equal(parentOf(2 ** 22 + 12345), undefined, "no such process");
});

Deno.test("watchLaunchers() fires once the shell that started a process exits", async () => {
  const module = pathToFileURL(join(import.meta.dirname!, "..", "launcher_watch.ts")).href;
  const probe = `import { watchLaunchers } from "${module}";
    watchLaunchers(() => { console.log("gone"); Deno.exit(0); }, 100);
    console.log("watching");
    setTimeout(() => {}, 30_000);`;
  // The shell stays (sleep) after starting the probe, as npm does; then it is killed alone.
  const shell = new Deno.Command("sh", {
    args: ["-c", `"${Deno.execPath()}" eval '${probe}' & sleep 30`],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = shell.stdout.pipeThrough(new TextDecoderStream()).values();
  const next = async () => (await lines.next()).value?.trim();
  assert.equal(await next(), "watching");
  shell.kill("SIGKILL");
  const started = Date.now();
  assert.equal(await next(), "gone");
  assert.ok(Date.now() - started < 5_000);
  await shell.status;
  await lines.return?.();
});
