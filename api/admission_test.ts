import assert from "node:assert/strict";
import {
  type AdmissionRequest,
  admissionResponse,
  type AdmissionReview,
  type AdmitResult,
  createWebhookRoute,
  escapeJsonPointer,
  NOT_READY_MESSAGE,
} from "./admission.ts";
import { createMetrics } from "./metrics.ts";

function review(request: Partial<AdmissionRequest> = {}): AdmissionReview {
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: "705ab4f5-6393-11e8-b7cc-42010a800002",
      kind: { group: "", version: "v1", kind: "Pod" },
      resource: { group: "", version: "v1", resource: "pods" },
      operation: "CREATE",
      namespace: "games",
      object: {
        metadata: {
          generateName: "gs-",
          annotations: { "game.kruise.io/network-type": "Kubernetes-HostPort" },
        },
        spec: { containers: [{ name: "gs", ports: [{ containerPort: 7777, protocol: "UDP" }] }] },
      },
      dryRun: false,
      userInfo: { username: "system:serviceaccount:kube-system:replicaset-controller" },
      ...request,
    },
  };
}

function post(
  app: { request: (p: string, i: RequestInit) => Response | Promise<Response> },
  body: unknown,
) {
  return app.request("/mutate-pods", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

function decodePatch(b64: string): unknown {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

Deno.test("escapeJsonPointer() escapes ~ as ~0 and / as ~1", () => {
  assert.equal(escapeJsonPointer("gamenet.io/owner"), "gamenet.io~1owner");
  assert.equal(escapeJsonPointer("a~b/c"), "a~0b~1c");
  // `~1` in the input is a tilde followed by 1, not a slash.
  assert.equal(escapeJsonPointer("~1"), "~01");
});

Deno.test("admissionResponse() encodes a non-empty patch as base64 JSONPatch", () => {
  const patch = [
    { op: "add" as const, path: "/metadata/annotations/gamenet.io~1owner", value: "admission/1" },
    { op: "replace" as const, path: "/spec/containers/0/ports/0/hostPort", value: 8211 },
  ];
  const r = admissionResponse("u1", { allowed: true, patch, warnings: ["port range nearly full"] });
  assert.equal(r.apiVersion, "admission.k8s.io/v1");
  assert.equal(r.kind, "AdmissionReview");
  assert.equal(r.response?.uid, "u1");
  assert.equal(r.response?.allowed, true);
  assert.equal(r.response?.patchType, "JSONPatch");
  assert.deepStrictEqual(decodePatch(r.response!.patch!), patch);
  assert.deepStrictEqual(r.response?.warnings, ["port range nearly full"]);
  assert.equal(r.response?.status, undefined);
});

Deno.test("admissionResponse() leaves patch and patchType out for an empty patch", () => {
  const r = admissionResponse("u1", { allowed: true, patch: [] });
  assert.deepStrictEqual(r.response, { uid: "u1", allowed: true });
});

Deno.test("admissionResponse() encodes non-Latin-1 patch values as UTF-8", () => {
  const patch = [{ op: "add" as const, path: "/metadata/annotations/x", value: "游戏服 🎮" }];
  const r = admissionResponse("u1", { allowed: true, patch });
  assert.deepStrictEqual(decodePatch(r.response!.patch!), patch);
});

Deno.test("admissionResponse() denies with the code and message, 403 by default", () => {
  const denied = admissionResponse("u2", { allowed: false, code: 422, message: "Bad conf" });
  assert.deepStrictEqual(denied.response, {
    uid: "u2",
    allowed: false,
    status: { code: 422, message: "Bad conf" },
  });
  const r = admissionResponse("u3", { allowed: false, message: "No" });
  assert.equal(r.response?.status?.code, 403);
});

Deno.test("POST /mutate-pods passes the request to admit() and answers its patch", async () => {
  const seen: AdmissionRequest[] = [];
  const app = createWebhookRoute((req) => {
    seen.push(req);
    return Promise.resolve({
      allowed: true,
      patch: [{ op: "add", path: "/metadata/annotations/a", value: "b" }],
    });
  }, { isReady: () => true });
  const res = await post(app, review({ dryRun: true }));
  assert.equal(res.status, 200);
  const body = await res.json() as AdmissionReview;
  assert.equal(body.response?.uid, "705ab4f5-6393-11e8-b7cc-42010a800002");
  assert.equal(body.response?.allowed, true);
  assert.deepStrictEqual(decodePatch(body.response!.patch!), [
    { op: "add", path: "/metadata/annotations/a", value: "b" },
  ]);
  assert.equal(seen.length, 1);
  assert.equal(seen[0].dryRun, true);
  assert.equal(seen[0].namespace, "games");
  assert.deepStrictEqual(
    (seen[0].object as { metadata: { generateName: string } }).metadata.generateName,
    "gs-",
  );
});

Deno.test("POST /mutate-pods answers a denial from admit() with its code and message", async () => {
  const app = createWebhookRoute(
    () =>
      Promise.resolve<AdmitResult>({
        allowed: false,
        code: 422,
        message: 'Pod games/gs-0: ContainerPorts "x:80/SCTP": protocol must be TCP, UDP or TCPUDP',
      }),
    { isReady: () => true },
  );
  const body = await (await post(app, review())).json() as AdmissionReview;
  assert.equal(body.response?.allowed, false);
  assert.equal(body.response?.status?.code, 422);
  assert.match(body.response!.status!.message, /protocol must be TCP, UDP or TCPUDP/);
});

Deno.test("POST /mutate-pods answers allowed:false with code 500 when admit() throws", async () => {
  const logs: string[] = [];
  const app = createWebhookRoute(() => Promise.reject(new Error("allocator exploded")), {
    isReady: () => true,
    log: (m) => logs.push(m),
  });
  const res = await post(app, review());
  assert.equal(res.status, 200);
  const body = await res.json() as AdmissionReview;
  assert.equal(body.response?.uid, "705ab4f5-6393-11e8-b7cc-42010a800002");
  assert.equal(body.response?.allowed, false);
  assert.deepStrictEqual(body.response?.status, {
    code: 500,
    message: "gamenet could not admit the Pod: allocator exploded",
  });
  assert.deepStrictEqual(logs, [
    "Admission 705ab4f5-6393-11e8-b7cc-42010a800002 of Pod games/gs-*: allocator exploded",
  ]);
});

Deno.test("POST /mutate-pods answers allowed:false with code 500 when admit() throws synchronously", async () => {
  const app = createWebhookRoute(() => {
    throw new TypeError("not a function");
  }, { isReady: () => true, log: () => {} });
  const body = await (await post(app, review())).json() as AdmissionReview;
  assert.equal(body.response?.status?.code, 500);
  assert.match(body.response!.status!.message, /not a function/);
});

Deno.test("POST /mutate-pods refuses with 503 while not ready, without calling admit()", async () => {
  let calls = 0;
  let ready = false;
  const app = createWebhookRoute(() => {
    calls++;
    return Promise.resolve({ allowed: true });
  }, { isReady: () => ({ ready, reason: "not leader" }) });
  const body = await (await post(app, review())).json() as AdmissionReview;
  assert.equal(body.response?.allowed, false);
  assert.deepStrictEqual(body.response?.status, { code: 503, message: NOT_READY_MESSAGE });
  assert.equal(
    NOT_READY_MESSAGE,
    "gamenet is not the leader or not ready yet; the API server will retry",
  );
  assert.equal(calls, 0);
  ready = true;
  const later = await (await post(app, review())).json() as AdmissionReview;
  assert.equal(later.response?.allowed, true);
  assert.equal(calls, 1);
});

Deno.test("POST /mutate-pods rejects bodies that are not an AdmissionReview with 400", async () => {
  let calls = 0;
  const app = createWebhookRoute(() => {
    calls++;
    return Promise.resolve({ allowed: true });
  }, { isReady: () => true });
  const cases: [unknown, RegExp][] = [
    ["{not json", /^Expected a JSON AdmissionReview/],
    [[], /^Expected an AdmissionReview object/],
    [null, /^Expected an AdmissionReview object/],
    [{ apiVersion: "v1", kind: "Pod" }, /^Expected kind AdmissionReview, got "Pod"/],
    [
      { ...review(), apiVersion: "admission.k8s.io/v1beta1" },
      /got "admission.k8s.io\/v1beta1": set admissionReviewVersions: \[v1\]/,
    ],
    [{ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview" }, /request\.uid/],
    [review({ uid: "" }), /request\.uid/],
  ];
  for (const [body, message] of cases) {
    const res = await post(app, typeof body === "string" ? body : JSON.stringify(body));
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.match(await res.text(), message);
  }
  assert.equal(calls, 0);
});

Deno.test("POST /mutate-pods observes its latency by operation and allowed", async () => {
  const metrics = createMetrics({ defaultMetrics: false });
  let ready = true;
  const app = createWebhookRoute(() => Promise.resolve({ allowed: true }), {
    isReady: () => ready,
    duration: metrics.webhookDuration,
  });
  await post(app, review());
  await post(app, review());
  ready = false;
  await post(app, review());
  const text = await metrics.registry.metrics();
  assert.ok(
    text.includes('gamenet_webhook_duration_seconds_count{operation="CREATE",allowed="true"} 2'),
    text,
  );
  assert.ok(
    text.includes('gamenet_webhook_duration_seconds_count{operation="CREATE",allowed="false"} 1'),
    text,
  );
});

Deno.test("GET /mutate-pods is not routed", async () => {
  const app = createWebhookRoute(() => Promise.resolve({ allowed: true }), { isReady: () => true });
  assert.equal((await app.request("/mutate-pods")).status, 404);
});

Deno.test("POST /mutate-pods refuses a request.object that is not a readable Pod with 400, naming the field", async () => {
  let calls = 0;
  const warnings: string[] = [];
  const errors: string[] = [];
  const app = createWebhookRoute(() => {
    calls++;
    return Promise.resolve({ allowed: true });
  }, { isReady: () => true, log: (m) => errors.push(m), warn: (m) => warnings.push(m) });
  const pod = (o: Record<string, unknown>) => review({ object: o });
  const cases: [AdmissionReview, string][] = [
    [pod({ spec: { containers: [] } }), "request.object.metadata is missing"],
    [
      pod({ metadata: {}, spec: { containers: "gs" } }),
      "request.object.spec.containers is a string; expected a list",
    ],
    [
      pod({ metadata: { name: 7 }, spec: { containers: [] } }),
      "request.object.metadata.name is a number; expected a string",
    ],
    [
      pod({
        metadata: { annotations: { "game.kruise.io/network-type": 1 } },
        spec: { containers: [] },
      }),
      'request.object.metadata.annotations["game.kruise.io/network-type"] is a number; expected a string',
    ],
    [
      pod({
        metadata: {},
        spec: { containers: [{ name: "gs", ports: [{ containerPort: "80" }] }] },
      }),
      "request.object.spec.containers[0].ports[0].containerPort is a string; expected a port number",
    ],
    [
      pod({ metadata: {}, spec: { containers: [{ ports: [] }] } }),
      "request.object.spec.containers[0].name is missing",
    ],
    [review({ object: null }), "request.object is missing; expected the Pod being created"],
    [
      pod({ kind: "Service", metadata: {}, spec: { containers: [] } }),
      'request.object.kind is "Service"; expected Pod',
    ],
  ];
  for (const [body, field] of cases) {
    const res = await post(app, body);
    assert.equal(res.status, 200);
    const answer = (await res.json() as AdmissionReview).response!;
    assert.equal(answer.allowed, false);
    assert.deepEqual(answer.status, {
      code: 400,
      message: `gamenet cannot read the Pod: ${field}`,
    });
  }
  assert.equal(calls, 0, "admit() never sees a malformed Pod");
  assert.equal(warnings.length, cases.length);
  assert.match(
    warnings[0],
    /^Admission 705ab4f5-6393-11e8-b7cc-42010a800002 refused: request\.object\.metadata/,
  );
  assert.deepEqual(errors, [], "the caller's mistake is not an error of gamenet's");
});
