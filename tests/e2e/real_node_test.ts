/**
 * Players reach the addresses gamenet writes: game servers on a real node
 * (kubelet, containerd, runc, CNI `portmap`, kube-proxy; see
 * `tests/controlplane/real_node.ts`) behind gamenet's webhook and
 * controller, and a player (`player.ts`) that sends to every external
 * address and port in each Pod's `game.kruise.io/network-status`, over IPv4
 * and IPv6. Every answer must come from that Pod, at the container port
 * the status gives as its internal port; no address may answer for two
 * Pods; and all of it must hold again after gamenet is SIGKILLed and
 * restarted. The node, stopped, must leave nothing on the machine.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ControlPlane } from "../controlplane/control_plane.ts";
import { DUAL_STACK_SERVICE_RANGE, machineHasIpv6, RealNode } from "../controlplane/real_node.ts";
import { leftSince, machineFootprint } from "../controlplane/machine_footprint.ts";
import {
  NETWORK_CONF_ANNOTATION,
  NETWORK_DISABLED_LABEL,
  NETWORK_TYPE_ANNOTATION,
  type NetworkStatus,
  type Pod,
} from "../../providers/types.ts";
import { GamenetProcess } from "./gamenet_process.ts";
import { createNamespace, eventually, listPods, networkStatus } from "./helpers.ts";
import { addressText, type Play, playThrough } from "./player.ts";
import { skipRealNode } from "./real_node_skip.ts";
import { gameServerContainer } from "./game_server_container.ts";

const NS = "real-node-e2e";
/** A small default range, so that Passthrough game servers can listen on all of it. */
const RANGE = "9000-9029";
const POOLS = `hostPort:
  ranges:
    default: ${RANGE}
`;

interface GameServer {
  name: string;
  type: string;
  conf: Record<string, string>;
  ports: { containerPort: number; protocol: "TCP" | "UDP" }[];
  /** Where the game server listens (GAME_PORTS). */
  listen: string;
}

const GAME_SERVERS: GameServer[] = [
  ...["hp-tcp-0", "hp-tcp-1"].map((name) => ({
    name,
    type: "Kubernetes-HostPort",
    conf: { ContainerPorts: "gs:7777/TCP" },
    ports: [{ containerPort: 7777, protocol: "TCP" as const }],
    listen: "7777",
  })),
  ...["hp-udp-0", "hp-udp-1"].map((name) => ({
    name,
    type: "Kubernetes-HostPort",
    conf: { ContainerPorts: "gs:7777/UDP" },
    ports: [{ containerPort: 7777, protocol: "UDP" as const }],
    listen: "7777",
  })),
  {
    name: "hp-both-0",
    type: "Kubernetes-HostPort",
    conf: { ContainerPorts: "gs:7777/TCPUDP" },
    ports: [{ containerPort: 7777, protocol: "TCP" }],
    listen: "7777",
  },
  {
    name: "hp-mixed-0",
    type: "HostPortNetwork",
    conf: { ContainerPorts: "gs:7777/UDP,7778/TCP" },
    ports: [{ containerPort: 7777, protocol: "UDP" }, { containerPort: 7778, protocol: "TCP" }],
    listen: "7777,7778",
  },
  // Passthrough moves the container port to the host port gamenet picks:
  // the server listens on the whole range and says where it was reached.
  ...["hp-pass-0", "hp-pass-1"].map((name) => ({
    name,
    type: "Kubernetes-HostPort",
    conf: { ContainerPorts: "gs:7777/UDP", PortPolicy: "Passthrough" },
    ports: [{ containerPort: 7777, protocol: "UDP" as const }],
    listen: RANGE,
  })),
  // One NodePort Service each, through kube-proxy on the node's addresses.
  ...["np-0", "np-1"].map((name) => ({
    name,
    type: "Kubernetes-NodePort",
    conf: { PortProtocols: "7777/UDP,7778/TCPUDP" },
    ports: [
      { containerPort: 7777, protocol: "UDP" as const },
      { containerPort: 7778, protocol: "TCP" as const },
      { containerPort: 7778, protocol: "UDP" as const },
    ],
    listen: "7777,7778",
  })),
  ...["none-0", "none-1"].map((name) => ({
    name,
    type: "Kubernetes-None",
    conf: { ContainerPorts: "gs:7777/TCPUDP" },
    ports: [{ containerPort: 7777, protocol: "UDP" as const }, {
      containerPort: 7777,
      protocol: "TCP" as const,
    }],
    listen: "7777",
  })),
];

function gameServerPod(gs: GameServer): Pod {
  return {
    metadata: {
      name: gs.name,
      labels: { app: "real-node-gs" },
      annotations: {
        [NETWORK_TYPE_ANNOTATION]: gs.type,
        [NETWORK_CONF_ANNOTATION]: JSON.stringify(
          Object.entries(gs.conf).map(([name, value]) => ({ name, value })),
        ),
      },
    },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [{ name: "gs", ports: gs.ports, ...gameServerContainer(gs.listen) }],
    },
  } as unknown as Pod;
}

