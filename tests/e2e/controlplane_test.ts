/**
 * Smoke tests of the test control plane itself, through
 * `@kubernetes/client-node` with bearer-token TLS: the real scheduler binds
 * Pods (and refuses a host-port clash), the real controller-manager runs
 * StatefulSets, the real API server calls a mutating webhook, and RBAC
 * holds the `gamenet` identity to its shipped role.
 */

import assert from "node:assert/strict";
import { AppsV1Api, CoreV1Api, KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { Hono } from "hono";
import { ControlPlane } from "../controlplane/control_plane.ts";
import { KubeletStandIn } from "../controlplane/kubelet_standin.ts";
import { createCertificateAuthority, createServingCertificate } from "../controlplane/pki.ts";
import { applyManifests } from "../controlplane/apply.ts";
import { KubeApiError } from "../../controller/kube_client.ts";
import { eventually } from "./helpers.ts";

function pod(
  name: string,
  extra: Partial<V1Pod["spec"]> = {},
  annotations?: Record<string, string>,
): V1Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, annotations },
    spec: {
      containers: [{ name: "gameserver", image: "example.invalid/gameserver:1" }],
      ...extra,
    },
  };
}

async function createNamespace(core: CoreV1Api, name: string, labels?: Record<string, string>) {
  await core.createNamespace({ body: { metadata: { name, labels } } });
  // The ServiceAccount admission plugin refuses Pods until the controller-manager made "default".
  await eventually(
    `ServiceAccount ${name}/default`,
    async () =>
      (await core.readNamespacedServiceAccount({ name: "default", namespace: name })) ?? undefined,
  );
}

