/**
 * What a cloud client reports about each API call it makes, for the
 * metrics: which cloud and action, how it ended and how long it took. The
 * client is made in one place per cloud and reports every action there;
 * providers never see who listens.
 *
 * @example
 * ```ts
 * const observe: CloudCallObserver = (call) => console.log(call.action, call.code, call.seconds);
 * const api = createClbApi({ ...credentials, region, observe });
 * ```
 * @module
 */

/** The `code` of a call that succeeded. */
export const CLOUD_CALL_OK = "OK";

/** One finished cloud API call. */
export interface CloudCall {
  /** e.g. `tencentcloud`. */
  cloud: string;
  /** The API action, e.g. `CreateListener`. */
  action: string;
  /**
   * {@linkcode CLOUD_CALL_OK}, or the cloud's error code
   * (`RequestLimitExceeded`, `FailedOperation.ResourceInOperating`, `Timeout`, `HTTP 503`, …).
   */
  code: string;
  seconds: number;
}

/** Told of every cloud API call as it ends; must not throw. */
export type CloudCallObserver = (call: CloudCall) => void;