function podReady(pod: Pod): boolean {
  const conditions = (pod.status as { conditions?: { type: string; status: string }[] })
    ?.conditions;
  return conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/** Waits until every named Pod is Ready and gamenet's status says Ready; returns the statuses. */
async function waitAllReady(
  admin: ReturnType<ControlPlane["client"]>,
  names: string[],
): Promise<Map<string, NetworkStatus>> {
  return await eventually(
    `${names.length} game servers Ready in gamenet's status`,
    async () => {
      const pods = await listPods(admin, NS, "app=real-node-gs");
      const ready = new Map<string, NetworkStatus>();
      for (const pod of pods) {
        const status = networkStatus(pod);
        if (status?.currentNetworkState === "Ready" && podReady(pod)) {
          ready.set(pod.metadata.name!, status);
        }
      }
      return names.every((n) => ready.has(n)) ? ready : undefined;
    },
    120_000,
    500,
  );
}

/**
 * Plays every address of every Pod and checks each answer: from that Pod,
 * at the container port its status gives as the port's internal one.
 * Returns every address with the Pod that answered there.
 */
async function playAll(statuses: Map<string, NetworkStatus>): Promise<Map<string, string>> {
  const byAddress = new Map<string, string>();
  const failures: string[] = [];
  const results = await Promise.all(
    [...statuses].map(async ([pod, status]) => ({ pod, status, plays: await playThrough(status) })),
  );
  for (const { pod, status, plays } of results) {
    assert.ok(plays.length > 0, `${pod}: its status has external addresses to play`);
    const internal = new Map(
      status.internalAddresses.flatMap((a) => a.ports.map((p) => [`${p.name}/${p.protocol}`, p])),
    );
    for (const play of plays) {
      const where = `${pod} at ${addressText(play)}`;
      if (!play.answer) {
        failures.push(`${where}: ${play.error}`);
        continue;
      }
      if (play.answer.pod !== pod) failures.push(`${where}: answered by ${play.answer.pod}`);
      const expected = internal.get(`${play.name}/${play.protocol}`)?.port;
      if (play.answer.port !== expected) {
        failures.push(
          `${where}: reached container port ${play.answer.port}, status says ${expected}`,
        );
      }
      const key = addressText(play);
      const other = byAddress.get(key);
      if (other && other !== pod) failures.push(`${key} is in the status of ${other} and ${pod}`);
      byAddress.set(key, pod);
    }
  }
  assert.deepEqual(failures, [], "every address in every status answers, from its own Pod");
  console.log(`  ${byAddress.size} addresses of ${statuses.size} game servers answered`);
  return byAddress;
}

function families(plays: Play[] | Map<string, string>): Set<string> {
  const keys = plays instanceof Map ? [...plays.keys()] : plays.map(addressText);
  return new Set(keys.map((k) => k.startsWith("[") ? "IPv6" : "IPv4"));
}

Deno.test({
  name: "real node: every Ready game server answers a player at every address in its status",
  ignore: skipRealNode("real node: players reach every address"),
  fn: async (t) => {
    const before = await machineFootprint();
    await using cp = await ControlPlane.start({
      apiServerArgs: machineHasIpv6()
        ? [`--service-cluster-ip-range=${DUAL_STACK_SERVICE_RANGE}`]
        : [],
    });
    const admin = cp.client("admin");
    const node = await RealNode.start(cp);
    try {
      await createNamespace(admin, NS);
      const poolsFile = join(cp.dir, "pools.yaml");
      await Deno.writeTextFile(poolsFile, POOLS);
      let gamenet = await GamenetProcess.start(cp, { args: [`--config=${poolsFile}`] });
      try {
        await gamenet.waitReady();
        for (const gs of GAME_SERVERS) {
          await admin.request("POST", `/api/v1/namespaces/${NS}/pods`, { body: gameServerPod(gs) });
        }
        const names = GAME_SERVERS.map((g) => g.name);
        let statuses = await waitAllReady(admin, names);

        await t.step(
          "HostPort (TCP, UDP, TCPUDP, Passthrough), NodePort and None answer",
          async () => {
            const byAddress = await playAll(statuses);
            const expectedFamilies = node.addresses.length > 1 ? ["IPv4", "IPv6"] : ["IPv4"];
            assert.deepEqual([...families(byAddress)].sort(), expectedFamilies);
            for (const name of ["hp-pass-0", "hp-pass-1"]) {
              const s = statuses.get(name)!;
              assert.equal(
                s.externalAddresses[0].ports[0].port,
                s.internalAddresses[0].ports[0].port,
                `${name}: Passthrough's container port is its host port`,
              );
            }
          },
        );

        await t.step(
          "network-disabled: NodePort stops answering and answers again after",
          async () => {
            const name = "np-0";
            const status = statuses.get(name)!;
            const setDisabled = (value: string | null) =>
              admin.request("PATCH", `/api/v1/namespaces/${NS}/pods/${name}`, {
                body: { metadata: { labels: { [NETWORK_DISABLED_LABEL]: value } } },
                contentType: "application/merge-patch+json",
              });
            await setDisabled("true");
            await eventually("np-0 NotReady in its status", async () => {
              const pod = await admin.request<Pod>("GET", `/api/v1/namespaces/${NS}/pods/${name}`);
              return networkStatus(pod)?.currentNetworkState === "NotReady" ? pod : undefined;
            });
            // kube-proxy takes the endpoint away within its sync: then nothing answers.
            const silent = await eventually(
              "no answer at any of np-0's addresses",
              async () => {
                const plays = await playThrough(status, { timeoutMs: 1_000 });
                return plays.every((p) => !p.answer) ? plays : undefined;
              },
              30_000,
              500,
            );
            assert.ok(silent.length >= 3, `${silent.length} addresses tried`);
            await setDisabled(null);
            await eventually(
              "np-0 answering again at every address",
              async () => {
                const plays = await playThrough(status, { timeoutMs: 1_000 });
                return plays.every((p) => p.answer?.pod === name) ? plays : undefined;
              },
              30_000,
              500,
            );
            statuses = await waitAllReady(admin, names);
          },
        );

        await t.step(
          "network-disabled: HostPort and None say traffic still flows, and it does",
          async () => {
            const disabled = ["hp-udp-0", "none-0"];
            for (const name of disabled) {
              await admin.request("PATCH", `/api/v1/namespaces/${NS}/pods/${name}`, {
                body: { metadata: { labels: { [NETWORK_DISABLED_LABEL]: "true" } } },
                contentType: "application/merge-patch+json",
              });
            }
            const seen = await eventually(
              "desired NotReady in the disabled Pods' status",
              async () => {
                const pods = await listPods(admin, NS, "app=real-node-gs");
                const wanted = pods.filter((p) => disabled.includes(p.metadata.name!));
                return wanted.every((p) => networkStatus(p)?.desiredNetworkState === "NotReady")
                  ? wanted
                  : undefined;
              },
            );
            for (const pod of seen) {
              const status = networkStatus(pod)!;
              // Neither type can take a running Pod's host port or IP away:
              // the status says it is still reachable, and the player agrees.
              assert.equal(status.currentNetworkState, "Ready", pod.metadata.name);
              const plays = await playThrough(status);
              assert.ok(
                plays.every((p) => p.answer?.pod === pod.metadata.name),
                `${pod.metadata.name}: ${JSON.stringify(plays)}`,
              );
            }
            for (const name of disabled) {
              await admin.request("PATCH", `/api/v1/namespaces/${NS}/pods/${name}`, {
                body: { metadata: { labels: { [NETWORK_DISABLED_LABEL]: null } } },
                contentType: "application/merge-patch+json",
              });
            }
            await eventually("desired Ready again", async () => {
              const pods = await listPods(admin, NS, "app=real-node-gs");
              return pods.every((p) => networkStatus(p)?.desiredNetworkState === "Ready")
                ? true
                : undefined;
            });
          },
        );

        await t.step(
          "after SIGKILL and restart, every Pod still answers where it did",
          async () => {
            const addressesBefore = new Map(
              [...statuses].map(([n, s]) => [n, JSON.stringify(s.externalAddresses)]),
            );
            const webhookPort = gamenet.webhookPort;
            await gamenet.kill("SIGKILL");
            gamenet = await GamenetProcess.start(cp, {
              args: [`--config=${poolsFile}`],
              webhookPort,
            });
            await gamenet.waitReady();
            // Two more game servers, admitted by the restarted process: they
            // must get addresses no running Pod has.
            const more: GameServer[] = ["hp-udp-2", "hp-pass-2"].map((name, i) => ({
              ...GAME_SERVERS.find((g) => g.name === (i === 0 ? "hp-udp-0" : "hp-pass-0"))!,
              name,
            }));
            for (const gs of more) {
              await admin.request("POST", `/api/v1/namespaces/${NS}/pods`, {
                body: gameServerPod(gs),
              });
            }
            statuses = await waitAllReady(admin, [...names, ...more.map((g) => g.name)]);
            for (const [name, addresses] of addressesBefore) {
              assert.equal(
                JSON.stringify(statuses.get(name)!.externalAddresses),
                addresses,
                `${name}: the same addresses after the restart`,
              );
            }
            const byAddress = await playAll(statuses);
            assert.equal(new Set(byAddress.values()).size, names.length + more.length);
          },
        );
      } finally {
        await gamenet.kill("SIGTERM");
      }
    } finally {
      await node.stop();
    }

    await t.step("the stopped node left nothing on the machine", async () => {
      assert.deepEqual(leftSince(before, await machineFootprint()), []);
    });
  },
});
