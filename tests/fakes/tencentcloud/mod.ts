/**
 * A local fake of the Tencent Cloud CLB API (API 3.0, version 2018-03-17) for
 * tests and benchmarks that use the real `tencentcloud-sdk-nodejs` client.
 *
 * @example
 * ```ts
 * import { FakeTencentCloud } from "./tests/fakes/tencentcloud/mod.ts";
 * await using cloud = await FakeTencentCloud.start({ loadBalancers: [{ id: "lb-1" }] });
 * ```
 *
 * @module
 */
export {
  CLB_API_VERSION,
  type FakeClientConfig,
  type FakeCloudStats,
  type FakeCredential,
  FakeTencentCloud,
  type FakeTencentCloudOptions,
} from "./fake_tencent_cloud.ts";
export type {
  ListenerSnapshot,
  LoadBalancerSnapshot,
  LoadBalancerSpec,
  TargetSnapshot,
  TaskSnapshot,
} from "./clb_state.ts";
export type {
  ErrorFault,
  Fault,
  FaultScope,
  HangFault,
  HttpFault,
  LostAnswerFault,
  TaskFailureFault,
} from "./fault_injector.ts";
export { CloudApiError, ErrorCode, type ErrorCodeValue } from "./cloud_api_error.ts";
