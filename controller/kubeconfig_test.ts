import assert from "node:assert/strict";
import { delimiter, join } from "node:path";
import { KubeconfigError, loadKubeconfig } from "./kubeconfig.ts";

const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const CERT = "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----\n";

/** A kubeconfig whose context `ctx` uses cluster `c1` and user `u1`, given as indented YAML. */
function kubeconfig(cluster: string, user: string, current = "ctx"): string {
  return `apiVersion: v1
kind: Config
current-context: ${current}
contexts:
- name: other
  context: {cluster: other, user: other}
- name: ctx
  context: {cluster: c1, user: u1}
clusters:
- name: other
  cluster: {server: "https://other:6443"}
- name: c1
  cluster:
${cluster}
users:
- name: other
  user: {token: other-token}
- name: u1
  user:
${user}
`;
}

/** Runs `body` with a temp folder, removed after. */
async function inTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "gamenet-kubeconfig-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function load(text: string): Promise<Awaited<ReturnType<typeof loadKubeconfig>>> {
  let options;
  await inTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "config"), text);
    options = await loadKubeconfig(join(dir, "config"));
  });
  return options!;
}

Deno.test("loadKubeconfig() takes server, embedded CA and token of the current context", async () => {
  const options = await load(kubeconfig(
    `    server: https://127.0.0.1:6443/\n    certificate-authority-data: ${btoa(CA)}`,
    "    token: abc",
  ));
  assert.deepEqual(options, {
    server: "https://127.0.0.1:6443",
    caPem: CA,
    certPem: undefined,
    keyPem: undefined,
    proxyUrl: undefined,
    token: "abc",
  });
});

Deno.test("loadKubeconfig() takes client-certificate-data and client-key-data", async () => {
  const options = await load(kubeconfig(
    `    server: https://[::1]:6443\n    certificate-authority-data: ${btoa(CA)}`,
    `    client-certificate-data: ${btoa(CERT)}\n    client-key-data: ${btoa(KEY)}`,
  ));
  assert.equal(options.certPem, CERT);
  assert.equal(options.keyPem, KEY);
  assert.equal(options.token, undefined);
  assert.equal(options.credentials, undefined);
});

Deno.test("loadKubeconfig() reads CA, certificate, key and token files relative to the kubeconfig's folder", async () => {
  await inTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "pki"));
    await Deno.writeTextFile(join(dir, "pki", "ca.crt"), CA);
    await Deno.writeTextFile(join(dir, "pki", "user.crt"), CERT);
    await Deno.writeTextFile(join(dir, "pki", "user.key"), KEY);
    await Deno.writeTextFile(
      join(dir, "config"),
      kubeconfig(
        "    server: https://a:6443\n    certificate-authority: pki/ca.crt\n    proxy-url: http://proxy:3128",
        "    client-certificate: pki/user.crt\n    client-key: pki/user.key\n    tokenFile: pki/token",
      ),
    );
    assert.deepEqual(await loadKubeconfig(join(dir, "config")), {
      server: "https://a:6443",
      caPem: CA,
      certPem: CERT,
      keyPem: KEY,
      proxyUrl: "http://proxy:3128",
      // Not read here: the client reads it before requests, as it rotates.
      tokenFile: join(dir, "pki", "token"),
    });
  });
});

Deno.test("loadKubeconfig() merges a KUBECONFIG list: the first of a name wins, as kubectl merges", async () => {
  await inTempDir(async (dir) => {
    const first = join(dir, "first");
    const second = join(dir, "second");
    // No current-context in the first file, and its own "u1": the second's context picks it.
    await Deno.writeTextFile(
      first,
      "users:\n- name: u1\n  user: {token: from-first}\nclusters:\n- name: c1\n  cluster: {server: 'https://first:6443'}\n",
    );
    await Deno.writeTextFile(second, kubeconfig("    server: https://second:6443", "    token: t"));
    const options = await loadKubeconfig(`${first}${delimiter}${second}`);
    assert.equal(options.server, "https://first:6443");
    assert.equal(options.token, "from-first");
  });
});

Deno.test("loadKubeconfig() refuses what gamenet cannot use, saying why", async () => {
  const cases: [string, RegExp][] = [
    [
      kubeconfig("    server: https://a:6443", "    token: t", "missing"),
      /: no context named "missing"/,
    ],
    [
      "current-context: x\ncontexts:\n- name: x\n  context: {cluster: nowhere, user: u}\n",
      /context "x" names cluster "nowhere", which is not there/,
    ],
    [
      "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: nobody}\nclusters:\n- name: c\n  cluster: {server: 'https://a:6443'}\n",
      /context "x" names user "nobody", which is not there/,
    ],
    [
      kubeconfig("    server: a:6443", "    token: t"),
      /cluster "c1" has server "a:6443": write https:\/\/host:port/,
    ],
    [
      kubeconfig("    server: https://a:6443\n    insecure-skip-tls-verify: true", "    token: t"),
      /insecure-skip-tls-verify is not supported: give the cluster's CA/,
    ],
    [
      kubeconfig("    server: https://a:6443\n    tls-server-name: kubernetes", "    token: t"),
      /tls-server-name is not supported/,
    ],
    [
      kubeconfig("    server: https://a:6443", `    client-certificate-data: ${btoa(CERT)}`),
      /user "u1" has a client certificate but no client-key/,
    ],
    [
      kubeconfig("    server: https://a:6443", "    username: admin\n    password: secret"),
      /user "u1": username and password \(basic authentication\) are not supported/,
    ],
    [
      kubeconfig("    server: https://a:6443", "    auth-provider: {name: gcp}"),
      /auth-provider "gcp" is not supported: use the exec plugin that replaces it/,
    ],
    [
      kubeconfig(
        "    server: https://a:6443",
        "    exec: {apiVersion: client.authentication.k8s.io/v1alpha1, command: aws}",
      ),
      /exec apiVersion "client.authentication.k8s.io\/v1alpha1" is not supported: write client.authentication.k8s.io\/v1 or client.authentication.k8s.io\/v1beta1/,
    ],
    [
      kubeconfig("    server: https://a:6443", "    as: someone\n    token: t"),
      /"as" \(impersonation\) is not supported/,
    ],
    [
      kubeconfig("    server: https://a:6443", "    {}"),
      /user "u1" has no credentials: give it a token, tokenFile, client-certificate and client-key, or an exec plugin/,
    ],
    [
      kubeconfig("    server: https://a:6443", "    client-certificate: missing.crt"),
      /missing\.crt/,
    ],
    ["current-context: [", /not YAML/],
    ["- a list", /not a kubeconfig/],
    ["clusters:\n- name: c\n  cluster: {}\n", /clusters\[0\]\.cluster\.server is missing/],
    ["kind: Config", /no current-context/],
  ];
  for (const [text, message] of cases) {
    await assert.rejects(load(text), (err: Error) => {
      assert.ok(err instanceof KubeconfigError, `${err.name}: ${err.message}`);
      assert.match(err.message, message);
      assert.match(err.message, /^Kubeconfig \/.*config: /);
      return true;
    });
  }
});

Deno.test("loadKubeconfig() names the file it cannot read", async () => {
  await assert.rejects(
    loadKubeconfig("/nonexistent/kubeconfig"),
    /^KubeconfigError: Kubeconfig \/nonexistent\/kubeconfig: /,
  );
});
