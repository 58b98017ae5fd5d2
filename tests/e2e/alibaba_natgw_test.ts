/**
 * AlibabaCloud-NATGW end to end: gamenet as its own process (`deno run
 * main.ts`, the shipped RBAC, the admission webhook), the real control
 * plane with the kubelet stand-in giving Pods their IPs, the PodDNAT CRD,
 * and {@linkcode FakeDnatCloud} in this test process playing Alibaba's
 * network controller (it creates each Pod's PodDNAT and writes its
 * entries).
 *
 * The webhook sets Alibaba's annotations exactly; every Pod whose entries
 * came is Ready with external = the NAT IP:port the cloud gave and
 * internal = Pod IP:port, on the Pod and on its OpenKruiseGame GameServer;
 * a Pod whose entries never come is Waiting, then NotReady with a
 * NatGwEntriesMissing Event; a Pod whose entries come late ends Ready; a
 * bad conf is refused at admission with a message naming the value.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ControlPlane } from "../controlplane/control_plane.ts";
import { KubeletStandIn } from "../controlplane/kubelet_standin.ts";
import { applyManifests } from "../controlplane/apply.ts";
import { REPO_ROOT } from "../controlplane/assets.ts";
import { KubeApiError, type KubeClient } from "../../controller/kube_client.ts";
import {
  NETWORK_CONF_ANNOTATION,
  NETWORK_TYPE_ANNOTATION,
  type NetworkStatus,
  type Pod,
} from "../../providers/types.ts";
import { GamenetProcess } from "./gamenet_process.ts";
import { createNamespace, eventsFor, eventually, listPods, networkStatus } from "./helpers.ts";
import { type DnatEntry, FakeDnatCloud } from "./dnat_cloud.ts";

const NS = "natgw-e2e";
const NATGW = "AlibabaCloud-NATGW";
const NAT_IP = "47.100.0.1";
const REPLICAS = 50;
/** Pods of the StatefulSet that also get an OpenKruiseGame GameServer. */
const WITH_GAMESERVER = 10;
/** The late Pod's entries come this long after it has an IP. */
const LATE_MS = 12_000;

const since = (t0: number) => Math.round(performance.now() - t0);

/** The `k8s.aliyun.com/*` annotations of a Pod. */
function aliyunAnnotations(pod: Pod): Record<string, string> {
  return Object.fromEntries(
    Object.entries(pod.metadata.annotations ?? {}).filter(([k]) => k.startsWith("k8s.aliyun.com/")),
  );
}

/** A bare NATGW Pod on `node`. */
function podBody(name: string, node: string, conf: Record<string, string>, type = NATGW): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      annotations: {
        [NETWORK_TYPE_ANNOTATION]: type,
        [NETWORK_CONF_ANNOTATION]: JSON.stringify(
          Object.entries(conf).map(([name, value]) => ({ name, value })),
        ),
      },
    },
    spec: {
      nodeName: node,
      terminationGracePeriodSeconds: 0,
      containers: [{ name: "gs", image: "example.invalid/gs:1" }],
    },
  } as Pod;
}

/** The status gamenet must report for `pod` given the entries the cloud wrote. */
function expectedAddresses(pod: Pod, entries: DnatEntry[], protocol: "TCP" | "UDP") {
  return {
    externalAddresses: [{
      ip: NAT_IP,
      ports: entries.map((e) => ({
        name: e.internalPort,
        port: Number(e.externalPort),
        protocol,
      })),
    }],
    internalAddresses: [{
      ip: pod.status!.podIP!,
      ports: entries.map((e) => ({
        name: e.internalPort,
        port: Number(e.internalPort),
        protocol,
      })),
    }],
  };
}

async function getPod(admin: KubeClient, name: string): Promise<Pod | undefined> {
  try {
    return await admin.request<Pod>("GET", `/api/v1/namespaces/${NS}/pods/${name}`);
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) return undefined;
    throw err;
  }
}

