/**
 * `deno task demo`: gamenet working on a real (local) control plane.
 *
 * Starts etcd, kube-apiserver, kube-scheduler and kube-controller-manager
 * on loopback, 3 fake dual-stack nodes played by the kubelet stand-in,
 * gamenet itself (`main.ts`, with only the RBAC role `deploy/` ships, its
 * admission webhook registered), and two StatefulSets of sample game
 * servers: `hostport-gs` (`Kubernetes-HostPort`, UDP 7777 + TCP 7778) and
 * `direct-gs` (`Kubernetes-None`). Prints the allocations table and how to
 * reach everything, then stays up until Ctrl-C (or SIGINT/SIGTERM to its
 * process, or the exit of the command that started it), which stops it
 * all and removes the temp folder.
 *
 * With `--real-node` (root; Debian's containerd, runc,
 * containernetworking-plugins, iptables) the game servers run on a real
 * node instead (`controlplane/real_node.ts`): real containers that answer
 * players, and the demo prints the `nc` commands that talk to them.
 *
 * Environment: `GAMENET_DEMO_HTTP_PORT` (default 8080) and
 * `GAMENET_DEMO_DEBUG_PORT` (default 8082: `/ui`, `/allocations`); a free port is
 * taken when one is busy.
 *
 * @example
 * ```sh
 * deno task demo
 * curl 'http://127.0.0.1:8082/allocations?format=table'
 * sudo deno task demo --real-node
 * ```
 * @module
 */

import { ControlPlane, freePort } from "./controlplane/control_plane.ts";
import { KubeletStandIn } from "./controlplane/kubelet_standin.ts";
import { RealNode, realNodeMissing } from "./controlplane/real_node.ts";
import { GamenetProcess } from "./e2e/gamenet_process.ts";
import { createNamespace, eventually, listPods, networkStatus } from "./e2e/helpers.ts";
import { createWorkload } from "./e2e/workloads.ts";
import { gameServerContainer } from "./e2e/game_server_container.ts";
import type { Pod } from "../providers/types.ts";
import { watchLaunchers } from "./launcher_watch.ts";

const NAMESPACE = "demo";

function portOrFree(wanted: number): number {
  try {
    Deno.listen({ hostname: "127.0.0.1", port: wanted }).close();
    return wanted;
  } catch {
    return freePort();
  }
}

/** `nc` commands that talk to each address of `pod`'s status (one per protocol and family). */
function playerCommands(pod: Pod): string[] {
  const status = networkStatus(pod);
  return (status?.externalAddresses ?? []).flatMap((a) =>
    a.ports.map((p) =>
      (p.protocol === "UDP"
        ? `  echo hi | nc -u -w1 ${a.ip} ${p.port}`
        : `  nc -w1 ${a.ip} ${p.port} </dev/null`) +
      `   # ${pod.metadata.name} ${p.name}/${p.protocol}`
    )
  );
}

