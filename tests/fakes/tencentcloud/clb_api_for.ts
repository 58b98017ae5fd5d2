/**
 * gamenet's CLB client (the real SDK) pointed at a running fake, as
 * `main.ts` builds it for an `http://` endpoint.
 *
 * @example
 * ```ts
 * const api = clbApiFor(cloud, { timeoutSeconds: 2 });
 * ```
 * @module
 */

import {
  type ClbApi,
  type ClbApiOptions,
  createClbApi,
} from "../../../providers/tencent_clb/clb_api.ts";
import type { FakeTencentCloud } from "./fake_tencent_cloud.ts";

/** A client of `cloud` with its key pair and region; `overrides` win (e.g. a wrong key). */
export function clbApiFor(cloud: FakeTencentCloud, overrides: Partial<ClbApiOptions> = {}): ClbApi {
  const cfg = cloud.clientConfig();
  return createClbApi({
    ...cfg.credential,
    region: cfg.region,
    endpoint: cfg.profile.httpProfile.endpoint,
    protocol: "http://",
    ...overrides,
  });
}
