/**
 * gamenet beside OpenKruiseGame's GameServer controller. Both write
 * `GameServer.status.networkStatus`: OpenKruiseGame copies it from the
 * Pod's `game.kruise.io/network-status` annotation (its `syncNetworkStatus`,
 * played here by `kruise_gameserver_standin.ts`), and gamenet writes it
 * too. Run together on the real control plane, the field must settle and
 * stay settled: a steady minute costs a handful of writes, not a loop; a
 * network-disabled switch settles again.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ControlPlane } from "../controlplane/control_plane.ts";
import { KubeletStandIn } from "../controlplane/kubelet_standin.ts";
import { applyManifests } from "../controlplane/apply.ts";
import { REPO_ROOT } from "../controlplane/assets.ts";
import { type KubeObject, Reflector } from "../../controller/reflector.ts";
import { NETWORK_DISABLED_LABEL, type NetworkStatus, type Pod } from "../../providers/types.ts";
import { GamenetProcess } from "./gamenet_process.ts";
import { createNamespace, eventually, listPods, networkStatus } from "./helpers.ts";
import { createWorkload } from "./workloads.ts";
import { KruiseGameServerStandIn } from "./kruise_gameserver_standin.ts";

const NS = "okg-coexist";
const REPLICAS = 6;
const STEADY_MS = 60_000;

interface GameServer extends KubeObject {
  status?: { networkStatus?: NetworkStatus };
}

Deno.test("OpenKruiseGame's GameServer controller beside gamenet: networkStatus settles and stays", async (t) => {
  await using cp = await ControlPlane.start();
  const admin = cp.client("admin");
  await applyManifests(
    admin,
    await Deno.readTextFile(join(REPO_ROOT, "tests", "fixtures", "kruise-gameserver-crd.yaml")),
  );
  await using kubelet = new KubeletStandIn(admin);
  await kubelet.addNodes(2);
  kubelet.start();
  await createNamespace(admin, NS);
  await using gamenet = await GamenetProcess.start(cp);
  await gamenet.waitReady();
  await using okg = new KruiseGameServerStandIn(admin, NS);
  okg.start();

  // Every write to a GameServer (status or not) moves its resourceVersion.
  let modifications = 0;
  const watched = new Reflector<GameServer>(admin, {
    path: `/apis/game.kruise.io/v1alpha1/namespaces/${NS}/gameservers`,
  }, {
    onUpdate: (old, gs) => {
      if (old.metadata?.resourceVersion !== gs.metadata?.resourceVersion) modifications++;
    },
  });
  watched.start();
  await watched.synced;

  const settled = (desired: (name: string) => "Ready" | "NotReady") =>
    eventually("every GameServer's networkStatus as its Pod's", async () => {
      const pods = await listPods(admin, NS, "app=gs");
      if (pods.length !== REPLICAS) throw new Error(`${pods.length} Pods`);
      for (const pod of pods) {
        const name = pod.metadata.name!;
        const fromPod = networkStatus(pod);
        const gs = watched.get(`${NS}/${name}`)?.status?.networkStatus;
        if (fromPod?.currentNetworkState !== "Ready") throw new Error(`${name}: Pod not Ready`);
        if (gs?.currentNetworkState !== "Ready" || gs.desiredNetworkState !== desired(name)) {
          throw new Error(`${name}: GameServer says ${JSON.stringify(gs)}`);
        }
        assert.deepEqual(gs.externalAddresses, fromPod.externalAddresses);
        assert.deepEqual(gs.internalAddresses, fromPod.internalAddresses);
      }
      return pods;
    });

  /** Writes to the GameServers while nothing changes, over `ms`. */
  const quiet = async (ms: number) => {
    const [before, okgBefore] = [modifications, okg.writes];
    await new Promise((r) => setTimeout(r, ms));
    return { all: modifications - before, okg: okg.writes - okgBefore };
  };

  await t.step("the GameServers of a workload's Pods settle at the Pods' status", async () => {
    await createWorkload(admin, NS, {
      kind: "StatefulSet",
      name: "gs",
      replicas: REPLICAS,
      networkType: "Kubernetes-HostPort",
      conf: { ContainerPorts: "gs:7777/UDP" },
      ports: [{ containerPort: 7777, protocol: "UDP" }],
    });
    // As OpenKruiseGame's GameServerSet controller does: one GameServer per Pod, same name.
    for (let i = 0; i < REPLICAS; i++) {
      await admin.request("POST", `/apis/game.kruise.io/v1alpha1/namespaces/${NS}/gameservers`, {
        body: {
          apiVersion: "game.kruise.io/v1alpha1",
          kind: "GameServer",
          metadata: { name: `gs-${i}` },
          spec: {},
        },
      });
    }
    await settled(() => "Ready");
  });

  await t.step("a steady minute costs a handful of writes, not a loop", async () => {
    const writes = await quiet(STEADY_MS);
    console.log(
      `steady ${
        STEADY_MS / 1000
      } s: ${writes.all} GameServer writes (${writes.okg} by the stand-in)`,
    );
    assert.ok(
      writes.all <= 3,
      `${writes.all} writes to ${REPLICAS} GameServers in a steady minute`,
    );
  });

  await t.step("network-disabled on one Pod settles again on both sides", async () => {
    await admin.request("PATCH", `/api/v1/namespaces/${NS}/pods/gs-0`, {
      contentType: "application/merge-patch+json",
      body: { metadata: { labels: { [NETWORK_DISABLED_LABEL]: "True" } } },
    });
    await settled((name) => name === "gs-0" ? "NotReady" : "Ready");
    const pod = await admin.request<Pod>("GET", `/api/v1/namespaces/${NS}/pods/gs-0`);
    assert.equal(networkStatus(pod)!.desiredNetworkState, "NotReady", "both read the label alike");
    const writes = await quiet(20_000);
    console.log(`after the switch, 20 s: ${writes.all} writes (${writes.okg} by the stand-in)`);
    assert.ok(writes.all <= 3, `${writes.all} writes after the switch settled`);
  });
  await watched.stop();
});
