/**
 * The shipped manifests against the real API server: every file of
 * `deploy/kustomization.yaml` is accepted under strict field validation,
 * the Deployment matches gamenet's command line and runs locked down, and
 * the webhook's CEL matchCondition keeps Pods that did not ask for a network
 * away from a gamenet that is down. The chart is linted, rendered, compared
 * with the plain manifests and applied the same way, with the machine's
 * `helm` or one built once into `.cache/helm/` (never skipped).
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { ControlPlane } from "../controlplane/control_plane.ts";
import { objectPath } from "../controlplane/apply.ts";
import { errorFromResponse, KubeApiError, type KubeClient } from "../../controller/kube_client.ts";
import { FLAGS, loadConfig, readPoolsFile } from "../../controller/config.ts";
import { NETWORK_TYPES, sectionsOf, settingsOf } from "../../providers/mod.ts";
import { hostPortSettings } from "../../providers/kubernetes_host_port.ts";
import { createNamespace, eventually } from "./helpers.ts";
import {
  CHART,
  DEPLOY,
  ensureHelm,
  generatedObjects,
  kustomizationFiles,
  type Obj,
  objectsOf,
  renderChart,
  run,
} from "./manifests.ts";

const NETWORK_TYPE = "game.kruise.io/network-type";

const keyOf = (o: Obj) => `${o.kind} ${o.metadata.namespace ?? ""}/${o.metadata.name}`;

/**
 * Server-side apply with `fieldValidation=Strict`: an unknown or duplicated
 * field fails instead of being dropped. Returns the API server's warnings.
 */
async function applyStrict(client: KubeClient, obj: Obj): Promise<string[]> {
  const res = await client.fetch(
    "PATCH",
    await objectPath(client, obj as Parameters<typeof objectPath>[1]),
    {
      query: { fieldManager: "gamenet-deploy-test", force: true, fieldValidation: "Strict" },
      body: JSON.stringify(obj),
      contentType: "application/apply-patch+yaml",
    },
  );
  const text = await res.text();
  if (!res.ok) {
    const err = errorFromResponse(res.status, text);
    throw new Error(`${keyOf(obj)}: ${err.message}`, { cause: err });
  }
  return res.headers.get("warning") ? [`${keyOf(obj)}: ${res.headers.get("warning")}`] : [];
}

/** A Pod that waits forever for a node: only admission matters here. */
function pod(name: string, annotations?: Record<string, string>): Obj {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, annotations },
    spec: { containers: [{ name: "game", image: "game:1", ports: [{ containerPort: 7777 }] }] },
  };
}

async function createPod(
  client: KubeClient,
  namespace: string,
  body: Obj,
  dryRun = false,
): Promise<Obj> {
  return await client.request("POST", `/api/v1/namespaces/${namespace}/pods`, {
    body,
    query: { dryRun: dryRun ? "All" : undefined },
  });
}

async function refusal(p: Promise<unknown>): Promise<KubeApiError> {
  const err = await p.then(() => undefined, (e) => e);
  assert.ok(err instanceof KubeApiError, `expected a refusal, got ${err ?? "a created Pod"}`);
  return err;
}

/** What the chart may add to a plain manifest: Helm's own labels and the config checksum. */
function withoutHelmExtras(o: Obj): Obj {
  const c = structuredClone(o);
  const labels = c.metadata.labels ?? {};
  assert.equal(labels["app.kubernetes.io/managed-by"], "Helm", `${keyOf(o)}: managed-by label`);
  assert.match(labels["helm.sh/chart"] ?? "", /^gamenet-\d/, `${keyOf(o)}: chart label`);
  delete labels["app.kubernetes.io/managed-by"];
  delete labels["helm.sh/chart"];
  const podMeta = c.spec?.template?.metadata;
  if (podMeta?.annotations) {
    assert.match(podMeta.annotations["checksum/config"] ?? "", /^[0-9a-f]{64}$/);
    delete podMeta.annotations["checksum/config"];
    if (Object.keys(podMeta.annotations).length === 0) delete podMeta.annotations;
  }
  return c;
}

