/**
 * The CLB API of a gamenet started without Tencent Cloud settings: every
 * call fails with a {@linkcode ConfError} that says what to set, so a
 * `TencentCloud-CLB` Pod gets an Event and a `NotReady` status instead of
 * a crash or silence.
 *
 * @example
 * ```ts
 * const api = unconfiguredClbApi("Tencent Cloud credentials missing: set TENCENTCLOUD_SECRET_ID");
 * ```
 * @module
 */

import { ConfError } from "../types.ts";
import type { ClbApi } from "./clb_api.ts";

/** An API whose every action rejects with `why`. */
export function unconfiguredClbApi(why: string): ClbApi {
  const refuse = () => Promise.reject(new ConfError(why, "ClbNotConfigured"));
  return new Proxy({}, { get: () => refuse }) as ClbApi;
}
