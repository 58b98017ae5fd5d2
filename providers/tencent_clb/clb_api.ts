/**
 * The part of Tencent Cloud's CLB API gamenet calls, through the official
 * `tencentcloud-sdk-nodejs` client (only its CLB service is imported: the
 * whole SDK is 58 MB), and how its failures are classified. The SDK is
 * loaded on the first call, so a gamenet that never talks to Tencent Cloud
 * never loads it.
 *
 * Credentials come from the environment or mounted files only, are handed
 * to the SDK and nowhere else: never logged, never in `/allocations`.
 *
 * @example
 * ```ts
 * const api = createClbApi({ region: "ap-guangzhou", ...readCredentials(Deno.env.toObject()) });
 * await api.DescribeLoadBalancers({ LoadBalancerIds: ["lb-abc"] });
 * ```
 * @module
 */

import process from "node:process";
import type { clb } from "tencentcloud-sdk-nodejs/tencentcloud/services/clb/index.js";
import { CLOUD_CALL_OK, type CloudCallObserver } from "../cloud_call.ts";

/** The SDK's CLB client. */
export type ClbClient = InstanceType<typeof clb.v20180317.Client>;

/** The actions gamenet uses; tests may pass any object that has them. */
export type ClbApi = Pick<
  ClbClient,
  | "DescribeLoadBalancers"
  | "CreateListener"
  | "DescribeListeners"
  | "DeleteLoadBalancerListeners"
  | "BatchRegisterTargets"
  | "BatchDeregisterTargets"
  | "DescribeTargets"
  | "DescribeTaskStatus"
  | "DescribeQuota"
  | "CreateLoadBalancer"
  | "DeleteLoadBalancer"
>;

/** The reads both CLB paths make (VIPs, listeners, targets, the quota); the writes go through the writer. */
export type ClbReadApi = Pick<
  ClbApi,
  "DescribeLoadBalancers" | "DescribeListeners" | "DescribeTargets" | "DescribeQuota"
>;

/** A Tencent Cloud API key pair. */
export interface ClbCredentials {
  secretId: string;
  secretKey: string;
}

/** Options of {@linkcode createClbApi}. */
export interface ClbApiOptions extends ClbCredentials {
  /** e.g. `ap-guangzhou`. */
  region: string;
  /** Host (and port) of the API. @default {"clb.tencentcloudapi.com"} */
  endpoint?: string;
  /** @default {"https://"} */
  protocol?: "https://" | "http://";
  /** Seconds before the SDK gives a call up. @default {10} */
  timeoutSeconds?: number;
  /** Told of every call: its action, its error code (or `OK`) and how long it took. */
  observe?: CloudCallObserver;
}

/** The `cloud` of the calls {@linkcode createClbApi} reports. */
export const TENCENTCLOUD = "tencentcloud";

const ACTIONS = [
  "DescribeLoadBalancers",
  "CreateListener",
  "DescribeListeners",
  "DeleteLoadBalancerListeners",
  "BatchRegisterTargets",
  "BatchDeregisterTargets",
  "DescribeTargets",
  "DescribeTaskStatus",
  "DescribeQuota",
  "CreateLoadBalancer",
  "DeleteLoadBalancer",
] as const satisfies readonly (keyof ClbApi)[];

/**
 * The SDK's CLB service, imported once on first use. Its HTTP stack
 * (node-fetch → whatwg-url → tr46) requires Node's deprecated `punycode`,
 * which printed a DEP0040 warning on every start: deprecation warnings are
 * off while it loads, and only then.
 */
let sdk: Promise<typeof import("tencentcloud-sdk-nodejs/tencentcloud/services/clb/index.js")>;
function loadSdk() {
  sdk ??= (async () => {
    // Node's own switch (`--no-deprecation`), missing from the typings.
    const node = process as typeof process & { noDeprecation?: boolean };
    const before = node.noDeprecation;
    node.noDeprecation = true;
    try {
      return await import("tencentcloud-sdk-nodejs/tencentcloud/services/clb/index.js");
    } finally {
      node.noDeprecation = before;
    }
  })();
  return sdk;
}

/**
 * A CLB client on the official SDK (loaded on the first call).
 *
 * @example
 * ```ts
 * const api = createClbApi({ secretId, secretKey, region: "ap-shanghai" });
 * ```
 */
