/**
 * Kubeconfigs as users have them, on the real API server: client
 * certificates from kind or kubeadm (embedded, or files beside the
 * kubeconfig; RSA PKCS#1 and EC keys), a token file, and exec credential
 * plugins as EKS, GKE, ACK and TKE write them (a token that expires, one
 * the API server refuses, a client certificate, a plugin that fails). Each
 * identity is read back from the API server (a SelfSubjectReview, and RBAC
 * deciding by the certificate's group); gamenet itself runs out of cluster
 * with a client-certificate kubeconfig and becomes ready, and in cluster
 * with only a service account's token and CA, as the benchmarks run it.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ControlPlane, GAMENET_USER } from "../controlplane/control_plane.ts";
import { createClientCertificate } from "../controlplane/pki.ts";
import { KubeApiError, KubeClient } from "../../controller/kube_client.ts";
import { GamenetProcess } from "./gamenet_process.ts";
import { eventually } from "./helpers.ts";

const NS = "kubeconfig-e2e";

/**
 * A kubeconfig whose current context `mine` reaches `cp` as the user whose
 * fields are the YAML lines `user` (the cluster's CA embedded, unless
 * `cluster` gives its lines). Another context comes first, so that
 * current-context is what picks `mine`.
 */
function kubeconfig(cp: ControlPlane, user: string[], cluster: string[] = []): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    "current-context: mine",
    "clusters:",
    "- name: elsewhere",
    "  cluster: {server: 'https://127.0.0.1:1'}",
    "- name: test",
    "  cluster:",
    `    server: ${cp.server}`,
    ...(cluster.length ? cluster : [`    certificate-authority-data: ${btoa(cp.ca.certPem)}`]),
    "contexts:",
    "- name: theirs",
    "  context: {cluster: elsewhere, user: nobody}",
    "- name: mine",
    "  context: {cluster: test, user: me}",
    "users:",
    "- name: nobody",
    "  user: {token: nothing}",
    "- name: me",
    "  user:",
    ...user,
    "",
  ].join("\n");
}