Deno.test("control plane: scheduler, controller-manager, webhooks and RBAC work", async (t) => {
  await using cp = await ControlPlane.start();
  await using kubelet = new KubeletStandIn(cp.client("admin"));
  await kubelet.addNode({ name: "node-1", ipFamilies: "dual" });
  kubelet.start();
  const kc = cp.kubeConfig("admin");
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  await createNamespace(core, "smoke");

  await t.step("the API server reports the pinned version", async () => {
    const version = await cp.client("admin").request<{ gitVersion: string }>("GET", "/version");
    assert.equal(version.gitVersion, cp.assets.kubernetesVersion);
  });

  await t.step("a client that trusts another CA is refused", async () => {
    const otherDir = await Deno.makeTempDir();
    try {
      const other = await createCertificateAuthority(otherDir, "other-ca");
      const wrong = new KubeConfig();
      wrong.loadFromOptions({
        clusters: [{
          name: "c",
          server: cp.server,
          caData: btoa(other.certPem),
          skipTLSVerify: false,
        }],
        users: [{ name: "u", token: cp.token("admin") }],
        contexts: [{ name: "x", cluster: "c", user: "u" }],
        currentContext: "x",
      });
      await assert.rejects(wrong.makeApiClient(CoreV1Api).listNamespace());
    } finally {
      await Deno.remove(otherDir, { recursive: true });
    }
  });

  await t.step("a Pod with a hostPort is scheduled and gets an IP from the stand-in", async () => {
    await core.createNamespacedPod({
      namespace: "smoke",
      body: pod("hp-1", {
        containers: [{
          name: "gameserver",
          image: "example.invalid/gameserver:1",
          ports: [{ containerPort: 7777, hostPort: 7777, protocol: "UDP" }],
        }],
      }),
    });
    const running = await eventually("hp-1 Running", async () => {
      const p = await core.readNamespacedPod({ name: "hp-1", namespace: "smoke" });
      return p.status?.phase === "Running" ? p : undefined;
    });
    assert.equal(running.spec?.nodeName, "node-1");
    assert.match(running.status?.podIP ?? "", /^10\.\d+\.\d+\.\d+$/);
    assert.equal(running.status?.podIPs?.length, 2, "a dual-stack node gives an IPv4 and an IPv6");
    assert.ok(running.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
  });

  await t.step("a second Pod asking for the same hostPort stays Pending", async () => {
    await core.createNamespacedPod({
      namespace: "smoke",
      body: pod("hp-2", {
        containers: [{
          name: "gameserver",
          image: "example.invalid/gameserver:1",
          ports: [{ containerPort: 7777, hostPort: 7777, protocol: "UDP" }],
        }],
      }),
    });
    const unschedulable = await eventually("hp-2 Unschedulable", async () => {
      const p = await core.readNamespacedPod({ name: "hp-2", namespace: "smoke" });
      const c = p.status?.conditions?.find((c) => c.type === "PodScheduled");
      return c?.status === "False" && c.reason === "Unschedulable" ? { p, c } : undefined;
    });
    assert.match(unschedulable.c.message ?? "", /free ports/);
    assert.equal(unschedulable.p.spec?.nodeName, undefined);
    assert.equal(unschedulable.p.status?.phase, "Pending");
    // The same port over TCP is another port: it fits.
    await core.createNamespacedPod({
      namespace: "smoke",
      body: pod("hp-3", {
        containers: [{
          name: "gameserver",
          image: "example.invalid/gameserver:1",
          ports: [{ containerPort: 7777, hostPort: 7777, protocol: "TCP" }],
        }],
      }),
    });
    await eventually("hp-3 Running", async () => {
      const p = await core.readNamespacedPod({ name: "hp-3", namespace: "smoke" });
      return p.status?.phase === "Running" ? p : undefined;
    });
    // Deleting the holder lets the waiting Pod in: the stand-in finishes the deletion.
    await core.deleteNamespacedPod({ name: "hp-1", namespace: "smoke" });
    const bound = await eventually("hp-2 Running after hp-1 is gone", async () => {
      const p = await core.readNamespacedPod({ name: "hp-2", namespace: "smoke" });
      return p.status?.phase === "Running" ? p : undefined;
    });
    assert.equal(bound.spec?.nodeName, "node-1");
  });

  await t.step("a StatefulSet of 3 replicas creates 3 Running Pods", async () => {
    await apps.createNamespacedStatefulSet({
      namespace: "smoke",
      body: {
        metadata: { name: "gs" },
        spec: {
          replicas: 3,
          serviceName: "gs",
          podManagementPolicy: "Parallel",
          selector: { matchLabels: { app: "gs" } },
          template: {
            metadata: { labels: { app: "gs" } },
            spec: { containers: [{ name: "gameserver", image: "example.invalid/gameserver:1" }] },
          },
        },
      },
    });
    const pods = await eventually("3 gs Pods Running", async () => {
      const list = await core.listNamespacedPod({ namespace: "smoke", labelSelector: "app=gs" });
      const running = list.items.filter((p) => p.status?.phase === "Running");
      return running.length === 3 ? running : undefined;
    });
    assert.deepEqual(pods.map((p) => p.metadata?.name).sort(), ["gs-0", "gs-1", "gs-2"]);
    const sts = await eventually("StatefulSet status 3 ready", async () => {
      const s = await apps.readNamespacedStatefulSet({ name: "gs", namespace: "smoke" });
      return s.status?.readyReplicas === 3 ? s : undefined;
    });
    assert.equal(sts.status?.replicas, 3);
  });

  await t.step("the API server calls a mutating webhook and applies its JSON patch", async () => {
    const dir = await Deno.makeTempDir();
    const calls: string[] = [];
    const app = new Hono();
    app.post("/mutate", async (c) => {
      const review = await c.req.json();
      calls.push(review.request.name || review.request.object?.metadata?.generateName);
      const patch = [{
        op: "add",
        path: "/metadata/annotations/smoke.gamenet.dev~1mutated",
        value: "yes",
      }];
      return c.json({
        apiVersion: "admission.k8s.io/v1",
        kind: "AdmissionReview",
        response: {
          uid: review.request.uid,
          allowed: true,
          patchType: "JSONPatch",
          patch: btoa(JSON.stringify(patch)),
        },
      });
    });
    const ca = await createCertificateAuthority(dir, "webhook-ca");
    const serving = await createServingCertificate(dir, ca, "webhook", {
      ipAddresses: ["127.0.0.1"],
    });
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, cert: serving.certPem, key: serving.keyPem, onListen() {} },
      app.fetch,
    );
    try {
      await createNamespace(core, "hooked", { "smoke.gamenet.dev/webhook": "on" });
      await applyManifests(
        cp.client("admin"),
        JSON.stringify({
          apiVersion: "admissionregistration.k8s.io/v1",
          kind: "MutatingWebhookConfiguration",
          metadata: { name: "smoke" },
          webhooks: [{
            name: "smoke.gamenet.dev",
            admissionReviewVersions: ["v1"],
            sideEffects: "None",
            failurePolicy: "Fail",
            timeoutSeconds: 5,
            clientConfig: {
              url: `https://127.0.0.1:${server.addr.port}/mutate`,
              caBundle: btoa(ca.certPem),
            },
            rules: [{
              apiGroups: [""],
              apiVersions: ["v1"],
              operations: ["CREATE"],
              resources: ["pods"],
            }],
            namespaceSelector: { matchLabels: { "smoke.gamenet.dev/webhook": "on" } },
            // Only Pods that ask for a network type are sent, as gamenet's own configuration does.
            matchConditions: [{
              name: "has-network-type",
              expression:
                "has(object.metadata.annotations) && 'game.kruise.io/network-type' in object.metadata.annotations",
            }],
          }],
        }),
      );
      // A webhook configuration takes a moment to reach the API server's admission chain.
      const mutated = await eventually("a mutated Pod", async () => {
        const name = `asks-${crypto.randomUUID().slice(0, 8)}`;
        const created = await core.createNamespacedPod({
          namespace: "hooked",
          body: pod(name, {}, { "game.kruise.io/network-type": "Kubernetes-HostPort" }),
        });
        return created.metadata?.annotations?.["smoke.gamenet.dev/mutated"] ? created : undefined;
      });
      assert.equal(mutated.metadata?.annotations?.["smoke.gamenet.dev/mutated"], "yes");
      assert.ok(calls.includes(mutated.metadata!.name!), "the webhook saw the Pod it mutated");
      const plain = await core.createNamespacedPod({ namespace: "hooked", body: pod("plain") });
      assert.equal(plain.metadata?.annotations?.["smoke.gamenet.dev/mutated"], undefined);
      assert.ok(!calls.includes("plain"), "matchConditions kept a Pod without network-type away");
    } finally {
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  });

  await t.step("the gamenet identity has its shipped role and nothing more", async () => {
    const gamenet = cp.client("gamenet");
    const pods = await gamenet.request<{ items: unknown[] }>("GET", "/api/v1/pods");
    assert.ok(pods.items.length >= 3);
    await gamenet.request("GET", "/api/v1/nodes");
    await assert.rejects(
      gamenet.request("GET", "/api/v1/secrets"),
      (err) => err instanceof KubeApiError && err.status === 403,
    );
    await assert.rejects(
      gamenet.request("DELETE", "/api/v1/namespaces/smoke/pods/gs-0"),
      (err) => err instanceof KubeApiError && err.status === 403,
    );
  });

  await kubelet.stop();
});
