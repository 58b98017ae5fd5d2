/**
 * OpenKruiseGame's `TencentCloud-CLB` GameServerSet, as its manual writes
 * it (docs/en/user_manuals/network.md, "TencentCloud-CLB": `clb-nginx`
 * in `default`, ClbIds "lb-3ip9k5kr,lb-4ia8k0yh", PortProtocols
 * "80/TCP,7777/UDP", an nginx container with no ports), plus
 * `ListenerQuota`: gamenet as its own process, the fake Tencent Cloud
 * holding the two CLBs with their quota raised one by one to
 * ListenerQuota and an account quota below it.
 *
 * No GameServerSet controller runs here: its Pods come from a StatefulSet
 * of the same name carrying the network annotations OpenKruiseGame copies
 * onto them, and one GameServer per Pod as it creates them.
 *
 * The truth is the API server and the fake: every Pod's network status is
 * exactly the manual's shape (one address per port, named by the
 * container port's number, the Pod IP inside, the CLB's VIP and listener
 * port outside) and names the fake's listener whose only target is the
 * Pod. More Pods are Ready than the account quota would allow, and no
 * CLB is asked past its own.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ControlPlane } from "../controlplane/control_plane.ts";
import { KubeletStandIn } from "../controlplane/kubelet_standin.ts";
import { applyManifests } from "../controlplane/apply.ts";
import { REPO_ROOT } from "../controlplane/assets.ts";
import { FakeTencentCloud } from "../fakes/tencentcloud/fake_tencent_cloud.ts";
import type { NetworkStatus, Pod } from "../../providers/types.ts";
import { testSeedFor } from "../test_seed.ts";
import { GamenetProcess } from "./gamenet_process.ts";
import { eventsFor, eventually, listPods, networkStatus } from "./helpers.ts";
import { createWorkload, scaleWorkload } from "./workloads.ts";

const NS = "default";
const GSS = "clb-nginx";
const LBS = ["lb-3ip9k5kr", "lb-4ia8k0yh"];
const VIPS = ["139.155.64.52", "139.155.64.53"];
/** Each CLB's own listener quota, and the conf's `ListenerQuota`. */
const LISTENER_QUOTA = 10;
/** The account's TOTAL_LISTENER_QUOTA: 2 Pods per CLB would fit, not 5. */
const ACCOUNT_QUOTA = 4;
/** 2 listeners a Pod: both CLBs full at their own quota. */
const REPLICAS = LBS.length * LISTENER_QUOTA / 2;
/** The manual's ports, `containerPort/protocol`. */
const PORTS = [{ port: 80, protocol: "TCP" }, { port: 7777, protocol: "UDP" }] as const;
/** OpenKruiseGame's default listener ports (the manual sets no MinPort/MaxPort). */
const MIN_PORT = 700;
const MAX_PORT = 750;

interface GameServer {
  metadata: { name: string };
  status?: { networkStatus?: Partial<NetworkStatus> };
}

/** A listener of the fake, with its CLB. */
interface SeenListener {
  lb: string;
  vip: string;
  name: string;
  protocol: string;
  port: number;
  targets: string[];
}

function cloudListeners(cloud: FakeTencentCloud): SeenListener[] {
  return LBS.flatMap((id) => {
    const lb = cloud.loadBalancer(id)!;
    return lb.listeners.map((l) => ({
      lb: id,
      vip: lb.vip,
      name: l.name,
      protocol: l.protocol,
      port: l.port,
      targets: l.targets.map((t) => `${t.eniIp ?? t.instanceId}:${t.port}`),
    }));
  });
}

/**
 * The manual's GameServer networkStatus addresses for `pod`, built from
 * the fake: per port, the listener named after it (`gamenet/{ns}/{pod}/
 * {containerPort}/{protocol}`); undefined when one is missing.
 */