/** Who the API server says `client` is. */
async function whoAmI(client: KubeClient): Promise<{ username: string; groups: string[] }> {
  const review = await client.request<
    { status: { userInfo: { username: string; groups: string[] } } }
  >(
    "POST",
    "/apis/authentication.k8s.io/v1/selfsubjectreviews",
    { body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" } },
  );
  return review.status.userInfo;
}

/** The exec plugin of the tests: a shell script that logs each run and answers as `answer` says. */
async function writePlugin(dir: string, answer: string): Promise<string> {
  const file = join(dir, "plugin.sh");
  await Deno.writeTextFile(
    file,
    `#!/bin/bash
set -eu
# Each run appends what client-go's contract gives a plugin: KUBERNETES_EXEC_INFO.
printf '%s\\n' "\${KUBERNETES_EXEC_INFO:-none}" >> "${join(dir, "runs")}"
run=$(wc -l < "${join(dir, "runs")}")
${answer}
`,
  );
  await Deno.chmod(file, 0o755);
  return file;
}

/** One line per run of the plugin of `dir`: the KUBERNETES_EXEC_INFO it was given. */
async function runs(dir: string): Promise<string[]> {
  try {
    return (await Deno.readTextFile(join(dir, "runs"))).trimEnd().split("\n");
  } catch {
    return [];
  }
}

Deno.test("Kubeconfigs with client certificates, a token file and exec plugins work on the real API server", async (t) => {
  await using cp = await ControlPlane.start({ scheduler: false, controllerManager: false });
  const admin = cp.client("admin");
  // No controller-manager: the namespace has no default ServiceAccount, and needs none (no Pods).
  await admin.request("POST", "/api/v1/namespaces", { body: { metadata: { name: NS } } });
  const dir = join(cp.dir, "kubeconfig-e2e");
  await Deno.mkdir(dir);

  await t.step("a client certificate authenticates as its CN, in the groups of its O", async () => {
    const jane = await createClientCertificate(dir, cp.ca, "jane", {
      user: "jane",
      groups: ["game-admins"],
      key: "rsa-pkcs1",
    });
    // Embedded, as kind writes it: RSA PKCS#1 key.
    const embedded = join(dir, "embedded.kubeconfig");
    await Deno.writeTextFile(
      embedded,
      kubeconfig(cp, [
        `    client-certificate-data: ${btoa(jane.certPem)}`,
        `    client-key-data: ${btoa(jane.keyPem)}`,
      ]),
    );
    // Files beside the kubeconfig, relative, as kubeadm's admin.conf may name them; EC key.
    const ops = await createClientCertificate(dir, cp.ca, "ops", {
      user: "olga",
      groups: ["ops", "game-admins"],
    });
    const files = join(dir, "files.kubeconfig");
    await Deno.writeTextFile(
      files,
      kubeconfig(
        cp,
        ["    client-certificate: ops.crt", "    client-key: ops.key"],
        ["    certificate-authority: ca-copy.crt"],
      ),
    );
    await Deno.writeTextFile(join(dir, "ca-copy.crt"), cp.ca.certPem);
    assert.ok(ops.keyPem.includes("BEGIN PRIVATE KEY") && jane.keyPem.includes("RSA PRIVATE KEY"));

    for (
      const [path, user, groups] of [[embedded, "jane", ["game-admins"]], [files, "olga", [
        "ops",
        "game-admins",
      ]]] as const
    ) {
      const client = await KubeClient.fromKubeconfigFile(path);
      try {
        const me = await whoAmI(client);
        assert.equal(me.username, user);
        for (const g of [...groups, "system:authenticated"]) {
          assert.ok(me.groups.includes(g), `${user} in ${g}: ${me.groups}`);
        }
      } finally {
        client.close();
      }
    }

    // RBAC decides by the certificate's identity: its group may read Pods in NS, nowhere else.
    const client = await KubeClient.fromKubeconfigFile(embedded);
    try {
      await assert.rejects(client.request("GET", `/api/v1/namespaces/${NS}/pods`), (err: Error) => {
        assert.ok(err instanceof KubeApiError && err.status === 403, String(err));
        assert.match(err.message, /User "jane" cannot list resource "pods"/);
        return true;
      });
      const rbac = `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}`;
      await admin.request("POST", `${rbac}/roles`, {
        body: {
          metadata: { name: "pod-reader" },
          rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["get", "list"] }],
        },
      });
      await admin.request("POST", `${rbac}/rolebindings`, {
        body: {
          metadata: { name: "game-admins-read-pods" },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "pod-reader" },
          subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "game-admins" }],
        },
      });
      await eventually(
        "jane lists Pods in her namespace",
        () => client.request<{ items: unknown[] }>("GET", `/api/v1/namespaces/${NS}/pods`),
      );
      await assert.rejects(client.request("GET", "/api/v1/namespaces/default/pods"), /cannot list/);
    } finally {
      client.close();
    }
  });

  await t.step("a tokenFile beside the kubeconfig is read", async () => {
    await Deno.writeTextFile(join(dir, "token"), `${cp.token("gamenet")}\n`);
    const path = join(dir, "token-file.kubeconfig");
    await Deno.writeTextFile(path, kubeconfig(cp, ["    tokenFile: token"]));
    const client = await KubeClient.fromKubeconfigFile(path);
    try {
      assert.equal((await whoAmI(client)).username, GAMENET_USER);
    } finally {
      client.close();
    }
  });

  await t.step(
    "an exec plugin runs again after its credential expires, and after a 401",
    async () => {
      const execDir = join(dir, "exec");
      await Deno.mkdir(execDir);
      // First run: a token the API server refuses, valid for an hour by its
      // own account; later runs: the real one, for 4 seconds.
      await writePlugin(
        execDir,
        `if [ "$run" = 1 ]; then token=refused; expires=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
else token=$GOOD_TOKEN; expires=$(date -u -d '+4 seconds' +%Y-%m-%dT%H:%M:%SZ); fi
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"%s"}}' "$token" "$expires"`,
      );
      const path = join(execDir, "exec.kubeconfig");
      await Deno.writeTextFile(
        path,
        kubeconfig(cp, [
          "    exec:",
          "      apiVersion: client.authentication.k8s.io/v1",
          // Relative with a slash: resolved against the kubeconfig's folder, as client-go does.
          "      command: ./plugin.sh",
          "      env:",
          `      - {name: GOOD_TOKEN, value: ${cp.token("gamenet")}}`,
          "      provideClusterInfo: true",
          "      interactiveMode: Never",
        ]),
      );
      const client = await KubeClient.fromKubeconfigFile(path);
      try {
        assert.equal((await runs(execDir)).length, 1, "the plugin runs once at load");
        // The refused token: one 401, the plugin again, the request succeeds.
        assert.equal((await whoAmI(client)).username, GAMENET_USER);
        assert.equal((await runs(execDir)).length, 2, "a 401 runs the plugin again");
        // While valid, the credential is reused, by a burst too.
        await Promise.all([1, 2, 3, 4, 5].map(() => whoAmI(client)));
        assert.equal((await runs(execDir)).length, 2, "no run while the credential is valid");
        // Expired: the next request runs the plugin again, and still succeeds.
        await new Promise((r) => setTimeout(r, 4_500));
        assert.equal((await whoAmI(client)).username, GAMENET_USER);
        assert.equal((await runs(execDir)).length, 3, "a run after expiry");

        const info = JSON.parse((await runs(execDir))[0]);
        assert.equal(info.apiVersion, "client.authentication.k8s.io/v1");
        assert.equal(info.kind, "ExecCredential");
        assert.equal(info.spec.interactive, false);
        assert.equal(info.spec.cluster.server, cp.server);
        assert.equal(atob(info.spec.cluster["certificate-authority-data"]), cp.ca.certPem);
      } finally {
        client.close();
      }
    },
  );

  await t.step("an exec plugin's client certificate authenticates as its CN", async () => {
    const execDir = join(dir, "exec-certificate");
    await Deno.mkdir(execDir);
    const bob = await createClientCertificate(execDir, cp.ca, "bob", {
      user: "bob",
      groups: ["game-admins"],
    });
    // As ack-ram-tool's certificate mode answers: PEM in the status, no token.
    const status = JSON.stringify({
      apiVersion: "client.authentication.k8s.io/v1beta1",
      kind: "ExecCredential",
      status: { clientCertificateData: bob.certPem, clientKeyData: bob.keyPem },
    });
    await Deno.writeTextFile(join(execDir, "credential.json"), status);
    await writePlugin(execDir, `cat "${join(execDir, "credential.json")}"`);
    const path = join(execDir, "exec.kubeconfig");
    await Deno.writeTextFile(
      path,
      kubeconfig(cp, [
        "    exec:",
        "      apiVersion: client.authentication.k8s.io/v1beta1",
        `      command: ${join(execDir, "plugin.sh")}`,
      ]),
    );
    const client = await KubeClient.fromKubeconfigFile(path);
    try {
      assert.equal((await whoAmI(client)).username, "bob");
    } finally {
      client.close();
    }
  });

  await t.step(
    "gamenet runs out of cluster with a client-certificate kubeconfig and becomes ready",
    async () => {
      // The identity the shipped RBAC binds, as a certificate instead of a token.
      const sa = await createClientCertificate(dir, cp.ca, "gamenet-sa", {
        user: GAMENET_USER,
        groups: ["system:serviceaccounts", "system:serviceaccounts:gamenet-system"],
      });
      const path = join(dir, "gamenet.kubeconfig");
      await Deno.writeTextFile(
        path,
        kubeconfig(cp, [`    client-certificate: ${sa.certFile}`, `    client-key: ${sa.keyFile}`]),
      );
      await using gamenet = await GamenetProcess.start(cp, {
        identity: "kubeconfig-e2e",
        args: [`--kubeconfig=${path}`],
      });
      await gamenet.waitReady();
      const lease = await admin.request<{ spec: { holderIdentity?: string } }>(
        "GET",
        "/apis/coordination.k8s.io/v1/namespaces/gamenet-system/leases/gamenet",
      );
      assert.equal(lease.spec.holderIdentity, "kubeconfig-e2e", "it wrote its Lease as that user");
      const log = await gamenet.logText();
      assert.doesNotMatch(
        log,
        /DeprecationWarning/,
        "no warning of client-node's import in the log",
      );
    },
  );

  await t.step(
    "gamenet runs in cluster with only the service account's token and CA, and becomes ready",
    async () => {
      // As a shipped Pod reaches the API server: the benchmarks start it so.
      await using gamenet = await GamenetProcess.start(cp, {
        identity: "in-cluster-e2e",
        inCluster: { server: cp.server, token: cp.token("gamenet"), caPem: cp.ca.certPem },
      });
      await gamenet.waitReady();
      const lease = await admin.request<{ spec: { holderIdentity?: string } }>(
        "GET",
        "/apis/coordination.k8s.io/v1/namespaces/gamenet-system/leases/gamenet",
      );
      assert.equal(lease.spec.holderIdentity, "in-cluster-e2e", "it wrote its Lease");
      const cmdline = await Deno.readTextFile(`/proc/${gamenet.pid}/cmdline`);
      assert.doesNotMatch(cmdline, /--kubeconfig/, "it was given no kubeconfig");
    },
  );
});

