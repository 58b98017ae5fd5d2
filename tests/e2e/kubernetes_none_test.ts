/**
 * The controller core end to end with the Kubernetes-None type, running as
 * the `gamenet` identity (only its shipped RBAC): status on Pods from a
 * StatefulSet, dual-stack addresses, the OpenKruiseGame GameServer status,
 * the Agones GameServer annotation, and bad conf turned into an Event and
 * NotReady.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ControlPlane } from "../controlplane/control_plane.ts";
import { KubeletStandIn } from "../controlplane/kubelet_standin.ts";
import { applyManifests } from "../controlplane/apply.ts";
import { REPO_ROOT } from "../controlplane/assets.ts";
import { Manager } from "../../controller/manager.ts";
import { ProviderRegistry } from "../../providers/registry.ts";
import { createNoneProvider } from "../../providers/kubernetes_none.ts";
import {
  NETWORK_CONF_ANNOTATION,
  NETWORK_TYPE_ANNOTATION,
  type Pod,
} from "../../providers/types.ts";
import { createNamespace, eventsFor, eventually, listPods, networkStatus } from "./helpers.ts";

const NS = "none-e2e";

Deno.test("Kubernetes-None: statuses on Pods, GameServers and Agones GameServers; bad conf reported", async (t) => {
  await using cp = await ControlPlane.start();
  const admin = cp.client("admin");
  for (const crd of ["kruise-gameserver-crd.yaml", "agones-gameserver-crd.yaml"]) {
    await applyManifests(admin, await Deno.readTextFile(join(REPO_ROOT, "tests", "fixtures", crd)));
  }
  await using kubelet = new KubeletStandIn(admin);
  await kubelet.addNode({ name: "v4-node" });
  await kubelet.addNode({ name: "dual-node", ipFamilies: "dual" });
  kubelet.start();
  await createNamespace(admin, NS);
  const logs: string[] = [];
  const manager = new Manager({
    client: cp.client("gamenet"),
    registry: new ProviderRegistry([createNoneProvider()]),
    settings: {
      workers: 4,
      resyncMs: 0,
      admissionGraceMs: 60_000,
      leaderElect: true,
      namespace: "gamenet-system",
      leaseName: "gamenet",
      identity: "e2e-0",
    },
    log: (m) => logs.push(m),
  });
  try {
    await manager.start();
    await eventually("the manager to be ready", () => manager.readiness.ready || undefined, 30_000);

    await t.step("a StatefulSet's Pods get their Pod IP and ports as Ready status", async () => {
      await admin.request("POST", `/apis/apps/v1/namespaces/${NS}/statefulsets`, {
        body: {
          metadata: { name: "gs" },
          spec: {
            replicas: 4,
            serviceName: "gs",
            podManagementPolicy: "Parallel",
            selector: { matchLabels: { app: "gs" } },
            template: {
              metadata: {
                labels: { app: "gs" },
                annotations: {
                  [NETWORK_TYPE_ANNOTATION]: "Kubernetes-None",
                  [NETWORK_CONF_ANNOTATION]: JSON.stringify([{
                    name: "ContainerPorts",
                    value: "gameserver:7777/UDP",
                  }]),
                },
              },
              spec: { containers: [{ name: "gameserver", image: "example.invalid/gs:1" }] },
            },
          },
        },
      });
      const pods = await eventually("4 Pods Ready", async () => {
        const pods = await listPods(admin, NS, "app=gs");
        const ready = pods.filter((p) => networkStatus(p)?.currentNetworkState === "Ready");
        return ready.length === 4 ? ready : undefined;
      });
      for (const pod of pods) {
        const s = networkStatus(pod)!;
        assert.equal(s.networkType, "Kubernetes-None");
        assert.equal(s.desiredNetworkState, "Ready");
        const ips = pod.status!.podIPs!.map((p) => p.ip);
        assert.deepEqual(s.externalAddresses.map((a) => a.ip).sort(), [...ips].sort());
        assert.deepEqual(s.internalAddresses, s.externalAddresses);
        for (const a of s.externalAddresses) {
          assert.deepEqual(a.ports, [{ name: "gameserver-7777", port: 7777, protocol: "UDP" }]);
        }
        assert.match(s.createTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        if (pod.spec!.nodeName === "dual-node") assert.equal(s.externalAddresses.length, 2);
      }
    });

    await t.step(
      "an OpenKruiseGame GameServer of the same name gets status.networkStatus",
      async () => {
        await admin.request("POST", `/apis/game.kruise.io/v1alpha1/namespaces/${NS}/gameservers`, {
          body: {
            apiVersion: "game.kruise.io/v1alpha1",
            kind: "GameServer",
            metadata: { name: "gs-0" },
            spec: {},
          },
        });
        const gs = await eventually("GameServer gs-0 networkStatus", async () => {
          const gs = await admin.request<{ status?: { networkStatus?: unknown } }>(
            "GET",
            `/apis/game.kruise.io/v1alpha1/namespaces/${NS}/gameservers/gs-0`,
          );
          return gs.status?.networkStatus ? gs : undefined;
        });
        const pod = await admin.request<Pod>("GET", `/api/v1/namespaces/${NS}/pods/gs-0`);
        assert.deepEqual(gs.status!.networkStatus, networkStatus(pod));
      },
    );

    await t.step(
      "the Agones GameServer a Pod's label names gets the status annotation",
      async () => {
        await admin.request("POST", `/apis/agones.dev/v1/namespaces/${NS}/gameservers`, {
          body: {
            apiVersion: "agones.dev/v1",
            kind: "GameServer",
            metadata: { name: "direct-1" },
            spec: {},
          },
        });
        await admin.request("POST", `/api/v1/namespaces/${NS}/pods`, {
          body: {
            metadata: {
              name: "direct-1",
              labels: { "agones.dev/gameserver": "direct-1" },
              annotations: { [NETWORK_TYPE_ANNOTATION]: "Direct" },
            },
            spec: {
              containers: [{
                name: "gameserver",
                image: "x",
                ports: [{ containerPort: 7654, protocol: "UDP" }],
              }],
            },
          },
        });
        const ags = await eventually("the Agones annotation", async () => {
          const gs = await admin.request<{ metadata: { annotations?: Record<string, string> } }>(
            "GET",
            `/apis/agones.dev/v1/namespaces/${NS}/gameservers/direct-1`,
          );
          const raw = gs.metadata.annotations?.["game.kruise.io/network-status"];
          return raw && JSON.parse(raw).currentNetworkState === "Ready"
            ? JSON.parse(raw)
            : undefined;
        });
        assert.equal(ags.externalAddresses[0].ports[0].port, 7654);
      },
    );

    await t.step(
      "malformed conf gives a Warning Event and NotReady; other Pods are unaffected",
      async () => {
        await admin.request("POST", `/api/v1/namespaces/${NS}/pods`, {
          body: {
            metadata: {
              name: "broken",
              annotations: {
                [NETWORK_TYPE_ANNOTATION]: "Kubernetes-None",
                [NETWORK_CONF_ANNOTATION]: "[{oops",
              },
            },
            spec: {
              containers: [{ name: "gameserver", image: "x", ports: [{ containerPort: 1 }] }],
            },
          },
        });
        const events = await eventually("an InvalidNetworkConf Event", async () => {
          const ev = await eventsFor(admin, NS, "broken");
          return ev.some((e) => e.reason === "InvalidNetworkConf") ? ev : undefined;
        });
        const ev = events.find((e) => e.reason === "InvalidNetworkConf")!;
        assert.equal(ev.type, "Warning");
        assert.match(
          ev.message,
          /none-e2e\/broken: game.kruise.io\/network-conf is not valid JSON/,
        );
        const pod = await eventually("broken NotReady", async () => {
          const p = await admin.request<Pod>("GET", `/api/v1/namespaces/${NS}/pods/broken`);
          return networkStatus(p)?.currentNetworkState === "NotReady" ? p : undefined;
        });
        assert.deepEqual(networkStatus(pod)!.externalAddresses, []);
        const others = await listPods(admin, NS, "app=gs");
        assert.ok(others.every((p) => networkStatus(p)?.currentNetworkState === "Ready"));
      },
    );

    await t.step("a Pod gone from the cluster is forgotten", async () => {
      await admin.request("DELETE", `/api/v1/namespaces/${NS}/pods/direct-1`);
      await eventually(
        "direct-1 untracked",
        () => !manager.controller.tracked.has(`${NS}/direct-1`) || undefined,
      );
      assert.ok(manager.controller.tracked.has(`${NS}/gs-0`));
    });
  } catch (err) {
    console.error(logs.join("\n"));
    throw err;
  } finally {
    await manager.stop();
  }
});
