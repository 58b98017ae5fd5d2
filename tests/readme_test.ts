import assert from "node:assert/strict";
import { join } from "node:path";
import { REPO_ROOT } from "./controlplane/assets.ts";
import { FLAGS, loadConfig } from "../controller/config.ts";
import { HostPorts } from "../allocator/host_ports.ts";

const readme = Deno.readTextFileSync(join(REPO_ROOT, "README.md"));

Deno.test("README's flag table lists every flag gamenet takes, with its variable and default", () => {
  const rows = readme.split("\n").filter((l) => l.startsWith("| `--")).map((l) =>
    l.split("|").slice(1, 4).map((cell) => cell.trim().replaceAll("`", ""))
  );
  assert.deepEqual(rows.map(([flag]) => flag), FLAGS.map((f) => `--${f.flag}`));
  for (const [flag, env, def] of rows) {
    const spec = FLAGS.find((f) => `--${f.flag}` === flag)!;
    assert.equal(env, spec.env ?? "", `${flag}: environment variable`);
    if (spec.default !== undefined) assert.equal(def, spec.default, `${flag}: default`);
  }
});

Deno.test("README's pools file is one gamenet accepts", async () => {
  const example = /The pools file[^\n]*\n\n```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(example);
  const file = await Deno.makeTempFile({ suffix: ".yaml" });
  try {
    await Deno.writeTextFile(file, example);
    const config = await loadConfig([`--config=${file}`], {});
    assert.ok(Object.keys(config.hostPortRanges).length >= 2);
    assert.notEqual(config.reuseDelayMs, 0);
    // As main.ts does next: overlapping ranges stop gamenet here.
    new HostPorts(config.hostPortRanges, { reuseDelayMs: config.reuseDelayMs });
  } finally {
    await Deno.remove(file);
  }
});
