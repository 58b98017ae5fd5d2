import assert from "node:assert/strict";
import { join } from "node:path";
import { REPO_ROOT } from "./controlplane/assets.ts";
import { FLAGS, readPoolsFile } from "../controller/config.ts";
import { createRegistry, NETWORK_TYPES, sectionsOf, settingsOf } from "../providers/mod.ts";

const readme = Deno.readTextFileSync(join(REPO_ROOT, "README.md"));

Deno.test("README's flag table is the core's and every network type's settings, in order", () => {
  const rows = readme.split("\n").filter((l) => l.startsWith("| `--")).map((l) =>
    l.split("|").slice(1, 5).map((cell) => cell.trim().replaceAll("`", ""))
  );
  const specs = [...FLAGS, ...settingsOf(NETWORK_TYPES)];
  assert.deepEqual(rows.map(([flag]) => flag), specs.map((f) => `--${f.flag}`));
  for (const [flag, env, def, help] of rows) {
    const spec = specs.find((f) => `--${f.flag}` === flag)!;
    assert.equal(env, spec.env ?? "", `${flag}: environment variable`);
    assert.equal(def, spec.default ?? spec.defaultText, `${flag}: default`);
    assert.equal(help, spec.help.replaceAll("`", ""), `${flag}: help`);
  }
});

Deno.test("README's pools file is one gamenet starts with", () => {
  const example = /The pools file[^\n]*\n\n```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(example);
  const sections = readPoolsFile("README.md", example, sectionsOf(NETWORK_TYPES));
  const defaults = new Map(settingsOf(NETWORK_TYPES).map((s) => [s.flag, s.default]));
  const logs: string[] = [];
  // As main.ts does next: overlapping ranges, say, stop gamenet here.
  const registry = createRegistry(NETWORK_TYPES, {
    setting: (flag) => defaults.get(flag),
    sections,
    source: "README.md",
    env: {},
    log: { info: (m) => logs.push(m), warn: (m) => logs.push(m) },
  });
  assert.ok(registry.get("Kubernetes-HostPort"));
  assert.match(
    logs.join("\n"),
    /Kubernetes-HostPort: ranges default=8000-9000, game=9001-10000, reuse delay 30000 ms/,
  );
});
