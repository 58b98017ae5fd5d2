import assert from "node:assert/strict";
import { Hono } from "hono";
import type { AccessReviewer, NonResourceAttributes, ReviewedUser } from "./access_reviewer.ts";
import { createMetricsAuth, type MetricsAuthOptions } from "./metrics_auth.ts";

const SCRAPER = "tok-scraper-0123456789";
const STRANGER = "tok-stranger-0123456789";

/** A reviewer knowing two tokens: the scraper may get /metrics, the stranger may not. */
class FakeReviewer implements AccessReviewer {
  authentications = 0;
  authorizations: [ReviewedUser, NonResourceAttributes][] = [];
  failWith?: Error;

  authenticate(token: string) {
    this.authentications++;
    if (this.failWith) return Promise.reject(this.failWith);
    const users: Record<string, ReviewedUser> = {
      [SCRAPER]: {
        username: "system:serviceaccount:monitoring:prometheus",
        uid: "u-1",
        groups: ["system:serviceaccounts"],
        extra: { "authentication.kubernetes.io/pod-name": ["prometheus-0"] },
      },
      [STRANGER]: { username: "system:serviceaccount:games:stranger", groups: [] },
    };
    const user = users[token];
    return Promise.resolve(
      user
        ? { authenticated: true as const, user }
        : { authenticated: false as const, error: "token lookup failed" },
    );
  }

  authorize(user: ReviewedUser, attributes: NonResourceAttributes) {
    this.authorizations.push([user, attributes]);
    const allowed = user.username.endsWith(":prometheus");
    return Promise.resolve({ allowed, reason: allowed ? "RBAC: allowed" : undefined });
  }
}

function guarded(reviewer: AccessReviewer, options: Partial<MetricsAuthOptions> = {}) {
  const logs: string[] = [];
  const app = new Hono();
  app.use("/metrics", createMetricsAuth({ reviewer, log: (m) => logs.push(m), ...options }));
  app.get("/metrics", (c) => c.text("gamenet_workqueue_depth 0\n"));
  const scrape = (token?: string, header = token && `Bearer ${token}`) =>
    app.request("/metrics", { headers: header ? { authorization: header } : {} });
  return { app, logs, scrape };
}

Deno.test("createMetricsAuth() answers 401 without a bearer token, asking no one", async () => {
  const reviewer = new FakeReviewer();
  const { scrape } = guarded(reviewer);
  for (const res of [await scrape(), await scrape(undefined, "Basic dXNlcjpwYXNz")]) {
    assert.equal(res.status, 401);
    assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="gamenet"');
    assert.match(await res.text(), /needs an "Authorization: Bearer <token>" header/);
  }
  assert.equal(reviewer.authentications, 0);
});

Deno.test("createMetricsAuth() answers 401 for a token the TokenReview does not accept", async () => {
  const { scrape, logs } = guarded(new FakeReviewer());
  const res = await scrape("tok-forged-0123456789");
  assert.equal(res.status, 401);
  assert.equal(
    await res.text(),
    "Unauthorized: the API server did not accept the bearer token " +
      "(TokenReview: token lookup failed)\n",
  );
  assert.equal(logs.length, 1);
});

Deno.test("createMetricsAuth() answers 403 naming the user and the permission it lacks", async () => {
  const { scrape } = guarded(new FakeReviewer());
  const res = await scrape(STRANGER);
  assert.equal(res.status, 403);
  assert.equal(
    await res.text(),
    'Forbidden: user "system:serviceaccount:games:stranger" may not get /metrics: bind it to ' +
      "a ClusterRole allowing get on the non-resource URL /metrics " +
      "(deploy/ ships gamenet-metrics-reader)\n",
  );
});

Deno.test("createMetricsAuth() lets an allowed token through, reviewing get on the path as the TokenReview's user", async () => {
  const reviewer = new FakeReviewer();
  const { scrape } = guarded(reviewer);
  const res = await scrape(SCRAPER);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "gamenet_workqueue_depth 0\n");
  assert.deepEqual(reviewer.authorizations, [[
    {
      username: "system:serviceaccount:monitoring:prometheus",
      uid: "u-1",
      groups: ["system:serviceaccounts"],
      extra: { "authentication.kubernetes.io/pod-name": ["prometheus-0"] },
    },
    { path: "/metrics", verb: "get" },
  ]]);
});