async function demo(realNode: boolean): Promise<void> {
  const started = Date.now();
  let stop!: () => void;
  const stopping = new Promise<void>((resolve) => stop = resolve);
  for (const sig of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(sig, () => stop());
  // A signal sent to npx alone never gets here (see launcher_watch.ts); its exit does.
  const launchers = watchLaunchers(() => {
    console.log("The command that started the demo exited: stopping.");
    stop();
  });

  console.log("Starting the control plane (the first run builds it: about 10 minutes)…");
  await using cp = await ControlPlane.start({ log: (l) => console.log(`  ${l}`) });
  const admin = cp.client("admin");
  await using kubelet = new KubeletStandIn(admin, { log: (l) => console.error(l) });
  let node: RealNode | undefined;
  if (realNode) {
    const missing = realNodeMissing();
    if (missing.length > 0) throw new Error(`--real-node needs ${missing.join("; ")}`);
    console.log("Starting a real node (kubelet, containerd, kube-proxy)…");
    node = await RealNode.start(cp, { log: (l) => console.log(`  ${l}`) });
  } else {
    await kubelet.addNodes(3, { prefix: "node", ipFamilies: "dual" });
    kubelet.start();
  }
  await using _node = { [Symbol.asyncDispose]: async () => await node?.stop() };
  await createNamespace(admin, NAMESPACE);

  console.log("Starting gamenet…");
  const httpPort = portOrFree(Number(Deno.env.get("GAMENET_DEMO_HTTP_PORT") ?? 8080));
  const debugPort = portOrFree(Number(Deno.env.get("GAMENET_DEMO_DEBUG_PORT") ?? 8082));
  await using gamenet = await GamenetProcess.start(cp, { httpPort, debugPort });
  await gamenet.waitReady();

  await createWorkload(admin, NAMESPACE, {
    kind: "StatefulSet",
    name: "hostport-gs",
    replicas: 3,
    networkType: "Kubernetes-HostPort",
    conf: { ContainerPorts: "gs:7777/UDP,7778/TCP" },
    ports: [{ containerPort: 7777, protocol: "UDP" }, { containerPort: 7778, protocol: "TCP" }],
    containerFields: node ? gameServerContainer("7777,7778") : {},
  });
  await createWorkload(admin, NAMESPACE, {
    kind: "StatefulSet",
    name: "direct-gs",
    replicas: 2,
    networkType: "Kubernetes-None",
    conf: {},
    ports: [{ containerPort: 7777, protocol: "UDP" }],
    containerFields: node ? gameServerContainer("7777") : {},
  });
  const pods = await eventually("5 game servers Ready", async () => {
    const pods = await listPods(admin, NAMESPACE);
    const ready = pods.filter((p) => networkStatus(p)?.currentNetworkState === "Ready");
    if (ready.length === 5) return pods;
    throw new Error(`${ready.length} of ${pods.length} Ready`);
  }, 120_000);

  const table = await (await gamenet.debugGet("/allocations?format=table")).text();
  const sample = pods.find((p) => p.metadata.name === "hostport-gs-0") ?? pods[0];
  const direct = pods.find((p) => p.metadata.name === "direct-gs-0");
  const talk = node
    ? [
      `Talk to the game servers as a player (each answers with its name and port):`,
      ...playerCommands(sample),
      ...(direct ? playerCommands(direct) : []),
      "",
    ]
    : [
      "Fake nodes: run `sudo deno task demo --real-node` for game servers a player can reach.",
      "",
    ];
  const http = `http://127.0.0.1:${gamenet.httpPort}`;
  const debug = `http://127.0.0.1:${gamenet.debugPort}`;
  console.log(
    [
      "",
      `gamenet is up in ${((Date.now() - started) / 1000).toFixed(1)} s; 5 game servers Ready.`,
      "",
      table.trimEnd(),
      "",
      `${sample.metadata.name}'s game.kruise.io/network-status:`,
      JSON.stringify(networkStatus(sample), null, 2),
      "",
      ...talk,
      `  open ${debug}/ui   # the live page of every pool and game server`,
      `  curl '${debug}/allocations?format=table'`,
      `  curl -N ${debug}/allocations/stream   # the same, live`,
      `  curl '${debug}/allocations?namespace=${NAMESPACE}&type=Kubernetes-None'`,
      `  curl ${http}/metrics`,
      `  export KUBECONFIG=${cp.kubeconfigPath("admin")}`,
      `  kubectl -n ${NAMESPACE} scale statefulset hostport-gs --replicas=10   # with your kubectl`,
      `  logs: ${cp.dir}/*.log (gamenet: ${gamenet.logFile})`,
      "",
      "Ctrl-C stops everything and removes the temp folder.",
    ].join("\n"),
  );
  await stopping;
  launchers.stop();
  console.log("Stopping…");
}

if (import.meta.main) await demo(Deno.args.includes("--real-node"));