Deno.test("An exec plugin that fails stops the client at load with the plugin's own words", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gamenet-exec-" });
  try {
    const cp = { server: "https://127.0.0.1:1", ca: { certPem: "unused" } } as ControlPlane;
    const path = join(dir, "exec.kubeconfig");
    const exec = (command: string, extra: string[] = []) =>
      Deno.writeTextFile(
        path,
        kubeconfig(cp, [
          "    exec:",
          "      apiVersion: client.authentication.k8s.io/v1beta1",
          `      command: ${command}`,
          ...extra,
        ]),
      );

    await writePlugin(dir, `echo "token service unreachable: run 'login' first" >&2; exit 3`);
    await exec(join(dir, "plugin.sh"));
    await assert.rejects(
      KubeClient.fromKubeconfigFile(path),
      /user "me": exec plugin ".*plugin\.sh" failed: it exited with an error: token service unreachable: run 'login' first/,
    );

    await writePlugin(dir, `echo "not json"`);
    await assert.rejects(KubeClient.fromKubeconfigFile(path), /failed: it did not print JSON/);

    await writePlugin(
      dir,
      `echo '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{}}'`,
    );
    await assert.rejects(
      KubeClient.fromKubeconfigFile(path),
      /printed an ExecCredential with neither status\.token/,
    );

    await exec("gamenet-no-such-plugin", ["      installHint: Install it with 'get-plugin'."]);
    await assert.rejects(
      KubeClient.fromKubeconfigFile(path),
      /exec plugin "gamenet-no-such-plugin" failed: .*\n?Install it with 'get-plugin'\./,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
