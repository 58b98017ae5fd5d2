import assert from "node:assert/strict";
import { createKubeReviewer } from "./access_reviewer.ts";

/** A client answering each POST with the next reply, recording what was sent. */
function recordingClient(replies: unknown[]) {
  const sent: { method: string; path: string; body: unknown }[] = [];
  return {
    sent,
    request<T>(method: string, path: string, options: { body?: unknown } = {}): Promise<T> {
      sent.push({ method, path, body: options.body });
      return Promise.resolve(replies.shift() as T);
    },
  };
}

Deno.test("createKubeReviewer().authenticate() sends a TokenReview and returns its user", async () => {
  const user = { username: "system:serviceaccount:monitoring:prometheus", uid: "u-1" };
  const client = recordingClient([{ status: { authenticated: true, user } }]);
  const answer = await createKubeReviewer(client).authenticate("tok");
  assert.deepEqual(answer, { authenticated: true, user });
  assert.deepEqual(client.sent, [{
    method: "POST",
    path: "/apis/authentication.k8s.io/v1/tokenreviews",
    body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token: "tok" } },
  }]);
});

Deno.test("createKubeReviewer().authenticate() returns the API server's error for a refused token", async () => {
  const client = recordingClient([
    { status: { authenticated: false, error: "invalid bearer token" } },
    { status: {} },
  ]);
  const reviewer = createKubeReviewer(client);
  assert.deepEqual(await reviewer.authenticate("x"), {
    authenticated: false,
    error: "invalid bearer token",
  });
  assert.deepEqual(await reviewer.authenticate("y"), { authenticated: false, error: undefined });
});

Deno.test("createKubeReviewer().authorize() sends a SubjectAccessReview of the non-resource URL as the user", async () => {
  const client = recordingClient([
    { status: { allowed: true, reason: 'RBAC: allowed by ClusterRoleBinding "scrape"' } },
    { status: { allowed: false, evaluationError: "no RBAC policy matched" } },
  ]);
  const reviewer = createKubeReviewer(client);
  const user = {
    username: "system:serviceaccount:monitoring:prometheus",
    uid: "u-1",
    groups: ["system:serviceaccounts", "system:authenticated"],
    extra: { "authentication.kubernetes.io/pod-name": ["prometheus-0"] },
  };
  const attributes = { path: "/metrics", verb: "get" };
  assert.deepEqual(await reviewer.authorize(user, attributes), {
    allowed: true,
    reason: 'RBAC: allowed by ClusterRoleBinding "scrape"',
  });
  assert.deepEqual(await reviewer.authorize(user, attributes), {
    allowed: false,
    reason: "no RBAC policy matched",
  });
  assert.deepEqual(client.sent[0], {
    method: "POST",
    path: "/apis/authorization.k8s.io/v1/subjectaccessreviews",
    body: {
      apiVersion: "authorization.k8s.io/v1",
      kind: "SubjectAccessReview",
      spec: {
        nonResourceAttributes: { path: "/metrics", verb: "get" },
        user: user.username,
        uid: "u-1",
        groups: user.groups,
        extra: user.extra,
      },
    },
  });
});

Deno.test("createKubeReviewer().authorize() is not allowed when an authorizer denied", async () => {
  const client = recordingClient([{ status: { allowed: true, denied: true } }]);
  const answer = await createKubeReviewer(client).authorize({ username: "u" }, {
    path: "/metrics",
    verb: "get",
  });
  assert.equal(answer.allowed, false);
});
