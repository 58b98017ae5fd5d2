/**
 * Error codes of Tencent Cloud API 3.0 that the fake answers with.
 *
 * Every string here is a real code: the common ones are listed on Tencent's
 * CLB "Error Codes" page (https://cloud.tencent.com/document/api/214/30695),
 * the CLB ones in the SDKs' `clb/v20180317` error lists (Go SDK `errors.go`,
 * Python SDK `errorcodes.py`), which also say which action may return which.
 *
 * @example
 * ```ts
 * import { ErrorCode } from "./cloud_api_error.ts";
 * if (err.code === ErrorCode.ResourceInOperating) await retryLater();
 * ```
 */
export const ErrorCode = {
  /** Authorization header missing or not in the TC3-HMAC-SHA256 shape. */
  InvalidAuthorization: "AuthFailure.InvalidAuthorization",
  /** The SecretId is unknown (deleted, disabled, or mistyped). */
  SecretIdNotFound: "AuthFailure.SecretIdNotFound",
  /** X-TC-Timestamp differs from the server clock by more than five minutes. */
  SignatureExpire: "AuthFailure.SignatureExpire",
  /** The signature does not match the one computed with the SecretKey. */
  SignatureFailure: "AuthFailure.SignatureFailure",
  /** The action does not exist in this API version. */
  InvalidAction: "InvalidAction",
  /** The X-TC-Version is not one the product serves. */
  NoSuchVersion: "NoSuchVersion",
  /** Too many calls of one action within a second. */
  RequestLimitExceeded: "RequestLimitExceeded",
  /** Something went wrong inside the service. */
  InternalError: "InternalError",
  /** Generic failure of the operation. */
  FailedOperation: "FailedOperation",
  /** Another asynchronous task is still running on the same load balancer. */
  ResourceInOperating: "FailedOperation.ResourceInOperating",
  /** A parameter is wrong (format, type, count). */
  InvalidParameter: "InvalidParameter",
  /** A parameter is malformed (e.g. the body is not JSON). */
  FormatError: "InvalidParameter.FormatError",
  /** No load balancer with that id in the region. */
  LBIdNotFound: "InvalidParameter.LBIdNotFound",
  /** No listener with that id on the load balancer. */
  ListenerIdNotFound: "InvalidParameter.ListenerIdNotFound",
  /** A listener port clashes with another listener or is repeated. */
  PortCheckFailed: "InvalidParameter.PortCheckFailed",
  /** A parameter value is out of its allowed set. */
  InvalidParameterValue: "InvalidParameterValue",
  /** A list or string is too long (e.g. CreateListener's Ports: "Length of .Ports should be less than 50"). */
  InvalidParameterValueLength: "InvalidParameterValue.Length",
  /** A value given twice where each must be unique (e.g. a tag key). */
  InvalidParameterValueDuplicate: "InvalidParameterValue.Duplicate",
  /** A `Filters` entry the action does not know. */
  InvalidFilter: "InvalidParameterValue.InvalidFilter",
  /** A CreateLoadBalancer ClientToken whose purchase failed or expired: buy with a new one. */
  ClientTokenLimitExceeded: "InvalidParameter.ClientTokenLimitExceeded",
  /** A parameter the action does not define. */
  UnknownParameter: "UnknownParameter",
  /** Not enough of a resource (e.g. addresses) to deliver. */
  ResourceInsufficient: "ResourceInsufficient",
  /** A quota (e.g. listeners per load balancer) would be exceeded. */
  LimitExceeded: "LimitExceeded",
  /** A required parameter is absent. */
  MissingParameter: "MissingParameter",
} as const;

/**
 * One of the error codes in {@linkcode ErrorCode}.
 *
 * @example
 * ```ts
 * const code: ErrorCodeValue = ErrorCode.PortCheckFailed;
 * ```
 */
export type ErrorCodeValue = typeof ErrorCode[keyof typeof ErrorCode];

/**
 * A failure the fake reports in the API envelope
 * (`{"Response": {"Error": {"Code", "Message"}, "RequestId"}}`, HTTP 200).
 *
 * @example
 * ```ts
 * throw new CloudApiError(ErrorCode.LBIdNotFound, "Load balancer lb-x does not exist in ap-guangzhou");
 * ```
 */
export class CloudApiError extends Error {
  /** The Tencent Cloud error code, e.g. `InvalidParameter.PortCheckFailed`. */
  readonly code: string;

  /**
   * Creates the error.
   *
   * @param code the Tencent Cloud error code
   * @param message what went wrong, naming the object and the value
   */
  constructor(code: string, message: string) {
    super(message);
    this.name = "CloudApiError";
    this.code = code;
  }
}
