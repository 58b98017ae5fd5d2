import assert from "node:assert/strict";
import {
  ClbError,
  CredentialsError,
  readCredentials,
  TENCENTCLOUD,
  toClbError,
} from "./clb_api.ts";
import { CLOUD_CALL_OK, type CloudCall } from "../cloud_call.ts";
import { FakeTencentCloud } from "../../tests/fakes/tencentcloud/fake_tencent_cloud.ts";
import { clbApiFor } from "../../tests/fakes/tencentcloud/clb_api_for.ts";

Deno.test("readCredentials() takes the environment, or the files it names", () => {
  assert.deepEqual(
    readCredentials({ TENCENTCLOUD_SECRET_ID: "AKIDx", TENCENTCLOUD_SECRET_KEY: " k \n" }),
    { secretId: "AKIDx", secretKey: "k" },
  );
  const files: Record<string, string> = { "/s/id": "AKIDf\n", "/s/key": "kf\n" };
  assert.deepEqual(
    readCredentials(
      { TENCENTCLOUD_SECRET_ID_FILE: "/s/id", TENCENTCLOUD_SECRET_KEY_FILE: "/s/key" },
      (p) => files[p],
    ),
    { secretId: "AKIDf", secretKey: "kf" },
  );
});

Deno.test("readCredentials() names what is missing and never prints a secret", () => {
  assert.throws(
    () => readCredentials({ TENCENTCLOUD_SECRET_ID: "AKID-visible-id" }),
    (err: Error) => {
      assert.ok(err instanceof CredentialsError);
      assert.match(err.message, /set TENCENTCLOUD_SECRET_KEY \(or the same names with _FILE\)/);
      return true;
    },
  );
  assert.throws(
    () =>
      readCredentials(
        { TENCENTCLOUD_SECRET_ID_FILE: "/nope", TENCENTCLOUD_SECRET_KEY: "s3cr3t" },
        () => {
          throw new Error("No such file");
        },
      ),
    (err: Error) =>
      /TENCENTCLOUD_SECRET_ID_FILE=\/nope: No such file/.test(err.message) &&
      !err.message.includes("s3cr3t"),
  );
});

Deno.test("toClbError() keeps the cloud's code and tells what is worth a retry", () => {
  const sdk = (fields: object) => Object.assign(new Error("boom"), fields);
  const cases: [unknown, string, boolean][] = [
    [sdk({ code: "RequestLimitExceeded", requestId: "r1" }), "RequestLimitExceeded", true],
    [
      sdk({ code: "FailedOperation.ResourceInOperating" }),
      "FailedOperation.ResourceInOperating",
      true,
    ],
    [sdk({ code: "InternalError.UnknownError" }), "InternalError.UnknownError", true],
    [sdk({ code: "InvalidParameter.PortCheckFailed" }), "InvalidParameter.PortCheckFailed", false],
    [sdk({ code: "AuthFailure.SignatureFailure" }), "AuthFailure.SignatureFailure", false],
    [sdk({ httpCode: 502 }), "HTTP 502", true],
    [new Error("network timeout at: http://x"), "Timeout", true],
    [new TypeError("fetch failed"), "NetworkError", true],
  ];
  for (const [thrown, code, retryable] of cases) {
    const err = toClbError("CreateListener", thrown);
    assert.ok(err instanceof ClbError);
    assert.equal(err.code, code);
    assert.equal(err.retryable, retryable, code);
    assert.match(err.message, /^CreateListener: /);
  }
});

Deno.test("createClbApi({ observe }) reports every call with its action, code and time", async () => {
  await using cloud = await FakeTencentCloud.start({
    loadBalancers: [{ id: "lb-a" }],
    rateLimitPerSecond: Infinity,
  });
  const calls: CloudCall[] = [];
  const api = clbApiFor(cloud, { timeoutSeconds: 2, observe: (c) => calls.push(c) });
  await api.DescribeLoadBalancers({ LoadBalancerIds: ["lb-a"] });
  cloud.injectFault({
    kind: "error",
    code: "RequestLimitExceeded",
    actions: ["DescribeListeners"],
    times: 1,
  });
  await assert.rejects(api.DescribeListeners({ LoadBalancerId: "lb-a" }));
  assert.deepEqual(
    calls.map(({ cloud, action, code }) => ({ cloud, action, code })),
    [
      { cloud: TENCENTCLOUD, action: "DescribeLoadBalancers", code: CLOUD_CALL_OK },
      { cloud: TENCENTCLOUD, action: "DescribeListeners", code: "RequestLimitExceeded" },
    ],
  );
  assert.ok(calls.every((c) => c.seconds > 0 && c.seconds < 2), JSON.stringify(calls));
});
