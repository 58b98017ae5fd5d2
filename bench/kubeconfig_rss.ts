/**
 * Resident memory of gamenet's API client both ways it connects, on the
 * test control plane: as in a cluster (a token file and a CA, what
 * `KubeClient.inCluster()` builds; `@kubernetes/client-node` is never
 * imported) and from a kubeconfig (`KubeClient.fromKubeconfigFile()`,
 * which imports client-node to load it). Each run is a fresh process with
 * gamenet's shipped V8 flags that creates the client, lists Pods and
 * Nodes, collects garbage and reports its RSS; modes alternate.
 *
 * ```sh
 * deno run --allow-all bench/kubeconfig_rss.ts [runs=3]
 * ```
 * @module
 */

import { join } from "node:path";
import { KubeClient } from "../controller/kube_client.ts";

type Mode = "in-cluster" | "kubeconfig";

interface Sample {
  mode: Mode;
  rssMiB: number;
  heapMiB: number;
  readyMs: number;
}

/** One measured process: `child <mode> <server> <dir>`. */
async function child(mode: Mode, server: string, dir: string): Promise<void> {
  const started = performance.now();
  const client = mode === "in-cluster"
    ? new KubeClient({
      server,
      tokenFile: join(dir, "token"),
      caPem: await Deno.readTextFile(join(dir, "ca.crt")),
    })
    : await KubeClient.fromKubeconfigFile(join(dir, "gamenet.kubeconfig"));
  await client.request("GET", "/api/v1/pods");
  await client.request("GET", "/api/v1/nodes");
  const readyMs = performance.now() - started;
  // What stays, not what a collection would free.
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((r) => setTimeout(r, 500));
  const { rss, heapUsed } = Deno.memoryUsage();
  client.close();
  console.log(
    JSON.stringify({ mode, rssMiB: rss / 2 ** 20, heapMiB: heapUsed / 2 ** 20, readyMs }),
  );
}

async function measure(mode: Mode, server: string, dir: string, v8Flags: string): Promise<Sample> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      `${v8Flags},--expose-gc`,
      "--allow-net",
      "--allow-env",
      "--allow-read",
      import.meta.filename!,
      "child",
      mode,
      server,
      dir,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) throw new Error(`${mode}: ${new TextDecoder().decode(out.stderr)}`);
  return JSON.parse(text.split("\n").at(-1)!);
}

if (Deno.args[0] === "child") {
  await child(Deno.args[1] as Mode, Deno.args[2], Deno.args[3]);
} else {
  // Imported here only: the control plane's harness imports client-node
  // itself, and the measured child runs this same module.
  const { ControlPlane } = await import("../tests/controlplane/control_plane.ts");
  const { shippedFlags } = await import("../tests/shipped_flags.ts");
  const runs = Number(Deno.args[0] ?? 3);
  await using cp = await ControlPlane.start({ scheduler: false, controllerManager: false });
  const dir = join(cp.dir, "kubeconfig-rss");
  await Deno.mkdir(dir);
  await Deno.writeTextFile(join(dir, "token"), `${cp.token("gamenet")}\n`);
  await Deno.writeTextFile(join(dir, "ca.crt"), cp.ca.certPem);
  await Deno.writeTextFile(join(dir, "gamenet.kubeconfig"), cp.kubeconfig("gamenet"));
  const samples: Sample[] = [];
  console.log("| run | client      |      RSS |    heap | client made + 2 lists |");
  console.log("| --- | ----------- | -------: | ------: | --------------------: |");
  for (let i = 1; i <= runs; i++) {
    for (const mode of ["in-cluster", "kubeconfig"] as const) {
      const s = await measure(mode, cp.server, dir, shippedFlags().v8Flags);
      samples.push(s);
      console.log(
        `| ${i}   | ${mode.padEnd(11)} | ${s.rssMiB.toFixed(1).padStart(4)} MiB | ${
          s.heapMiB.toFixed(1).padStart(3)
        } MiB | ${s.readyMs.toFixed(0).padStart(16)} ms |`,
      );
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const mode of ["in-cluster", "kubeconfig"] as const) {
    const mine = samples.filter((s) => s.mode === mode);
    console.log(
      `median ${mode}: RSS ${median(mine.map((s) => s.rssMiB)).toFixed(1)} MiB, heap ${
        median(mine.map((s) => s.heapMiB)).toFixed(1)
      } MiB, ${median(mine.map((s) => s.readyMs)).toFixed(0)} ms`,
    );
  }
}
