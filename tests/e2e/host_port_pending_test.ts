/**
 * Kubernetes-HostPort when no node has the ports free, on the real control
 * plane: the Pod is admitted anyway (with a warning), the scheduler keeps
 * it Pending, its status says Waiting and one Event says why, and when a
 * node joins it is placed there and Ready, as Agones and OpenKruiseGame
 * do (so the cluster autoscaler sees a Pod to add a node for). With
 * `--host-port-exhausted=deny` it is refused instead. The waiting Pod's
 * Event costs the API server a write a minute at most, not one per look.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ControlPlane } from "../controlplane/control_plane.ts";
import { KubeletStandIn } from "../controlplane/kubelet_standin.ts";
import { type KubeObject, Reflector } from "../../controller/reflector.ts";
import { KubeApiError } from "../../controller/kube_client.ts";
import type { Pod } from "../../providers/types.ts";
import { GamenetProcess } from "./gamenet_process.ts";
import {
  createNamespace,
  eventsFor,
  eventually,
  hostPortGamePod,
  networkStatus,
} from "./helpers.ts";

const NS = "pending-e2e";

Deno.test("Kubernetes-HostPort: no free port on any node → Pending, Waiting, one Event; a new node → Ready", async (t) => {
  await using cp = await ControlPlane.start();
  const admin = cp.client("admin");
  await using kubelet = new KubeletStandIn(admin);
  await kubelet.addNodes(1);
  kubelet.start();
  await createNamespace(admin, NS);
  const pools = join(cp.dir, "pools.yaml");
  await Deno.writeTextFile(pools, "hostPort:\n  ranges:\n    default: 8000-8000\n");
  const get = (name: string) => admin.request<Pod>("GET", `/api/v1/namespaces/${NS}/pods/${name}`);
  const post = (name: string) =>
    admin.fetch("POST", `/api/v1/namespaces/${NS}/pods`, {
      body: JSON.stringify(hostPortGamePod(name)),
    });

  {
    await using gamenet = await GamenetProcess.start(cp, { args: [`--config=${pools}`] });
    await gamenet.waitReady();

    await t.step(
      "the first Pod takes the only port; the second waits Pending, saying why",
      async () => {
        await (await post("gs-a")).body?.cancel();
        await eventually(
          "gs-a Ready",
          async () =>
            networkStatus(await get("gs-a"))?.currentNetworkState === "Ready" || undefined,
        );
        const res = await post("gs-b");
        assert.equal(res.status, 201);
        await res.body?.cancel();
        assert.match(res.headers.get("warning") ?? "", /No node has host port\(s\) 8000 free now/);
        const b = await eventually("gs-b Waiting", async () => {
          const p = await get("gs-b");
          return networkStatus(p)?.currentNetworkState === "Waiting" ? p : undefined;
        });
        assert.equal(b.spec!.containers[0].ports![0].hostPort, 8000);
        assert.equal(b.spec!.nodeName, undefined);
        const event = await eventually(
          "the Event",
          async () =>
            (await eventsFor(admin, NS, "gs-b")).find((e) => e.reason === "HostPortsUnavailable"),
        );
        assert.match(event.message, /no node has its host ports free/);
      },
    );

    await t.step(
      "a minute of waiting costs a write or two of its Event, not one per look",
      async () => {
        let writes = 0;
        const events = new Reflector<KubeObject & { reason?: string }>(admin, {
          path: `/api/v1/namespaces/${NS}/events`,
          fieldSelector: "involvedObject.name=gs-b",
        }, {
          // The scheduler's FailedScheduling Events are about the same Pod; only ours count.
          onAdd: (e) => {
            if (e.reason === "HostPortsUnavailable") writes++;
          },
          onUpdate: (old, now) => {
            if (now.reason !== "HostPortsUnavailable") return;
            if (old.metadata?.resourceVersion !== now.metadata?.resourceVersion) writes++;
          },
        });
        events.start();
        await events.synced;
        writes = 0;
        // The Pod is looked at every 10 s: six looks.
        await new Promise((r) => setTimeout(r, 60_000));
        await events.stop();
        const event = (await eventsFor(admin, NS, "gs-b"))
          .find((e) => e.reason === "HostPortsUnavailable")!;
        console.log(`Event writes in 60 s of waiting: ${writes}; count ${event.count}`);
        assert.ok(writes <= 2, `${writes} Event writes in a minute`);
        assert.ok((event.count ?? 1) >= 2, "the repeats are counted");
      },
    );

    await t.step("a node joins: the waiting Pod is placed there and Ready", async () => {
      await kubelet.addNode({ name: "node-2" });
      const b = await eventually("gs-b Ready", async () => {
        const p = await get("gs-b");
        if (networkStatus(p)?.currentNetworkState === "Ready") return p;
        // Said when it times out: where the Pod stands, and the scheduler's last word.
        const scheduling = (await eventsFor(admin, NS, "gs-b"))
          .filter((e) => e.reason !== "HostPortsUnavailable").map((e) =>
            `${e.reason}: ${e.message}`
          ).at(-1);
        throw new Error(
          `node ${p.spec?.nodeName ?? "none"}, phase ${p.status?.phase}, network ${
            networkStatus(p)?.currentNetworkState
          }; ${scheduling ?? "no scheduler Event"}`,
        );
      });
      assert.equal(b.spec!.nodeName, "node-2");
      assert.equal(networkStatus(b)!.externalAddresses[0].ports[0].port, 8000);
    });
  }

  await t.step("with --host-port-exhausted=deny the Pod is refused instead", async () => {
    await using gamenet = await GamenetProcess.start(cp, {
      args: [`--config=${pools}`, "--host-port-exhausted=deny"],
    });
    await gamenet.waitReady();
    const err = await admin.request("POST", `/api/v1/namespaces/${NS}/pods`, {
      body: hostPortGamePod("gs-c"),
    })
      .then(() => undefined, (e) => e);
    assert.ok(err instanceof KubeApiError, "refused");
    assert.match(
      err.message,
      /HostPortsExhausted|No UDP host port in 8000-8000 is free on any of the 2 nodes/,
    );
  });
});