Deno.test("createMetricsAuth() answers 500 with the reason when the reviews fail", async () => {
  const reviewer = new FakeReviewer();
  reviewer.failWith = new Error("POST /apis/authentication.k8s.io/v1/tokenreviews: forbidden");
  const { scrape, logs } = guarded(reviewer);
  const res = await scrape(SCRAPER);
  assert.equal(res.status, 500);
  assert.equal(
    await res.text(),
    "Internal error: cannot check the bearer token with the API server: " +
      "POST /apis/authentication.k8s.io/v1/tokenreviews: forbidden\n",
  );
  assert.deepEqual(logs, [
    "GET /metrics: cannot check the bearer token: " +
    "POST /apis/authentication.k8s.io/v1/tokenreviews: forbidden",
  ]);
  // A failure is not kept: the next scrape asks again.
  reviewer.failWith = undefined;
  assert.equal((await scrape(SCRAPER)).status, 200);
  assert.equal(reviewer.authentications, 2);
});

Deno.test("createMetricsAuth() keeps an allowed decision for allowedTtlMs, a refusal for deniedTtlMs", async () => {
  const reviewer = new FakeReviewer();
  let now = 0;
  const { scrape } = guarded(reviewer, {
    allowedTtlMs: 10_000,
    deniedTtlMs: 2_000,
    now: () => now,
  });
  assert.equal((await scrape(SCRAPER)).status, 200);
  assert.equal((await scrape(STRANGER)).status, 403);
  assert.equal(reviewer.authentications, 2);
  now = 1_999;
  assert.equal((await scrape(SCRAPER)).status, 200);
  assert.equal((await scrape(STRANGER)).status, 403);
  assert.equal(reviewer.authentications, 2, "both kept");
  now = 2_000;
  assert.equal((await scrape(STRANGER)).status, 403);
  assert.equal((await scrape(SCRAPER)).status, 200);
  assert.equal(reviewer.authentications, 3, "the refusal asked again, the allowed one kept");
  now = 10_000;
  assert.equal((await scrape(SCRAPER)).status, 200);
  assert.equal(reviewer.authentications, 4);
  assert.equal(reviewer.authorizations.length, 4);
});

Deno.test("createMetricsAuth() shares one review among simultaneous requests with one token", async () => {
  const reviewer = new FakeReviewer();
  const { scrape } = guarded(reviewer);
  const answers = await Promise.all([1, 2, 3].map(() => scrape(SCRAPER)));
  assert.deepEqual(answers.map((r) => r.status), [200, 200, 200]);
  assert.equal(reviewer.authentications, 1);
});

Deno.test("createMetricsAuth() keeps at most maxEntries decisions, dropping the oldest", async () => {
  const reviewer = new FakeReviewer();
  const { scrape } = guarded(reviewer, { maxEntries: 2 });
  await scrape(SCRAPER);
  await scrape(STRANGER);
  await scrape("tok-third-0123456789");
  assert.equal(reviewer.authentications, 3);
  await scrape(STRANGER); // kept
  assert.equal(reviewer.authentications, 3);
  await scrape(SCRAPER); // the oldest, dropped for the third
  assert.equal(reviewer.authentications, 4);
});

Deno.test("createMetricsAuth() never puts the token in a log line or an answer", async () => {
  const reviewer = new FakeReviewer();
  const { scrape, logs } = guarded(reviewer);
  const texts: string[] = [];
  for (const token of [STRANGER, "tok-forged-0123456789"]) {
    texts.push(await (await scrape(token)).text());
  }
  // A failure that quotes what it was sent.
  reviewer.failWith = new Error(`TokenReview "${SCRAPER}" failed: etcdserver: timeout`);
  const failed = await scrape(SCRAPER);
  texts.push(await failed.text());
  assert.equal(failed.status, 500);
  assert.match(texts.at(-1)!, /TokenReview "\[token\]" failed/);
  assert.equal(logs.length, 3);
  for (const line of [...logs, ...texts]) {
    for (const token of [SCRAPER, STRANGER, "tok-forged-0123456789"]) {
      assert.ok(!line.includes(token), `token in: ${line}`);
    }
  }
});
