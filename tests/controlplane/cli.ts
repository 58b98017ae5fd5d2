/**
 * The control plane from a terminal.
 *
 * - `build`: build (or find in the cache) the binaries, the real node's
 *   included, and print where.
 * - `up`: start the control plane with 3 fake nodes and the kubelet
 *   stand-in, print how to reach it, stay up until Ctrl-C (`deno task
 *   demo`, in `tests/demo.ts`, adds gamenet and sample game servers).
 * - `up --real-node`: the same with a real node (kubelet, containerd,
 *   kube-proxy on this machine; root) instead of the stand-in.
 *
 * @example
 * ```sh
 * deno task controlplane build
 * deno task controlplane up
 * sudo deno task controlplane up --real-node
 * ```
 * @module
 */

import { ensureControlPlaneAssets, ensureNodeAssets } from "./assets.ts";
import { ControlPlane } from "./control_plane.ts";
import { KubeletStandIn } from "./kubelet_standin.ts";
import { RealNode } from "./real_node.ts";

async function up(realNode: boolean): Promise<void> {
  const started = Date.now();
  const cp = await ControlPlane.start({ log: (l) => console.log(l) });
  const kubelet = new KubeletStandIn(cp.client("admin"), { log: (l) => console.error(l) });
  let node: RealNode | undefined;
  try {
    let nodes: string;
    if (realNode) {
      node = await RealNode.start(cp, { log: (l) => console.log(l) });
      nodes = `${node.name} (a real node: ${node.addresses.join(", ")}; logs in ${node.dir})`;
    } else {
      await kubelet.addNodes(3, { prefix: "node" });
      kubelet.start();
      nodes = `${kubelet.nodeNames.join(", ")} (kubelet stand-in: Pods get an IP and Ready)`;
    }
    const version = await cp.client("admin").request<{ gitVersion: string }>("GET", "/version");
    console.log(
      [
        "",
        `Kubernetes ${version.gitVersion} is up in ${((Date.now() - started) / 1000).toFixed(1)} s`,
        `  API server:  ${cp.server}`,
        `  nodes:       ${nodes}`,
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
    await node?.stop();
    await kubelet.stop();
    await cp.stop();
  }
}

const [command = "up", ...flags] = Deno.args;
switch (command) {
  case "build": {
    const log = (l: string) => console.log(l);
    const assets = await ensureControlPlaneAssets({ log });
    const node = await ensureNodeAssets({ log });
    console.log(JSON.stringify({ ...assets, node }, null, 2));
    break;
  }
  case "up":
    await up(flags.includes("--real-node"));
    break;
  default:
    console.error(`Unknown command "${command}": use build, up or up --real-node`);
    Deno.exit(2);
}