function expectedAddresses(pod: Pod, listeners: SeenListener[]) {
  const ip = pod.status?.podIP;
  const mine = PORTS.map(({ port, protocol }) =>
    listeners.filter((l) => l.name === `gamenet/${NS}/${pod.metadata.name}/${port}/${protocol}`)
  );
  if (!ip || mine.some((m) => m.length !== 1)) return undefined;
  return {
    externalAddresses: PORTS.map(({ port, protocol }, i) => ({
      ip: mine[i][0].vip,
      ports: [{ name: String(port), port: mine[i][0].port, protocol }],
    })),
    internalAddresses: PORTS.map(({ port, protocol }) => ({
      ip,
      ports: [{ name: String(port), port, protocol }],
    })),
  };
}

Deno.test("TencentCloud-CLB: OpenKruiseGame's manual GameServerSet with ListenerQuota gets Ready in its shape", async (t) => {
  await using cp = await ControlPlane.start();
  const admin = cp.client("admin");
  await applyManifests(
    admin,
    await Deno.readTextFile(join(REPO_ROOT, "tests", "fixtures", "kruise-gameserver-crd.yaml")),
  );
  await using kubelet = new KubeletStandIn(admin);
  await kubelet.addNodes(2);
  kubelet.start();
  await using cloud = await FakeTencentCloud.start({
    loadBalancers: LBS.map((id, i) => ({ id, vip: VIPS[i], listenerQuota: LISTENER_QUOTA })),
    listenerQuota: ACCOUNT_QUOTA,
    taskDurationMs: 50,
    seed: testSeedFor("kruise tencent clb"),
  });
  await using gamenet = await GamenetProcess.start(cp, cloud.gamenetFlags(LBS));
  await gamenet.waitReady(60_000);

  const gameServers = async () =>
    (await admin.request<{ items: GameServer[] }>(
      "GET",
      `/apis/game.kruise.io/v1alpha1/namespaces/${NS}/gameservers`,
    )).items;

  try {
    await t.step(
      `${REPLICAS} Pods on 2 CLBs of ${LISTENER_QUOTA} listeners (account quota ${ACCOUNT_QUOTA}): all Ready, in the manual's shape`,
      async () => {
        // The GameServerSet's network and gameServerTemplate, as its controller puts them on Pods.
        await createWorkload(admin, NS, {
          kind: "StatefulSet",
          name: GSS,
          replicas: REPLICAS,
          networkType: "TencentCloud-CLB",
          conf: {
            ClbIds: LBS.join(","),
            PortProtocols: "80/TCP,7777/UDP",
            ListenerQuota: String(LISTENER_QUOTA),
          },
          container: "nginx",
          ports: [],
          labels: { "game.kruise.io/owner-gss": GSS },
          // The manual's container: image nginx, no ports declared.
          containerFields: { image: "nginx", ports: undefined },
        });
        for (let i = 0; i < REPLICAS; i++) {
          await admin.request(
            "POST",
            `/apis/game.kruise.io/v1alpha1/namespaces/${NS}/gameservers`,
            {
              body: {
                apiVersion: "game.kruise.io/v1alpha1",
                kind: "GameServer",
                metadata: { name: `${GSS}-${i}`, labels: { "game.kruise.io/owner-gss": GSS } },
                spec: {},
              },
            },
          );
        }
        const t0 = performance.now();
        const pods = await eventually(
          `${REPLICAS} Pods Ready, matching the fake`,
          async () => {
            const pods = await listPods(admin, NS, `app=${GSS}`);
            const ready = pods.filter((p) => networkStatus(p)?.currentNetworkState === "Ready");
            const listeners = cloudListeners(cloud);
            if (ready.length < REPLICAS || listeners.length < REPLICAS * 2) {
              throw new Error(`${ready.length} Pods Ready, ${listeners.length} listeners`);
            }
            return pods;
          },
          60_000,
          500,
        );
        console.log(`${REPLICAS} Ready after ${Math.round(performance.now() - t0)} ms`);
        const listeners = cloudListeners(cloud);
        assert.equal(listeners.length, REPLICAS * 2);
        for (const lb of LBS) {
          assert.equal(
            listeners.filter((l) => l.lb === lb).length,
            LISTENER_QUOTA,
            `${lb} holds its own quota of listeners`,
          );
        }
        const places = new Set(listeners.map((l) => `${l.lb} ${l.port}/${l.protocol}`));
        assert.equal(places.size, listeners.length, "no listener port twice on one CLB");
        for (const pod of pods) {
          const name = pod.metadata.name!;
          const status = networkStatus(pod)!;
          const expected = expectedAddresses(pod, listeners);
          assert.ok(expected, `${name}: one listener per port in the fake`);
          // Exactly the manual's GameServer networkStatus, from the Pod's annotation.
          assert.deepEqual(
            {
              networkType: status.networkType,
              currentNetworkState: status.currentNetworkState,
              desiredNetworkState: status.desiredNetworkState,
              externalAddresses: status.externalAddresses,
              internalAddresses: status.internalAddresses,
            },
            {
              networkType: "TencentCloud-CLB",
              currentNetworkState: "Ready",
              desiredNetworkState: "Ready",
              ...expected,
            },
            name,
          );
          // Both ports on one CLB, its listeners targeting only the Pod, in OKG's default range.
          const vip = expected.externalAddresses[0].ip;
          assert.ok(expected.externalAddresses.every((a) => a.ip === vip), `${name}: one CLB`);
          for (const { port, protocol } of PORTS) {
            const l = listeners.find((l) =>
              l.name === `gamenet/${NS}/${name}/${port}/${protocol}`
            )!;
            assert.deepEqual(
              l.targets,
              [`${pod.status!.podIP}:${port}`],
              `${name} ${port}/${protocol}`,
            );
            assert.equal(l.protocol, protocol);
            assert.ok(l.port >= MIN_PORT && l.port <= MAX_PORT, `${name}: listener port ${l.port}`);
          }
        }
        // The GameServers carry the same addresses.
        await eventually(
          "every GameServer's networkStatus as its Pod's",
          async () => {
            const byName = new Map((await gameServers()).map((g) => [g.metadata.name, g]));
            for (const pod of pods) {
              const gs = byName.get(pod.metadata.name!)?.status?.networkStatus;
              const expected = expectedAddresses(pod, listeners)!;
              assert.deepEqual(
                {
                  externalAddresses: gs?.externalAddresses,
                  internalAddresses: gs?.internalAddresses,
                },
                expected,
                pod.metadata.name,
              );
              assert.equal(gs?.currentNetworkState, "Ready");
            }
            return true;
          },
          30_000,
          500,
        );
      },
    );

    await t.step(
      "one Pod more: NotReady with ClbPortsExhausted, no CLB asked past its quota",
      async () => {
        await scaleWorkload(admin, NS, "StatefulSet", GSS, REPLICAS + 1);
        const extra = `${GSS}-${REPLICAS}`;
        const event = await eventually(
          `${extra} NotReady with ClbPortsExhausted`,
          async () => {
            const pod = (await listPods(admin, NS, `app=${GSS}`)).find((p) =>
              p.metadata.name === extra
            );
            const event = (await eventsFor(admin, NS, extra)).find((e) =>
              e.reason === "ClbPortsExhausted"
            );
            if (
              pod && networkStatus(pod)?.currentNetworkState === "NotReady" && event
            ) return event;
            throw new Error(`${extra}: ${pod && JSON.stringify(networkStatus(pod))}`);
          },
          30_000,
          500,
        );
        console.log(`${extra}: ${event.reason}: ${event.message}`);
        const listeners = cloudListeners(cloud);
        assert.equal(
          listeners.length,
          REPLICAS * 2,
          "the fake still holds the first Pods' listeners",
        );
        assert.deepEqual(
          listeners.filter((l) => l.name.includes(`/${extra}/`)),
          [],
          `${extra} holds none`,
        );
        const stats = cloud.stats();
        console.log(`cloud ${JSON.stringify(stats)}`);
        assert.equal(stats.errors.LimitExceeded ?? 0, 0, "no CreateListener past a CLB's quota");
      },
    );
  } catch (err) {
    console.error(await gamenet.logTail(40));
    throw err;
  }
});
