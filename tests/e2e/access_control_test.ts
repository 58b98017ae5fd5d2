/**
 * Who may look, on the real API server with gamenet's shipped RBAC: with
 * `--metrics-secure`, `/metrics` refuses a request without a token (401)
 * and a ServiceAccount token RBAC does not allow (403), and answers the
 * same token once it is bound to the shipped `gamenet-metrics-reader`;
 * gamenet asks the TokenReview and SubjectAccessReview as itself, so its
 * ClusterRole must allow them. The debug listener (`/allocations`) answers
 * on 127.0.0.1 and is not reachable on the machine's other address, while
 * the plain listener bound to every address is.
 */

import assert from "node:assert/strict";
import { ControlPlane, freePort } from "../controlplane/control_plane.ts";
import { GamenetProcess } from "./gamenet_process.ts";
import { acceptsConnections, eventually, nonLoopbackAddress } from "./helpers.ts";

const NS = "access-e2e";
const SA = "scraper";
const USER = `system:serviceaccount:${NS}:${SA}`;

Deno.test("access: /metrics asks for a token RBAC allows, /allocations stays on loopback", async (t) => {
  await using cp = await ControlPlane.start({ scheduler: false, controllerManager: false });
  const admin = cp.client("admin");
  await admin.request("POST", "/api/v1/namespaces", { body: { metadata: { name: NS } } });
  await admin.request("POST", `/api/v1/namespaces/${NS}/serviceaccounts`, {
    body: { metadata: { name: SA } },
  });
  // A bound token, as the kubelet mounts one into Prometheus' Pod.
  const { status } = await admin.request<{ status: { token: string } }>(
    "POST",
    `/api/v1/namespaces/${NS}/serviceaccounts/${SA}/token`,
    { body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: {} } },
  );
  const token = status.token;

  const httpPort = freePort();
  await using gamenet = await GamenetProcess.start(cp, {
    httpPort,
    registerWebhook: false,
    // Every address, as in a Pod: the debug listener keeps to loopback all the same.
    args: ["--metrics-secure=true", `--http-addr=0.0.0.0:${httpPort}`],
  });
  await gamenet.waitReady();
  const scrape = (headers: Record<string, string> = {}) => gamenet.get("/metrics", headers);

  await t.step("no token: 401, asking for one", async () => {
    const res = await scrape();
    assert.equal(res.status, 401);
    assert.match(await res.text(), /needs an "Authorization: Bearer <token>" header/);
  });

  await t.step("a token the API server does not know: 401", async () => {
    const res = await scrape({ authorization: "Bearer not-a-token-anyone-issued" });
    assert.equal(res.status, 401);
    assert.match(await res.text(), /the API server did not accept the bearer token/);
  });

  await t.step("a ServiceAccount token without the permission: 403 naming the user", async () => {
    const res = await scrape({ authorization: `Bearer ${token}` });
    const text = await res.text();
    assert.equal(res.status, 403, text);
    assert.match(text, new RegExp(`user "${USER}" may not get /metrics`));
    assert.match(text, /gamenet-metrics-reader/);
  });

  await t.step("the same token bound to gamenet-metrics-reader: 200 with the metrics", async () => {
    await admin.request("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
      body: {
        metadata: { name: "access-e2e-scraper" },
        roleRef: {
          apiGroup: "rbac.authorization.k8s.io",
          kind: "ClusterRole",
          name: "gamenet-metrics-reader",
        },
        subjects: [{ kind: "ServiceAccount", name: SA, namespace: NS }],
      },
    });
    // The refusal is kept a moment, and RBAC's cache catches up with the binding.
    const text = await eventually("/metrics to answer the bound token", async () => {
      const res = await scrape({ authorization: `Bearer ${token}` });
      const body = await res.text();
      return res.status === 200 ? body : undefined;
    }, 20_000);
    assert.match(text, /^gamenet_workqueue_depth \d+$/m);
  });

  await t.step("gamenet logged the refusals, never the token", async () => {
    const log = await gamenet.logText();
    assert.match(log, new RegExp(`refused user "${USER}"`));
    assert.ok(!log.includes(token), "the token is in gamenet's log");
    assert.ok(!log.includes("not-a-token-anyone-issued"), "a token is in gamenet's log");
  });

  await t.step("/allocations answers on 127.0.0.1, on the debug port only", async () => {
    const res = await gamenet.debugGet("/allocations");
    assert.equal(res.status, 200);
    assert.deepEqual((await res.json()).allocations, []);
    const plain = await gamenet.get("/allocations");
    assert.equal(plain.status, 404);
    assert.match(await plain.text(), /\/allocations is on the debug listener/);
  });

  const address = nonLoopbackAddress();
  await t.step({
    name: address
      ? `the debug port is not reachable on the machine's address ${address}`
      : "the debug port off loopback: skipped, this machine has no non-loopback address",
    ignore: address === undefined,
    fn: async () => {
      // The plain listener there proves the address is reachable at all.
      assert.ok(await acceptsConnections(address!, gamenet.httpPort), "plain port on " + address);
      assert.equal(await acceptsConnections(address!, gamenet.debugPort), false);
      assert.ok(await acceptsConnections("127.0.0.1", gamenet.debugPort));
    },
  });
});
