/**
 * The control plane from a terminal.
 *
 * - `build`: build (or find in the cache) the binaries and print where.
 * - `up`: start the control plane with 3 fake nodes and the kubelet
 *   stand-in, print how to reach it, stay up until Ctrl-C (`deno task
 *   demo`, in `tests/demo.ts`, adds gamenet and sample game servers).
 *
 * @example
 * ```sh
 * deno task controlplane build
 * deno task controlplane up
 * ```
 * @module
 */

import { ensureControlPlaneAssets } from "./assets.ts";
import { ControlPlane } from "./control_plane.ts";
import { KubeletStandIn } from "./kubelet_standin.ts";

async function up(): Promise<void> {
  const started = Date.now();
  const cp = await ControlPlane.start({ log: (l) => console.log(l) });
  const kubelet = new KubeletStandIn(cp.client("admin"), { log: (l) => console.error(l) });
  try {
    await kubelet.addNodes(3, { prefix: "node" });
    kubelet.start();
    const version = await cp.client("admin").request<{ gitVersion: string }>("GET", "/version");
    console.log(
      [
        "",
        `Kubernetes ${version.gitVersion} is up in ${((Date.now() - started) / 1000).toFixed(1)} s`,
        `  API server:  ${cp.server}`,
        `  nodes:       ${
          kubelet.nodeNames.join(", ")
        } (kubelet stand-in: Pods get an IP and Ready)`,
        `  kubeconfig:  export KUBECONFIG=${cp.kubeconfigPath("admin")}`,
        `  as gamenet:  ${cp.kubeconfigPath("gamenet")} (only the role in deploy/rbac.yaml)`,
        `  logs:        ${cp.dir}/*.log`,
        "",
        `  curl --cacert ${cp.ca.certFile} -H "Authorization: Bearer ${
          cp.token("admin")
        }" ${cp.server}/api/v1/nodes`,
        "",
        "Ctrl-C stops everything and removes the temp folder.",
      ].join("\n"),
    );
    await new Promise<void>((resolve) => {
      for (const sig of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(sig, resolve);
    });
    console.log("Stopping…");
  } finally {
    await kubelet.stop();
    await cp.stop();
  }
}

const [command = "up"] = Deno.args;
switch (command) {
  case "build": {
    const assets = await ensureControlPlaneAssets({ log: (l) => console.log(l) });
    console.log(JSON.stringify(assets, null, 2));
    break;
  }
  case "up":
    await up();
    break;
  default:
    console.error(`Unknown command "${command}": use build or up`);
    Deno.exit(2);
}