/** The pools file is compared as data: the plain one carries comments. */
function withParsedConfig(o: Obj): Obj {
  if (o.kind !== "ConfigMap" || !("config.yaml" in o.data)) return o;
  const c = structuredClone(o);
  c.data["config.yaml"] = parseYaml(c.data["config.yaml"]);
  return c;
}

Deno.test("deploy/: the manifests and the chart are accepted by the API server and keep their promises", async (t) => {
  // Webhook calls go to the Service's Ready endpoints, as kube-proxy would send them, instead of
  // to a ClusterIP that nothing routes on this machine: with gamenet down there are none.
  await using cp = await ControlPlane.start({
    apiServerArgs: ["--enable-aggregator-routing=true"],
  });
  const admin = cp.client("admin");
  const files = await kustomizationFiles();
  const plain: Obj[] = [];
  for (const file of files) plain.push(...objectsOf(await Deno.readTextFile(join(DEPLOY, file))));
  plain.push(...await generatedObjects());
  const find = (kind: string, name: string) => {
    const o = plain.find((x) => x.kind === kind && x.metadata.name === name);
    assert.ok(o, `deploy/ has no ${kind} ${name}`);
    return o;
  };

  await t.step(
    "kustomization.yaml lists every manifest but the optional cert-manager.yaml",
    async () => {
      const onDisk: string[] = [];
      for (const dir of ["", "crds"]) {
        for await (const e of Deno.readDir(join(DEPLOY, dir))) {
          if (e.isFile && e.name.endsWith(".yaml")) onDisk.push(dir ? `${dir}/${e.name}` : e.name);
        }
      }
      const expected = onDisk.filter((f) =>
        f !== "kustomization.yaml" && f !== "cert-manager.yaml"
      );
      assert.deepEqual([...files].sort(), expected.sort());
      // This test applies them in this order: the kinds first, then the namespace.
      const crds = files.filter((f) => f.startsWith("crds/"));
      assert.deepEqual(files.slice(0, crds.length), crds, "the CRDs come first");
      assert.equal(files[crds.length], "rbac.yaml", "the namespace comes next");
    },
  );

  await t.step("every object applies with fieldValidation=Strict and no warning", async () => {
    const warnings: string[] = [];
    for (const obj of plain) warnings.push(...await applyStrict(admin, obj));
    assert.deepEqual(warnings, []);
  });

  const deployment = await admin.request<Obj>(
    "GET",
    "/apis/apps/v1/namespaces/gamenet-system/deployments/gamenet",
  );
  const podSpec = deployment.spec.template.spec;
  const container = podSpec.containers[0];

  await t.step("the Deployment runs two replicas of the image, locked down", () => {
    assert.equal(deployment.spec.replicas, 2);
    assert.equal(podSpec.serviceAccountName, "gamenet");
    assert.equal(container.image, "ghcr.io/gamenet/gamenet:0.1.0");
    assert.deepEqual(container.securityContext, {
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    assert.deepEqual(container.resources, {
      requests: { cpu: "100m", memory: "128Mi" },
      limits: { cpu: "1", memory: "256Mi" },
    });
    assert.equal(container.livenessProbe.httpGet.path, "/healthz");
    assert.equal(container.readinessProbe.httpGet.path, "/readyz");
    const http = container.ports.find((p: Obj) => p.name === "http");
    assert.equal(http.containerPort, 8080);
    assert.equal(container.livenessProbe.httpGet.port, "http");
    assert.equal(container.readinessProbe.httpGet.port, "http");
    assert.ok(
      podSpec.topologySpreadConstraints.some((c: Obj) =>
        c.topologyKey === "kubernetes.io/hostname"
      ),
    );
    // Any replica kept available would wait forever for a follower to turn Ready.
    assert.equal(deployment.spec.strategy.rollingUpdate.maxUnavailable, "100%");
  });

  await t.step(
    "the Deployment mounts the TLS Secret and the pools ConfigMap where gamenet reads them",
    () => {
      const mountOf = (volume: Obj) =>
        container.volumeMounts.find((m: Obj) => m.name === volume.name)?.mountPath;
      const tls = podSpec.volumes.find((v: Obj) => v.secret?.secretName === "gamenet-webhook-tls");
      const config = podSpec.volumes.find((v: Obj) => v.configMap?.name === "gamenet-config");
      assert.equal(mountOf(tls), "/etc/gamenet/tls");
      assert.equal(mountOf(config), "/etc/gamenet");
      assert.ok(container.volumeMounts.some((m: Obj) => m.mountPath === "/tmp"));
    },
  );

  await t.step("gamenet's own parser takes the Deployment's args, env and pools file", async () => {
    const flags = new Set([...FLAGS, ...settingsOf(NETWORK_TYPES)].map((f) => f.flag));
    for (const arg of container.args as string[]) {
      const name = /^--([a-z-]+)=/.exec(arg)?.[1];
      assert.ok(name && flags.has(name), `${arg}: not a flag of gamenet`);
    }
    const env = Object.fromEntries(
      (container.env as Obj[]).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]),
    );
    assert.deepEqual(env, { POD_NAMESPACE: "metadata.namespace", POD_NAME: "metadata.name" });
    const types = { settings: settingsOf(NETWORK_TYPES), sections: sectionsOf(NETWORK_TYPES) };
    const config = await loadConfig([...container.args, "--config="], {
      POD_NAMESPACE: "gamenet-system",
      POD_NAME: "gamenet-0",
    }, types);
    assert.equal(config.namespace, "gamenet-system");
    assert.equal(config.identity, "gamenet-0");
    assert.equal(config.leaderElect, true);
    assert.deepEqual(config.httpAddr, { hostname: "0.0.0.0", port: 8080 });
    // The views naming every game server stay on the Pod's loopback; /metrics asks for a token.
    assert.deepEqual(config.debugAddr, { hostname: "127.0.0.1", port: 8082 });
    assert.ok(!container.ports.some((p: Obj) => p.containerPort === config.debugAddr.port));
    assert.equal(config.metricsSecure, true);
    assert.deepEqual(config.webhookAddr, { hostname: "0.0.0.0", port: 9443 });
    assert.equal(config.tlsCertFile, "/etc/gamenet/tls/tls.crt");
    assert.equal(config.tlsKeyFile, "/etc/gamenet/tls/tls.key");
    assert.ok(container.args.includes("--config=/etc/gamenet/config.yaml"));
    const webhookPort = container.ports.find((p: Obj) => p.name === "webhook").containerPort;
    assert.equal(webhookPort, config.webhookAddr.port);
    const file = "config.yaml";
    const sections = readPoolsFile(
      file,
      find("ConfigMap", "gamenet-config").data["config.yaml"],
      types.sections,
    );
    const { ranges } = hostPortSettings({
      setting: (flag) => config.settings.get(flag),
      section: sections.hostPort,
      source: file,
    });
    assert.deepEqual(ranges, {
      default: { min: 8000, max: 9000 },
      game: { min: 9001, max: 10000 },
    });
  });

  await t.step("the controller-manager makes both Pods from the template", async () => {
    await eventually("two gamenet Pods", async () => {
      const pods = await admin.request<{ items: Obj[] }>(
        "GET",
        "/api/v1/namespaces/gamenet-system/pods",
        { query: { labelSelector: "app.kubernetes.io/name=gamenet" } },
      );
      return pods.items.length === 2 ? pods.items : undefined;
    }, 30_000);
  });

  await t.step("the Pod template passes the restricted Pod Security Standard", async () => {
    const ns = "deploy-pss";
    await createNamespace(admin, ns);
    await admin.request("PATCH", `/api/v1/namespaces/${ns}`, {
      body: { metadata: { labels: { "pod-security.kubernetes.io/enforce": "restricted" } } },
      contentType: "application/merge-patch+json",
    });
    await admin.request("POST", `/api/v1/namespaces/${ns}/serviceaccounts`, {
      body: { metadata: { name: "gamenet" } },
    });
    await createPod(admin, ns, {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "gamenet-template", labels: deployment.spec.template.metadata.labels },
      spec: podSpec,
    }, true);
    // And the namespace does refuse what breaks the standard.
    const err = await refusal(createPod(admin, ns, pod("plain"), true));
    assert.match(err.message, /violates PodSecurity "restricted/);
  });

  await t.step("the Services reach the container ports by name", () => {
    const byName = Object.fromEntries(container.ports.map((p: Obj) => [p.name, p.containerPort]));
    const webhookSvc = find("Service", "gamenet-webhook");
    assert.deepEqual(webhookSvc.spec.ports.map((p: Obj) => [p.port, byName[p.targetPort]]), [[
      443,
      9443,
    ]]);
    const metricsSvc = find("Service", "gamenet-metrics");
    assert.deepEqual(metricsSvc.spec.ports.map((p: Obj) => [p.port, byName[p.targetPort]]), [[
      8080,
      8080,
    ]]);
    for (const svc of [webhookSvc, metricsSvc]) {
      assert.deepEqual(svc.spec.selector, deployment.spec.selector.matchLabels);
    }
  });

  await t.step("the webhook configuration reads back as written", async () => {
    const config = await admin.request<Obj>(
      "GET",
      "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/gamenet",
    );
    assert.equal(config.webhooks.length, 1);
    const w = config.webhooks[0];
    assert.deepEqual(w.matchConditions, [{
      name: "asks-for-a-network",
      expression:
        `has(object.metadata.annotations) && '${NETWORK_TYPE}' in object.metadata.annotations`,
    }]);
    assert.equal(w.failurePolicy, "Fail");
    assert.equal(w.sideEffects, "NoneOnDryRun");
    assert.equal(w.timeoutSeconds, 10);
    assert.equal(w.reinvocationPolicy, "IfNeeded");
    assert.deepEqual(w.admissionReviewVersions, ["v1"]);
    assert.deepEqual(w.rules.map((r: Obj) => [r.operations, r.resources]), [[["CREATE"], [
      "pods",
    ]]]);
    assert.deepEqual(w.clientConfig.service, {
      name: "gamenet-webhook",
      namespace: "gamenet-system",
      path: "/mutate-pods",
      port: 443,
    });
    assert.deepEqual(w.namespaceSelector.matchExpressions, [{
      key: "kubernetes.io/metadata.name",
      operator: "NotIn",
      values: ["kube-system", "gamenet-system"],
    }]);
    assert.equal(
      config.metadata.annotations["cert-manager.io/inject-ca-from"],
      "gamenet-system/gamenet-webhook",
    );
  });

  await t.step("with gamenet down, only Pods that ask for a network are refused", async () => {
    const ns = "deploy-e2e";
    await createNamespace(admin, ns);
    // No gamenet runs (nor any kubelet): the webhook cannot be reached.
    const created = await createPod(admin, ns, pod("lobby"));
    assert.equal(created.metadata.name, "lobby");
    const otherAnnotation = await createPod(admin, ns, pod("tagged", { "example.com/x": "1" }));
    assert.equal(otherAnnotation.metadata.name, "tagged");

    const asks = { [NETWORK_TYPE]: "Kubernetes-HostPort" };
    const err = await refusal(createPod(admin, ns, pod("game-0", asks)));
    assert.match(err.message, /failed calling webhook "pods\.gamenet\.io"/);
    assert.match(err.message, /no endpoints available for service "gamenet-webhook"/);
    // NoneOnDryRun: a dry run reaches the webhook too, instead of being refused as unsupported.
    const dry = await refusal(createPod(admin, ns, pod("game-1", asks), true));
    assert.match(dry.message, /failed calling webhook "pods\.gamenet\.io"/);

    // gamenet's own namespace is never sent, annotation or not.
    const own = await createPod(admin, "gamenet-system", pod("own", asks));
    assert.equal(own.metadata.name, "own");
  });

  await t.step(
    "cert-manager.yaml issues the Secret the Deployment mounts, for the webhook's Service",
    async () => {
      const objs = objectsOf(await Deno.readTextFile(join(DEPLOY, "cert-manager.yaml")));
      const serving = objs.find((o) =>
        o.kind === "Certificate" && o.metadata.name === "gamenet-webhook"
      );
      assert.ok(serving, "no Certificate gamenet-webhook (the webhook's inject-ca-from names it)");
      assert.equal(serving.metadata.namespace, "gamenet-system");
      assert.equal(serving.spec.secretName, "gamenet-webhook-tls");
      assert.ok(serving.spec.dnsNames.includes("gamenet-webhook.gamenet-system.svc"));
      // Every issuerRef names an Issuer of the file, and the chain ends self-signed.
      let cert: Obj | undefined = serving;
      for (let hops = 0; cert; hops++) {
        assert.ok(hops < 4, "issuer chain too long");
        const issuer = objs.find((o) =>
          o.kind === "Issuer" && o.metadata.name === cert!.spec.issuerRef.name
        );
        assert.ok(issuer, `no Issuer ${cert.spec.issuerRef.name}`);
        if (issuer.spec.selfSigned) break;
        cert = objs.find((o) =>
          o.kind === "Certificate" && o.spec.secretName === issuer.spec.ca.secretName
        );
        assert.ok(cert?.spec.isCA, `the CA Issuer ${issuer.metadata.name} has no CA Certificate`);
      }
    },
  );

  await t.step("the chart's crds/ are deploy/crds/, byte for byte", async () => {
    const names = async (dir: string) =>
      (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
    const plainCrds = join(DEPLOY, "crds");
    const chartCrds = join(CHART, "crds");
    assert.deepEqual(await names(chartCrds), await names(plainCrds));
    for (const name of await names(plainCrds)) {
      assert.equal(
        await Deno.readTextFile(join(chartCrds, name)),
        await Deno.readTextFile(join(plainCrds, name)),
        `deploy/helm/gamenet/crds/${name} differs from deploy/crds/${name}`,
      );
    }
  });

  const helm = await ensureHelm();
  await t.step({
    name: "helm lint --strict passes",
    fn: async () => {
      await run(helm, ["lint", "--strict", CHART, "--kube-version", "1.35.4"]);
    },
  });

  await t.step({
    name:
      "helm template renders the plain manifests and cert-manager.yaml, and they apply strictly",
    fn: async () => {
      const rendered = await renderChart(helm, [
        "--set",
        "certManager.enabled=true",
        "--include-crds",
      ]);
      const expected = [
        // Helm leaves the namespace to `helm install --create-namespace`.
        ...plain.filter((o) => o.kind !== "Namespace"),
        ...objectsOf(await Deno.readTextFile(join(DEPLOY, "cert-manager.yaml"))),
      ];
      assert.deepEqual(rendered.map(keyOf).sort(), expected.map(keyOf).sort());
      for (const want of expected) {
        const got = rendered.find((o) => keyOf(o) === keyOf(want))!;
        // Helm installs crds/ as they are: no template, no labels.
        if (want.kind === "CustomResourceDefinition") {
          assert.deepEqual(got, want, `${keyOf(want)} differs`);
          continue;
        }
        const chartOnly = withoutHelmExtras(got);
        // rbac.yaml, shared with the test harness, carries no labels; the chart labels all.
        if (!want.metadata.labels) {
          assert.deepEqual(chartOnly.metadata.labels, {
            "app.kubernetes.io/name": "gamenet",
            "app.kubernetes.io/instance": "gamenet",
          });
          delete chartOnly.metadata.labels;
        }
        assert.deepEqual(
          withParsedConfig(chartOnly),
          withParsedConfig(want),
          `${keyOf(want)} differs`,
        );
      }
      const warnings: string[] = [];
      for (const obj of rendered) {
        if (obj.apiVersion.startsWith("cert-manager.io/")) continue; // no CRDs here
        warnings.push(...await applyStrict(admin, obj));
      }
      assert.deepEqual(warnings, []);
    },
  });

  await t.step({
    name: "helm template: a hand-made CA goes into caBundle, base64-encoded",
    fn: async () => {
      const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
      const caFile = await Deno.makeTempFile({ suffix: ".crt" });
      try {
        await Deno.writeTextFile(caFile, pem);
        const rendered = objectsOf(
          await run(helm, [
            "template",
            "games",
            CHART,
            "--namespace",
            "games",
            "--kube-version",
            "1.35.4",
            "--set-file",
            `caBundle=${caFile}`,
          ]),
        );
        assert.ok(!rendered.some((o) => o.apiVersion.startsWith("cert-manager.io/")));
        const webhook = rendered.find((o) => o.kind === "MutatingWebhookConfiguration")!;
        assert.equal(webhook.metadata.name, "games-gamenet");
        assert.equal(webhook.metadata.annotations, undefined);
        const w = webhook.webhooks[0];
        assert.equal(atob(w.clientConfig.caBundle), pem.trim());
        assert.equal(w.clientConfig.service.name, "games-gamenet-webhook");
        assert.deepEqual(w.namespaceSelector.matchExpressions[0].values, ["kube-system", "games"]);
      } finally {
        await Deno.remove(caFile);
      }
    },
  });

  await t.step({
    name: "helm template with metrics.secure=false leaves /metrics open and asks for no reviews",
    fn: async () => {
      const rendered = await renderChart(helm, ["--set", "metrics.secure=false"]);
      const role = rendered.find((o) => o.kind === "ClusterRole" && o.metadata.name === "gamenet")!;
      const groups = role.rules.flatMap((r: Obj) => r.apiGroups ?? []);
      assert.ok(!groups.includes("authentication.k8s.io"));
      assert.ok(!groups.includes("authorization.k8s.io"));
      assert.ok(!rendered.some((o) => o.metadata.name === "gamenet-metrics-reader"));
      const d = rendered.find((o) => o.kind === "Deployment")!;
      assert.ok(d.spec.template.spec.containers[0].args.includes("--metrics-secure=false"));
    },
  });

  await t.step({
    name: "helm template refuses two replicas without leader election",
    fn: async () => {
      const err = await run(helm, [
        "template",
        "gamenet",
        CHART,
        "--kube-version",
        "1.35.4",
        "--set",
        "leaderElection.enabled=false",
      ]).then(() => undefined, (e: Error) => e);
      assert.match(String(err), /two leaders would hand out the same ports/);
    },
  });

  await t.step({
    name:
      "helm install creates a second release beside the first, and its notes say what TLS needs",
    fn: async () => {
      const home = await Deno.makeTempDir({ prefix: "gamenet-helm-" });
      try {
        // Helm's own client this time: its kube client, its ordering, its ownership labels.
        const env = {
          HELM_CACHE_HOME: join(home, "cache"),
          HELM_CONFIG_HOME: join(home, "config"),
          HELM_DATA_HOME: join(home, "data"),
        };
        const out = await run(helm, [
          "install",
          "games",
          CHART,
          "--namespace",
          "games",
          "--create-namespace",
          "--kubeconfig",
          cp.kubeconfigPath("admin"),
        ], env);
        assert.match(out, /STATUS: deployed/);
        assert.match(out, /Secret games-gamenet-webhook-tls/);
        assert.match(out, /caBundle is empty/);
        const d = await admin.request<Obj>(
          "GET",
          "/apis/apps/v1/namespaces/games/deployments/games-gamenet",
        );
        assert.equal(d.spec.template.spec.serviceAccountName, "games-gamenet");
      } finally {
        await Deno.remove(home, { recursive: true });
      }
    },
  });
});
