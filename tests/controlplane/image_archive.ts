/**
 * Container images without a registry: one static binary becomes a
 * one-layer image in the `docker save` archive layout, which
 * `ctr images import` reads. Reproducible: the same binary gives the same
 * image digest (sorted tar, fixed owner and time).
 *
 * @example
 * ```ts
 * await packImage("/tmp/bin/pause", "gamenet.test/pause:1.0", "/tmp/pause.tar");
 * ```
 * @module
 */

import { basename, join } from "node:path";

async function sha256Hex(data: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", data);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function tar(args: string[]): Promise<void> {
  const out = await new Deno.Command("tar", { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`tar ${args.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

const REPRODUCIBLE = ["--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0"];

/** The image platform's architecture name for this machine. */
function architecture(): string {
  return Deno.build.arch === "aarch64" ? "arm64" : "amd64";
}

/**
 * Writes `archive`: an image named `reference` whose only file is
 * `binary` at `/<its name>`, which is also its entrypoint.
 */
export async function packImage(binary: string, reference: string, archive: string): Promise<void> {
  const work = await Deno.makeTempDir({ prefix: "gamenet-image-" });
  try {
    const rootfs = join(work, "rootfs");
    await Deno.mkdir(rootfs);
    const name = basename(binary);
    await Deno.copyFile(binary, join(rootfs, name));
    await Deno.chmod(join(rootfs, name), 0o755);
    const out = join(work, "out");
    await Deno.mkdir(out);
    const layerFile = join(out, "layer.tar");
    await tar([...REPRODUCIBLE, "-cf", layerFile, "-C", rootfs, name]);
    const layerDigest = await sha256Hex(await Deno.readFile(layerFile));
    const config = new TextEncoder().encode(JSON.stringify({
      architecture: architecture(),
      os: "linux",
      config: { Entrypoint: [`/${name}`], Env: ["PATH=/"], WorkingDir: "/" },
      rootfs: { type: "layers", diff_ids: [`sha256:${layerDigest}`] },
    }));
    const configName = `${await sha256Hex(config)}.json`;
    await Deno.writeFile(join(out, configName), config);
    await Deno.writeTextFile(
      join(out, "manifest.json"),
      JSON.stringify([{ Config: configName, RepoTags: [reference], Layers: ["layer.tar"] }]),
    );
    await tar([
      ...REPRODUCIBLE,
      "-cf",
      archive,
      "-C",
      out,
      "manifest.json",
      configName,
      "layer.tar",
    ]);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}
