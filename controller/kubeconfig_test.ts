import assert from "node:assert/strict";
import { join } from "node:path";
import { KubeconfigError, parseKubeconfig, readKubeconfig } from "./kubeconfig.ts";

const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

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

Deno.test("parseKubeconfig() takes server, embedded CA and token of the current context", () => {
  const text = kubeconfig(
    `    server: https://127.0.0.1:6443\n    certificate-authority-data: ${btoa(CA)}`,
    "    token: abc",
  );
  assert.deepEqual(parseKubeconfig(text, "/x/config"), {
    server: "https://127.0.0.1:6443",
    caPem: CA,
    token: "abc",
  });
});

Deno.test("readKubeconfig() resolves CA and token files against the kubeconfig's folder", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(join(dir, "ca.crt"), CA);
    const path = join(dir, "config");
    Deno.writeTextFileSync(
      path,
      kubeconfig(
        "    server: https://[::1]:6443\n    certificate-authority: ca.crt",
        "    tokenFile: /var/run/token",
      ),
    );
    assert.deepEqual(readKubeconfig(path), {
      server: "https://[::1]:6443",
      caPem: CA,
      tokenFile: "/var/run/token",
    });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("parseKubeconfig() refuses what gamenet cannot use, saying why", () => {
  const cases: [string, RegExp][] = [
    [
      kubeconfig(
        "    server: https://a:6443",
        "    client-certificate-data: eA==\n    client-key-data: eA==",
      ),
      /user "u1" has no token or tokenFile \(it has client-certificate-data, client-key-data\): gamenet authenticates with bearer tokens only/,
    ],
    [
      kubeconfig("    server: https://a:6443", "    token: t", "missing"),
      /no context named "missing"/,
    ],
    [kubeconfig("    server: a:6443", "    token: t"), /cluster "c1" has no https:\/\/ server/],
    [
      kubeconfig("    server: https://a:6443\n    insecure-skip-tls-verify: true", "    token: t"),
      /insecure-skip-tls-verify is not supported/,
    ],
    ["current-context: [", /not YAML/],
    ["kind: Config", /no current-context/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseKubeconfig(text, "cfg"), (err: Error) => {
      assert.ok(err instanceof KubeconfigError);
      assert.match(err.message, message);
      return true;
    });
  }
});

Deno.test("readKubeconfig() names the file it cannot read", () => {
  assert.throws(() => readKubeconfig("/nonexistent/kubeconfig"), /\/nonexistent\/kubeconfig: /);
});
