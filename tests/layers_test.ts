/**
 * The house's one rule, from ../shared/DESIGN.md §2: imports run downward
 * only, main.ts → api/ → controller/ → providers/ → allocator/ (api/ may
 * read controller and provider types; nothing imports upward or from a
 * sibling's side door).
 */

import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { REPO_ROOT } from "./controlplane/assets.ts";

/** Each layer, and the layers it may import. */
const MAY_IMPORT: Record<string, string[]> = {
  "main.ts": ["api", "controller", "providers", "allocator"],
  api: ["api", "controller", "providers", "allocator"],
  controller: ["controller", "providers", "allocator"],
  providers: ["providers", "allocator"],
  allocator: ["allocator"],
};

async function* sources(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(join(REPO_ROOT, dir))) {
    const path = join(dir, e.name);
    if (e.isDirectory) yield* sources(path);
    else if (e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) yield path;
  }
}

/** The layer a repository path belongs to. */
function layerOf(path: string): string | undefined {
  const top = path.split("/")[0];
  return top in MAY_IMPORT ? top : undefined;
}

/** Relative imports of a file (static and literal dynamic ones), as repository paths. */
function importsOf(file: string, text: string): string[] {
  const specifiers = [
    ...text.matchAll(/^\s*(?:import|export)\b[^;]*?from\s+"([^"]+)"/gms),
    ...text.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g),
  ].map((m) => m[1]);
  return specifiers.filter((s) => s.startsWith(".")).map((s) =>
    relative(REPO_ROOT, join(REPO_ROOT, dirname(file), s))
  );
}

Deno.test("imports run downward only: main.ts → api → controller → providers → allocator", async () => {
  const files = ["main.ts"];
  for (const dir of ["api", "controller", "providers", "allocator"]) {
    for await (const f of sources(dir)) files.push(f);
  }
  assert.ok(files.length > 40, `read ${files.length} files`);
  const wrong: string[] = [];
  let checked = 0;
  for (const file of files) {
    const from = layerOf(file)!;
    for (const target of importsOf(file, await Deno.readTextFile(join(REPO_ROOT, file)))) {
      checked++;
      const to = layerOf(target);
      if (!to || !MAY_IMPORT[from].includes(to)) wrong.push(`${file} imports ${target}`);
    }
  }
  assert.ok(checked > 100, `checked ${checked} imports`);
  assert.deepEqual(wrong, []);
});

Deno.test("importsOf() sees static, re-exported and dynamic imports", () => {
  const text = `import { a } from "../api/app.ts";\nexport { b } from "./b.ts";\n` +
    `import type {\n  C,\n} from "../allocator/mod.ts";\nconst m = await import("../main.ts");\n` +
    `import x from "npm:yaml";`;
  assert.deepEqual(importsOf("controller/x.ts", text), [
    "api/app.ts",
    "controller/b.ts",
    "allocator/mod.ts",
    "main.ts",
  ]);
});
