/**
 * Kubernetes-Ingress end to end: gamenet makes a Service and an Ingress
 * per game server from OpenKruiseGame's manual example conf, reports the
 * address a (fake) ingress controller writes, waits while none is
 * written, keeps a Fixed game server's Ingress across its Pod's
 * re-creation, refuses a path another game server has, and takes a
 * disabled game server off its Service.
 */

import assert from "node:assert/strict";
import { ControlPlane } from "../controlplane/control_plane.ts";
import { KubeletStandIn } from "../controlplane/kubelet_standin.ts";
import { KubeApiError, type KubeClient } from "../../controller/kube_client.ts";
import {
  NETWORK_CONF_ANNOTATION,
  NETWORK_DISABLED_LABEL,
  NETWORK_TYPE_ANNOTATION,
  type Pod,
} from "../../providers/types.ts";
import { DISABLED_SELECTOR_LABEL, MANAGED_BY_LABEL } from "../../providers/owned_objects.ts";
import type { AllocationView } from "../../providers/view.ts";
import { GamenetProcess } from "./gamenet_process.ts";
import { createNamespace, eventsFor, eventually, listPods, networkStatus } from "./helpers.ts";
import { type GameServerWorkload, workloadPath } from "./workloads.ts";
import { FakeIngressController } from "./fake_ingress_controller.ts";

const NS = "ingress-e2e";
const LB_IP = "198.51.100.7";

/** A workload whose conf has repeated names (Path, Annotation): written as OpenKruiseGame's list. */
async function createSet(
  admin: KubeClient,
  w: Omit<GameServerWorkload, "conf"> & { conf: [string, string][] },
): Promise<void> {
  const template = {
    metadata: {
      labels: { app: w.name },
      annotations: {
        [NETWORK_TYPE_ANNOTATION]: w.networkType,
        [NETWORK_CONF_ANNOTATION]: JSON.stringify(w.conf.map(([name, value]) => ({ name, value }))),
      },
    },
    spec: {
      terminationGracePeriodSeconds: 0,
      containers: [{ name: "gs", image: "example.invalid/gs:1", ports: w.ports }],
    },
  };
  const selector = { matchLabels: { app: w.name } };
  const spec = w.kind === "StatefulSet"
    ? {
      replicas: w.replicas,
      serviceName: w.name,
      podManagementPolicy: "Parallel",
      selector,
      template,
    }
    : { replicas: w.replicas, selector, template };
  await admin.request("POST", workloadPath(NS, w.kind), {
    body: { metadata: { name: w.name }, spec },
  });
}

// OpenKruiseGame's manual example (network.md, Kubernetes-Ingress), as written there.
const MANUAL_CONF: [string, string][] = [
  ["PathType", "ImplementationSpecific"],
  ["Path", "/game<id>(/|$)(.*)"],
  ["Path", "/test-<id>"],
  ["Port", "80"],
  ["IngressClassName", "fake"],
  ["Host", "xxx.xx.com"],
  ["TlsHosts", "xxx.xx1.com,xxx.xx2.com"],
  ["TlsSecretName", "kruise-game-tls"],
  ["Annotation", "nginx.ingress.kubernetes.io/rewrite-target: /$2"],
  ["Annotation", "nginx.ingress.kubernetes.io/random: xxx"],
];

interface Ingress {
  metadata: {
    name: string;
    uid: string;
    annotations?: Record<string, string>;
    ownerReferences?: { kind: string }[];
  };
  spec: {
    ingressClassName?: string;
    rules: {
      host?: string;
      http: {
        paths: {
          path: string;
          pathType: string;
          backend: { service: { name: string; port: { number: number } } };
        }[];
      };
    }[];
    tls?: { hosts?: string[]; secretName?: string }[];
  };
}

async function ingresses(admin: KubeClient): Promise<Map<string, Ingress>> {
  const list = await admin.request<{ items: Ingress[] }>(
    "GET",
    `/apis/networking.k8s.io/v1/namespaces/${NS}/ingresses`,
    { query: { labelSelector: `${MANAGED_BY_LABEL}=gamenet` } },
  );
  return new Map(list.items.map((i) => [i.metadata.name, i]));
}

async function getPod(admin: KubeClient, name: string): Promise<Pod | undefined> {
  return await admin.request<Pod>("GET", `/api/v1/namespaces/${NS}/pods/${name}`).catch(() =>
    undefined
  );
}

