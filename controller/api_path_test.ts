import assert from "node:assert/strict";
import { apiPath } from "./api_path.ts";

Deno.test("apiPath() serves the core group under /api and the others under /apis", () => {
  assert.equal(apiPath("v1"), "/api/v1");
  assert.equal(apiPath("networking.k8s.io/v1"), "/apis/networking.k8s.io/v1");
  assert.equal(apiPath("alibabacloud.com/v1beta1"), "/apis/alibabacloud.com/v1beta1");
});