export function createClbApi(options: ClbApiOptions): ClbApi {
  let client: Promise<ClbClient> | undefined;
  const connect = () =>
    client ??= loadSdk().then(({ clb }) =>
      new clb.v20180317.Client({
        credential: { secretId: options.secretId, secretKey: options.secretKey },
        region: options.region,
        profile: {
          httpProfile: {
            endpoint: options.endpoint ?? "clb.tencentcloudapi.com",
            protocol: options.protocol ?? "https://",
            reqTimeout: options.timeoutSeconds ?? 10,
          },
        },
      })
    );
  const observe = options.observe;
  const api: Record<string, (request: unknown) => Promise<unknown>> = {};
  for (const action of ACTIONS) {
    const call = async (request: unknown) =>
      // deno-lint-ignore no-explicit-any
      await ((await connect())[action] as (r: any) => Promise<unknown>)(request);
    api[action] = !observe ? call : async (request) => {
      const started = performance.now();
      let code = CLOUD_CALL_OK;
      try {
        return await call(request);
      } catch (err) {
        code = toClbError(action, err).code;
        throw err;
      } finally {
        observe({
          cloud: TENCENTCLOUD,
          action,
          code,
          seconds: (performance.now() - started) / 1000,
        });
      }
    };
  }
  return api as unknown as ClbApi;
}

/** Credentials were not given, or given half. */
export class CredentialsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CredentialsError";
  }
}

/**
 * Reads the key pair from `TENCENTCLOUD_SECRET_ID` / `TENCENTCLOUD_SECRET_KEY`,
 * or from the files `TENCENTCLOUD_SECRET_ID_FILE` / `TENCENTCLOUD_SECRET_KEY_FILE`
 * name (a mounted Secret); the message never contains a secret.
 *
 * @example
 * ```ts
 * const creds = readCredentials(Deno.env.toObject());
 * ```
 */
export function readCredentials(
  env: Record<string, string | undefined>,
  readFile: (path: string) => string = Deno.readTextFileSync,
): ClbCredentials {
  const one = (name: string) => {
    const file = env[`${name}_FILE`];
    if (file) {
      try {
        return readFile(file).trim();
      } catch (err) {
        throw new CredentialsError(`${name}_FILE=${file}: ${(err as Error).message}`);
      }
    }
    return env[name]?.trim() ?? "";
  };
  const secretId = one("TENCENTCLOUD_SECRET_ID");
  const secretKey = one("TENCENTCLOUD_SECRET_KEY");
  if (!secretId || !secretKey) {
    const missing = [!secretId && "TENCENTCLOUD_SECRET_ID", !secretKey && "TENCENTCLOUD_SECRET_KEY"]
      .filter(Boolean).join(" and ");
    throw new CredentialsError(
      `Tencent Cloud credentials missing: set ${missing} (or the same names with _FILE)`,
    );
  }
  return { secretId, secretKey };
}

/** A failed CLB call: the cloud's error code (or `HTTP 503`, `Timeout`, ...), and its request id. */
export class ClbError extends Error {
  /** e.g. `InvalidParameter.PortCheckFailed`. */
  readonly code: string;
  readonly requestId?: string;
  /** Worth trying again unchanged: throttling, a busy instance, a 5xx, a lost answer. */
  readonly retryable: boolean;
  constructor(action: string, code: string, message: string, requestId?: string) {
    super(`${action}: ${code}: ${message}${requestId ? ` (RequestId ${requestId})` : ""}`);
    this.name = "ClbError";
    this.code = code;
    this.requestId = requestId;
    this.retryable = RETRYABLE.some((r) => code === r || code.startsWith(`${r}.`)) ||
      /^HTTP 5\d\d$/.test(code) || code === "Timeout" || code === "NetworkError";
  }
}

/** Codes worth a retry; anything else is the request's fault and is reported. */
const RETRYABLE = [
  "RequestLimitExceeded",
  "FailedOperation.ResourceInOperating",
  "InternalError",
  "ServiceUnavailable",
  "RequestTimeout",
];

/**
 * Turns whatever the SDK threw into a {@linkcode ClbError}.
 *
 * @example
 * ```ts
 * try { await api.DescribeTargets(req); } catch (err) { throw toClbError("DescribeTargets", err); }
 * ```
 */
export function toClbError(action: string, err: unknown): ClbError {
  if (err instanceof ClbError) return err;
  const e = err as { code?: string; httpCode?: number; requestId?: string; message?: string };
  const message = e?.message ?? String(err);
  if (e?.code) return new ClbError(action, e.code, message, e.requestId);
  if (e?.httpCode) return new ClbError(action, `HTTP ${e.httpCode}`, message, e.requestId);
  if (/timeout/i.test(message)) return new ClbError(action, "Timeout", message);
  return new ClbError(action, "NetworkError", message);
}