Deno.test("Kubernetes-Ingress: a Service and an Ingress per game server, the ingress's address in its status", async (t) => {
  await using cp = await ControlPlane.start();
  const admin = cp.client("admin");
  await using kubelet = new KubeletStandIn(admin, { concurrency: 16 });
  await kubelet.addNodes(3);
  kubelet.start();
  await using ingress = new FakeIngressController(admin, {
    fake: { ip: LB_IP },
    never: null,
  }, { delayMs: 1_000 });
  ingress.start();
  await createNamespace(admin, NS);
  await using gamenet = await GamenetProcess.start(cp);
  await gamenet.waitReady();

  await t.step(
    "30 game servers with Path /game<id>: the ingress's address in every status",
    async () => {
      await createSet(admin, {
        kind: "StatefulSet",
        name: "ing",
        replicas: 30,
        networkType: "Kubernetes-Ingress",
        conf: MANUAL_CONF,
        ports: [{ containerPort: 80, protocol: "TCP" }],
      });
      const pods = await eventually(
        "30 Ready",
        async () => {
          const pods = await listPods(admin, NS, "app=ing");
          const ready = pods.filter((p) => networkStatus(p)?.currentNetworkState === "Ready");
          if (pods.length === 30 && ready.length === 30) return pods;
          throw new Error(`${ready.length} of ${pods.length} Ready`);
        },
        180_000,
        1_000,
      );
      const ings = await ingresses(admin);
      assert.equal(ings.size, 30);
      for (const pod of pods) {
        const name = pod.metadata.name!;
        const id = name.slice("ing-".length);
        const status = networkStatus(pod)!;
        const ports = [
          { name: `/game${id}(/|$)(.*)`, port: 80, protocol: "TCP" },
          { name: `/test-${id}`, port: 80, protocol: "TCP" },
        ];
        assert.deepEqual(status.externalAddresses, [{ ip: LB_IP, ports, endPoint: "xxx.xx.com" }]);
        assert.deepEqual(status.internalAddresses, [{ ip: pod.status!.podIP!, ports }]);
        const ing = ings.get(name)!;
        assert.equal(ing.spec.ingressClassName, "fake");
        assert.deepEqual(ing.spec.rules, [{
          host: "xxx.xx.com",
          http: {
            paths: [`/game${id}(/|$)(.*)`, `/test-${id}`].map((path) => ({
              path,
              pathType: "ImplementationSpecific",
              backend: { service: { name, port: { number: 80 } } },
            })),
          },
        }]);
        assert.deepEqual(ing.spec.tls, [{
          hosts: ["xxx.xx1.com", "xxx.xx2.com"],
          secretName: "kruise-game-tls",
        }]);
        assert.equal(
          ing.metadata.annotations?.["nginx.ingress.kubernetes.io/rewrite-target"],
          "/$2",
        );
        assert.equal(ing.metadata.ownerReferences?.[0].kind, "Pod");
      }
      const rows = (await (await gamenet.debugGet(`/allocations?namespace=${NS}`)).json())
        .allocations as AllocationView[];
      const row = rows.find((r) => r.pod === "ing-3")!;
      assert.equal(row.type, "Kubernetes-Ingress");
      assert.deepEqual(row.objects, ["Service/ing-3", "Ingress/ing-3"]);
      assert.deepEqual(row.ports.map((p) => p.name).sort(), [
        "xxx.xx.com /game3(/|$)(.*)",
        "xxx.xx.com /test-3",
      ]);
    },
  );

  await t.step("no address from the ingress controller: Waiting", async () => {
    await createSet(admin, {
      kind: "StatefulSet",
      name: "wait",
      replicas: 1,
      networkType: "Kubernetes-Ingress",
      conf: [["Path", "/wait<id>"], ["PathType", "Prefix"], ["Port", "80"], [
        "IngressClassName",
        "never",
      ]],
      ports: [{ containerPort: 80, protocol: "TCP" }],
    });
    await eventually("wait-0's Ingress", async () => (await ingresses(admin)).get("wait-0"));
    await new Promise((r) => setTimeout(r, 3_000));
    const pod = (await getPod(admin, "wait-0"))!;
    assert.equal(networkStatus(pod)?.currentNetworkState, "Waiting");
  });

  await t.step("a path another game server has is refused: Event and NotReady", async () => {
    await createSet(admin, {
      kind: "Deployment",
      name: "same",
      replicas: 2,
      networkType: "Kubernetes-Ingress",
      conf: [["Path", "/same"], ["PathType", "Exact"], ["Port", "80"], [
        "IngressClassName",
        "fake",
      ]],
      ports: [{ containerPort: 80, protocol: "TCP" }],
    });
    const [ready, refused] = await eventually("one Ready, one NotReady", async () => {
      const pods = await listPods(admin, NS, "app=same");
      const by = (s: string) => pods.filter((p) => networkStatus(p)?.currentNetworkState === s);
      return by("Ready").length === 1 && by("NotReady").length === 1
        ? [by("Ready")[0], by("NotReady")[0]]
        : undefined;
    }, 60_000);
    const events = await eventually("the IngressPathTaken Event", async () => {
      const e = await eventsFor(admin, NS, refused.metadata.name!);
      return e.some((x) => x.reason === "IngressPathTaken") ? e : undefined;
    });
    assert.match(
      events.find((e) => e.reason === "IngressPathTaken")!.message,
      new RegExp(`path "/same" is served already by Ingress ${NS}/${ready.metadata.name}`),
    );
    await eventually("no Ingress or Service for the refused one", async () => {
      const name = refused.metadata.name!;
      const services = await admin.request<{ items: { metadata: { name: string } }[] }>(
        "GET",
        `/api/v1/namespaces/${NS}/services`,
      );
      return !(await ingresses(admin)).has(name) &&
          !services.items.some((s) => s.metadata.name === name)
        ? true
        : undefined;
    });
  });

  await t.step("Fixed: the Ingress outlives its Pod and serves the next one", async () => {
    await createSet(admin, {
      kind: "StatefulSet",
      name: "fixed",
      replicas: 1,
      networkType: "Kubernetes-Ingress",
      conf: [["Path", "/fixed<id>"], ["PathType", "Prefix"], ["Port", "80"], [
        "IngressClassName",
        "fake",
      ], ["Fixed", "true"]],
      ports: [{ containerPort: 80, protocol: "TCP" }],
    });
    const first = await eventually("fixed-0 Ready", async () => {
      const p = await getPod(admin, "fixed-0");
      return p && networkStatus(p)?.currentNetworkState === "Ready" ? p : undefined;
    });
    const ing = (await ingresses(admin)).get("fixed-0")!;
    assert.equal(ing.metadata.ownerReferences?.[0].kind, "StatefulSet");
    await admin.request("DELETE", `/api/v1/namespaces/${NS}/pods/fixed-0`, {
      query: { gracePeriodSeconds: 0 },
    });
    await eventually("a new fixed-0 Ready", async () => {
      const p = await getPod(admin, "fixed-0");
      return p && p.metadata.uid !== first.metadata.uid &&
          networkStatus(p)?.currentNetworkState === "Ready"
        ? p
        : undefined;
    });
    assert.equal((await ingresses(admin)).get("fixed-0")?.metadata.uid, ing.metadata.uid);
  });

  await t.step(
    "network-disabled: the Service selects nothing; NotReady, then Ready again",
    async () => {
      const patch = (value: string | null) =>
        admin.request("PATCH", `/api/v1/namespaces/${NS}/pods/ing-0`, {
          body: { metadata: { labels: { [NETWORK_DISABLED_LABEL]: value } } },
          contentType: "application/merge-patch+json",
        });
      const selector = async () =>
        (await admin.request<{ spec: { selector: Record<string, string> } }>(
          "GET",
          `/api/v1/namespaces/${NS}/services/ing-0`,
        )).spec.selector;
      await patch("true");
      await eventually("NotReady, selector swapped", async () => {
        const p = (await getPod(admin, "ing-0"))!;
        return networkStatus(p)?.currentNetworkState === "NotReady" &&
            (await selector())[DISABLED_SELECTOR_LABEL] === "ing-0"
          ? true
          : undefined;
      });
      await patch(null);
      await eventually("Ready", async () => {
        const p = (await getPod(admin, "ing-0"))!;
        return networkStatus(p)?.currentNetworkState === "Ready" &&
            !(DISABLED_SELECTOR_LABEL in await selector())
          ? true
          : undefined;
      });
    },
  );

  await t.step("bad conf is refused at admission with a message", async () => {
    const refused = async (conf: [string, string][], pattern: RegExp) => {
      const err = await admin.request("POST", `/api/v1/namespaces/${NS}/pods`, {
        body: {
          metadata: {
            name: "bad",
            annotations: {
              [NETWORK_TYPE_ANNOTATION]: "Kubernetes-Ingress",
              [NETWORK_CONF_ANNOTATION]: JSON.stringify(
                conf.map(([name, value]) => ({ name, value })),
              ),
            },
          },
          spec: { containers: [{ name: "gs", image: "example.invalid/gs:1" }] },
        },
      }).then(() => undefined, (e) => e);
      assert.ok(err instanceof KubeApiError, `admitted: ${JSON.stringify(conf)}`);
      assert.match(err.message, pattern);
    };
    const base: [string, string][] = [["Path", "/g<id>"], ["PathType", "Prefix"], ["Port", "80"]];
    await refused([["Path", "/g"], ["PathType", "Prefix"]], /needs Port/);
    await refused([...base.slice(0, 1), ["PathType", "Bogus"], ["Port", "80"]], /PathType "Bogus"/);
    await refused([["Path", "/g<id>/<id>"], ...base.slice(1)], /<id> more than once/);
    await refused([...base, ["Annotation", "a:b"]], /Annotation "a:b": write "key: value"/);
    await refused([["Path", "g"], ...base.slice(1)], /must start with "\/"/);
  });

  await gamenet.kill("SIGTERM");
});