async function startGamenet(cp: ControlPlane, args: string[] = [], webhookPort?: number) {
  const gamenet = await GamenetProcess.start(cp, {
    args,
    webhookPort,
    registerWebhook: webhookPort === undefined,
  });
  try {
    await gamenet.waitReady(60_000);
  } catch (err) {
    await gamenet.kill("SIGKILL");
    throw err;
  }
  return gamenet;
}

Deno.test("AlibabaCloud-NATGW: gamenet process against a fake Alibaba DNAT controller", async (t) => {
  const t00 = performance.now();
  await using cp = await ControlPlane.start();
  const admin = cp.client("admin");
  for (const crd of ["poddnat-crd.yaml", "kruise-gameserver-crd.yaml"]) {
    await applyManifests(admin, await Deno.readTextFile(join(REPO_ROOT, "tests", "fixtures", crd)));
  }
  await using kubelet = new KubeletStandIn(admin, { concurrency: 16 });
  const nodes = await kubelet.addNodes(3, { prefix: "natgw-node" });
  kubelet.start();
  await createNamespace(admin, NS);
  await using cloud = new FakeDnatCloud(admin, {
    namespace: NS,
    externalIP: NAT_IP,
    firstPort: 512,
    policy: (pod) => {
      const name = pod.metadata.name!;
      if (name.startsWith("never-")) return "never";
      if (name.startsWith("late-")) return { delayMs: LATE_MS };
      return { delayMs: 200 };
    },
  });
  cloud.start();
  const durations: Record<string, number> = { setup: since(t00) };
  let gamenet: GamenetProcess | undefined = await startGamenet(cp);
  const webhookPort = gamenet.webhookPort;
  try {
    await t.step(
      `${REPLICAS} Pods (Ports 80, Protocol TCP) and one UDP Fixed Pod get Ready`,
      async () => {
        const t0 = performance.now();
        for (let i = 0; i < WITH_GAMESERVER; i++) {
          await admin.request(
            "POST",
            `/apis/game.kruise.io/v1alpha1/namespaces/${NS}/gameservers`,
            {
              body: {
                apiVersion: "game.kruise.io/v1alpha1",
                kind: "GameServer",
                metadata: { name: `gs-${i}` },
                spec: {},
              },
            },
          );
        }
        await admin.request("POST", `/apis/apps/v1/namespaces/${NS}/statefulsets`, {
          body: {
            metadata: { name: "gs" },
            spec: {
              replicas: REPLICAS,
              serviceName: "gs",
              podManagementPolicy: "Parallel",
              selector: { matchLabels: { app: "gs" } },
              template: {
                metadata: {
                  labels: { app: "gs" },
                  annotations: {
                    [NETWORK_TYPE_ANNOTATION]: NATGW,
                    [NETWORK_CONF_ANNOTATION]: JSON.stringify([
                      { name: "Ports", value: "80" },
                      { name: "Protocol", value: "TCP" },
                    ]),
                  },
                },
                spec: {
                  terminationGracePeriodSeconds: 0,
                  containers: [{
                    name: "gs",
                    image: "example.invalid/gs:1",
                    ports: [{ containerPort: 80, protocol: "TCP" }],
                  }],
                },
              },
            },
          },
        });
        // An alias, two ports, UDP in lower case, Fixed.
        await admin.request("POST", `/api/v1/namespaces/${NS}/pods`, {
          body: podBody(
            "fixed-udp",
            nodes[0],
            { Ports: "7000, 7001", Protocol: "udp", Fixed: "true" },
            "Ali-NatGw",
          ),
        });

        const pods = await eventually(
          `${REPLICAS} Pods Ready`,
          async () => {
            const pods = await listPods(admin, NS, "app=gs");
            const ready = pods.filter((p) => networkStatus(p)?.currentNetworkState === "Ready");
            if (ready.length === REPLICAS) return ready;
            const states: Record<string, number> = {};
            for (const p of pods) {
              const s = networkStatus(p)?.currentNetworkState ?? "none";
              states[s] = (states[s] ?? 0) + 1;
            }
            throw new Error(`${pods.length} Pods: ${JSON.stringify(states)}`);
          },
          90_000,
          500,
        );
        for (const pod of pods) {
          const name = pod.metadata.name!;
          assert.deepEqual(aliyunAnnotations(pod), {
            "k8s.aliyun.com/pod-dnat": "",
            "k8s.aliyun.com/pod-dnat-expose-port": "80",
            "k8s.aliyun.com/pod-dnat-expose-protocol": "tcp",
          }, name);
          const s = networkStatus(pod)!;
          const entries = cloud.entries.get(name);
          assert.ok(entries?.length === 1, `${name}: the cloud answered`);
          assert.equal(entries[0].internalIP, pod.status!.podIP);
          assert.equal(s.networkType, NATGW);
          assert.equal(s.desiredNetworkState, "Ready");
          const { externalAddresses, internalAddresses } = s;
          assert.deepEqual(
            { externalAddresses, internalAddresses },
            expectedAddresses(pod, entries, "TCP"),
            name,
          );
        }
        const external = pods.map((p) => networkStatus(p)!.externalAddresses[0].ports[0].port);
        assert.equal(new Set(external).size, REPLICAS, "every Pod its own external port");
        assert.ok(external.every((p) => p >= 512), "external ports from the cloud's counter");

        const fixed = await eventually("fixed-udp Ready", async () => {
          const p = await getPod(admin, "fixed-udp");
          return p && networkStatus(p)?.currentNetworkState === "Ready" ? p : undefined;
        }, 30_000);
        assert.deepEqual(aliyunAnnotations(fixed), {
          "k8s.aliyun.com/pod-dnat": "",
          "k8s.aliyun.com/pod-dnat-expose-port": "7000,7001",
          "k8s.aliyun.com/pod-dnat-expose-protocol": "udp",
          "k8s.aliyun.com/pod-dnat-fixed": "true",
        });
        const fs = networkStatus(fixed)!;
        assert.equal(fs.networkType, "Ali-NatGw");
        assert.deepEqual(
          { externalAddresses: fs.externalAddresses, internalAddresses: fs.internalAddresses },
          expectedAddresses(fixed, cloud.entries.get("fixed-udp")!, "UDP"),
        );

        for (let i = 0; i < WITH_GAMESERVER; i++) {
          const name = `gs-${i}`;
          const gs = await eventually(`GameServer ${name} networkStatus Ready`, async () => {
            const gs = await admin.request<{ status?: { networkStatus?: NetworkStatus } }>(
              "GET",
              `/apis/game.kruise.io/v1alpha1/namespaces/${NS}/gameservers/${name}`,
            );
            return gs.status?.networkStatus?.currentNetworkState === "Ready" ? gs : undefined;
          }, 30_000);
          const pod = (await getPod(admin, name))!;
          assert.deepEqual(gs.status!.networkStatus, networkStatus(pod), name);
        }
        assert.deepEqual(cloud.errors, []);
        durations.step1 = since(t0);
      },
    );

    await t.step(
      "--natgw-entry-timeout 8s: entries never → NotReady + Event; late → Ready",
      async () => {
        const t0 = performance.now();
        await gamenet!.kill("SIGTERM");
        gamenet = undefined;
        gamenet = await startGamenet(cp, ["--natgw-entry-timeout", "8s"], webhookPort);
        const conf = { Ports: "80", Protocol: "TCP" };
        await admin.request("POST", `/api/v1/namespaces/${NS}/pods`, {
          body: podBody("never-1", nodes[1], conf),
        });
        await admin.request("POST", `/api/v1/namespaces/${NS}/pods`, {
          body: podBody("late-1", nodes[2], conf),
        });
        const created = performance.now();
        // Every state each Pod showed, in order, with the time since creation.
        const seen: Record<string, [string, number][]> = { "never-1": [], "late-1": [] };
        const observe = async () => {
          for (const name of Object.keys(seen)) {
            const p = await getPod(admin, name);
            const state = (p && networkStatus(p)?.currentNetworkState) ?? "none";
            const log = seen[name];
            if (log.at(-1)?.[0] !== state) log.push([state, since(created)]);
          }
        };
        const states = (name: string) => seen[name].map(([s]) => s).filter((s) => s !== "none");
        const event = await eventually(
          "never-1 NotReady with a NatGwEntriesMissing Event",
          async () => {
            await observe();
            const events = await eventsFor(admin, NS, "never-1");
            const ev = events.find((e) => e.reason === "NatGwEntriesMissing");
            if (states("never-1").at(-1) === "NotReady" && ev) return ev;
            throw new Error(
              `states ${JSON.stringify(seen["never-1"])}, events ${JSON.stringify(events)}`,
            );
          },
          40_000,
          250,
        );
        assert.equal(event.type, "Warning");
        assert.match(event.message, /port\(s\) 80 after 8 s/, event.message);
        assert.ok(event.message.includes(`PodDNAT ${NS}/never-1`), event.message);
        assert.equal(states("never-1")[0], "Waiting", JSON.stringify(seen["never-1"]));
        const notReadyAt = seen["never-1"].find(([s]) => s === "NotReady")![1];
        assert.ok(notReadyAt >= 8_000, `NotReady only after the timeout: ${notReadyAt} ms`);

        const late = await eventually(
          "late-1 Ready",
          async () => {
            await observe();
            const p = await getPod(admin, "late-1");
            if (p && networkStatus(p)?.currentNetworkState === "Ready") return p;
            throw new Error(`states ${JSON.stringify(seen["late-1"])}`);
          },
          40_000,
          250,
        );
        const lateStates = states("late-1");
        assert.equal(lateStates[0], "Waiting", JSON.stringify(seen["late-1"]));
        assert.equal(lateStates.at(-1), "Ready");
        const ls = networkStatus(late)!;
        assert.deepEqual(
          { externalAddresses: ls.externalAddresses, internalAddresses: ls.internalAddresses },
          expectedAddresses(late, cloud.entries.get("late-1")!, "TCP"),
        );
        // never-1 stays NotReady, and the restart left step 1's Pods Ready.
        await observe();
        assert.equal(states("never-1").at(-1), "NotReady");
        const gsPods = await listPods(admin, NS, "app=gs");
        assert.ok(gsPods.every((p) => networkStatus(p)?.currentNetworkState === "Ready"));
        console.log(`state timelines (ms since creation): ${JSON.stringify(seen)}`);
        assert.deepEqual(cloud.errors, []);
        durations.step2 = since(t0);
      },
    );

    await t.step("a bad conf is refused at admission, the message naming the value", async () => {
      const t0 = performance.now();
      const cases: [string, Record<string, string>, string][] = [
        ["bad-ports", { Ports: "http" }, `Ports "http"`],
        ["dup-ports", { Ports: "80,80" }, `Ports "80,80"`],
        ["bad-protocol", { Ports: "80", Protocol: "SCTP" }, `Protocol "SCTP"`],
      ];
      for (const [name, conf, text] of cases) {
        const err = await admin.request("POST", `/api/v1/namespaces/${NS}/pods`, {
          body: podBody(name, nodes[0], conf),
        }).then(() => undefined, (e) => e);
        assert.ok(err instanceof KubeApiError, `${name}: expected a refusal, got ${err}`);
        assert.equal(err.status, 422, `${name}: ${err.status} ${err.message}`);
        assert.match(err.message, /denied/, err.message);
        assert.ok(err.message.includes(text), `${name}: message names ${text}: ${err.message}`);
        assert.equal(await getPod(admin, name), undefined, `${name} was not created`);
        console.log(`${name}: ${err.message}`);
      }
      durations.step3 = since(t0);
    });
    console.log(`durations (ms): ${JSON.stringify(durations)}`);
  } catch (err) {
    if (gamenet) console.error(await gamenet.logTail(60));
    throw err;
  } finally {
    await gamenet?.kill("SIGTERM");
    await cloud.stop();
  }
});
