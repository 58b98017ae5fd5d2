/**
 * Server-side check of Tencent Cloud's TC3-HMAC-SHA256 request signature,
 * computed as Tencent Cloud API 3.0 documents it ("Signature v3") and as
 * `tencentcloud-sdk-nodejs` (`tencentcloud/common/sign.js`) signs:
 *
 * ```
 * CanonicalRequest = Method \n "/" \n Query \n CanonicalHeaders \n SignedHeaders \n hex(sha256(body))
 * StringToSign     = "TC3-HMAC-SHA256" \n Timestamp \n Date/Service/tc3_request \n hex(sha256(CanonicalRequest))
 * SigningKey       = HMAC(HMAC(HMAC("TC3" + SecretKey, Date), Service), "tc3_request")
 * Signature        = hex(HMAC(SigningKey, StringToSign))
 * ```
 *
 * @module
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { CloudApiError, ErrorCode } from "./cloud_api_error.ts";

/** The pieces of an HTTP request that take part in the signature. */
export interface Tc3Request {
  /** Upper-case HTTP method, e.g. `POST`. */
  method: string;
  /** URL path; Tencent's endpoints are always `/`. */
  path: string;
  /** Query string without the leading `?` (empty for POST). */
  query: string;
  /** All request headers. */
  headers: Headers;
  /** The raw body, exactly as received. */
  body: Uint8Array;
}

/** Options for {@linkcode verifyTc3}. */
export interface Tc3VerifyOptions {
  /** Returns the SecretKey of a SecretId, or `undefined` when the id is unknown. */
  secretKeyOf(secretId: string): string | undefined;
  /** The server clock in milliseconds since the epoch. @default {Date.now()} */
  nowMs?: number;
  /** How far X-TC-Timestamp may be from the server clock. @default {300} */
  maxSkewSeconds?: number;
  /** The product this server is; the credential scope must name it. @default {"clb"} */
  service?: string;
}

/** What a successful {@linkcode verifyTc3} learned about the caller. */
export interface Tc3Caller {
  /** The SecretId the request was signed with. */
  secretId: string;
  /** The service named in the credential scope. */
  service: string;
}

const ALGORITHM = "TC3-HMAC-SHA256";

/**
 * Checks the `Authorization` header of a request the way Tencent Cloud does and
 * returns the caller, or throws {@linkcode CloudApiError} with the real code:
 * `AuthFailure.InvalidAuthorization`, `AuthFailure.SecretIdNotFound`,
 * `AuthFailure.SignatureExpire` or `AuthFailure.SignatureFailure`.
 *
 * Two liberties, both forced by pointing the SDK at `127.0.0.1:port`:
 * the SDK names the service after the first label of the endpoint (`127`), so
 * that label is accepted besides the real service; and it signs the host
 * without the port, so the port is dropped from `Host` before comparing (the
 * real endpoint has no port, so both agree there).
 *
 * @example
 * ```ts
 * const caller = verifyTc3(
 *   { method: "POST", path: "/", query: "", headers: req.headers, body },
 *   { secretKeyOf: (id) => (id === "AKIDfake" ? "secret" : undefined) },
 * );
 * ```
 */
export function verifyTc3(request: Tc3Request, options: Tc3VerifyOptions): Tc3Caller {
  const authorization = request.headers.get("authorization");
  if (authorization === null || authorization === "") {
    throw new CloudApiError(
      ErrorCode.InvalidAuthorization,
      "The request has no Authorization header; sign it with TC3-HMAC-SHA256.",
    );
  }
  const parsed = parseAuthorization(authorization);
  const { secretId, date, service, signedHeaders, signature } = parsed;

  const secretKey = options.secretKeyOf(secretId);
  if (secretKey === undefined) {
    throw new CloudApiError(
      ErrorCode.SecretIdNotFound,
      `SecretId ${secretId} does not exist; check that it is typed correctly and not deleted.`,
    );
  }

  const timestampHeader = request.headers.get("x-tc-timestamp") ?? "";
  const timestamp = Number(timestampHeader);
  if (!/^\d+$/.test(timestampHeader) || !Number.isSafeInteger(timestamp)) {
    throw new CloudApiError(
      ErrorCode.InvalidAuthorization,
      `X-TC-Timestamp "${timestampHeader}" is not a Unix time in seconds.`,
    );
  }
  const nowSeconds = Math.floor((options.nowMs ?? Date.now()) / 1000);
  const maxSkew = options.maxSkewSeconds ?? 300;
  if (Math.abs(nowSeconds - timestamp) > maxSkew) {
    throw new CloudApiError(
      ErrorCode.SignatureExpire,
      `X-TC-Timestamp ${timestamp} is ${nowSeconds - timestamp} s away from the server time ` +
        `${nowSeconds}; it may differ by at most ${maxSkew} s. Synchronise the client clock.`,
    );
  }

  const hostname = hostnameOf(request.headers.get("host") ?? "");
  const expectedService = options.service ?? "clb";
  // The SDK derives the service from the endpoint's first DNS label, which is
  // "clb" for clb.tencentcloudapi.com and e.g. "127" for a local fake.
  const allowedServices = new Set([expectedService, hostname.split(".")[0]]);
  if (!allowedServices.has(service)) {
    throw new CloudApiError(
      ErrorCode.SignatureFailure,
      `The credential scope names service "${service}", but this endpoint is "${expectedService}".`,
    );
  }
  if (date !== utcDate(timestamp)) {
    throw new CloudApiError(
      ErrorCode.SignatureFailure,
      `The credential scope date ${date} is not the UTC date of X-TC-Timestamp ${timestamp} ` +
        `(${utcDate(timestamp)}).`,
    );
  }

  const canonical = canonicalRequest(request, signedHeaders, hostname);
  const expected = tc3Signature({ secretKey, date, service, timestamp, canonical });
  if (!sameHex(expected, signature)) {
    throw new CloudApiError(
      ErrorCode.SignatureFailure,
      `The TC3-HMAC-SHA256 signature of SecretId ${secretId} does not match; check the SecretKey ` +
        "and that content-type, host and the exact body were signed.",
    );
  }
  return { secretId, service };
}

/** The parts of a TC3 `Authorization` header. */
export interface Tc3Authorization {
  /** The SecretId from the credential scope. */
  secretId: string;
  /** `YYYY-MM-DD` (UTC) from the credential scope. */
  date: string;
  /** The service from the credential scope, e.g. `clb`. */
  service: string;
  /** Lower-case header names, in the order signed. */
  signedHeaders: string[];
  /** The hex signature. */
  signature: string;
}

/**
 * Splits `TC3-HMAC-SHA256 Credential=AKID/date/service/tc3_request,
 * SignedHeaders=content-type;host, Signature=hex`; throws
 * `AuthFailure.InvalidAuthorization` when it has another shape.
 *
 * @example
 * ```ts
 * const { secretId, signedHeaders } = parseAuthorization(req.headers.get("authorization")!);
 * ```
 */
export function parseAuthorization(header: string): Tc3Authorization {
  const invalid = (why: string) =>
    new CloudApiError(ErrorCode.InvalidAuthorization, `The Authorization header ${why}.`);
  const space = header.indexOf(" ");
  const algorithm = space < 0 ? header : header.slice(0, space);
  if (algorithm !== ALGORITHM) {
    throw invalid(`uses algorithm "${algorithm}"; only ${ALGORITHM} is accepted`);
  }
  const fields = new Map<string, string>();
  for (const part of header.slice(space + 1).split(",")) {
    const eq = part.indexOf("=");
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get("Credential");
  const signedHeaders = fields.get("SignedHeaders");
  const signature = fields.get("Signature");
  if (credential === undefined || signedHeaders === undefined || signature === undefined) {
    throw invalid("must carry Credential, SignedHeaders and Signature");
  }
  const scope = credential.split("/");
  if (scope.length !== 4 || scope[3] !== "tc3_request" || scope[0] === "") {
    throw invalid(`has Credential "${credential}"; expected SecretId/date/service/tc3_request`);
  }
  const names = signedHeaders.split(";").map((name) => name.trim().toLowerCase());
  // Tencent requires at least these two so the body type and target are bound.
  if (!names.includes("content-type") || !names.includes("host")) {
    throw invalid(`signs "${signedHeaders}"; it must sign at least content-type and host`);
  }
  if (!/^[0-9a-f]{64}$/.test(signature)) {
    throw invalid("has a Signature that is not 64 lower-case hex digits");
  }
  return { secretId: scope[0], date: scope[1], service: scope[2], signedHeaders: names, signature };
}

/** Inputs of {@linkcode tc3Signature}. */
export interface Tc3SignatureInput {
  /** The caller's SecretKey. */
  secretKey: string;
  /** `YYYY-MM-DD`, the UTC date of `timestamp`. */
  date: string;
  /** The service in the credential scope. */
  service: string;
  /** Unix time in seconds, as sent in X-TC-Timestamp. */
  timestamp: number;
  /** The canonical request string. */
  canonical: string;
}

/**
 * Computes the hex TC3-HMAC-SHA256 signature of a canonical request.
 *
 * @example
 * ```ts
 * const hex = tc3Signature({ secretKey, date: "2026-01-01", service: "clb", timestamp, canonical });
 * ```
 */
export function tc3Signature(input: Tc3SignatureInput): string {
  const scope = `${input.date}/${input.service}/tc3_request`;
  const stringToSign = `${ALGORITHM}\n${input.timestamp}\n${scope}\n${sha256Hex(input.canonical)}`;
  const kDate = hmac("TC3" + input.secretKey, input.date);
  const kService = hmac(kDate, input.service);
  const kSigning = hmac(kService, "tc3_request");
  return createHmac("sha256", kSigning).update(stringToSign).digest("hex");
}

/**
 * Builds the canonical request from what was received.
 *
 * @example
 * ```ts
 * const canonical = canonicalRequest(request, ["content-type", "host"], "127.0.0.1");
 * ```
 */
export function canonicalRequest(
  request: Tc3Request,
  signedHeaders: readonly string[],
  hostname: string,
): string {
  const headerLines = signedHeaders.map((name) => {
    // Documented: names and values lower-case, values trimmed.
    const value = name === "host" ? hostname : (request.headers.get(name) ?? "");
    return `${name}:${value.trim().toLowerCase()}\n`;
  }).join("");
  return [
    request.method.toUpperCase(),
    request.path,
    request.query,
    headerLines,
    signedHeaders.join(";"),
    createHash("sha256").update(request.body).digest("hex"),
  ].join("\n");
}

/** `YYYY-MM-DD` in UTC for a Unix time in seconds. */
function utcDate(timestamp: number): string {
  return new Date(timestamp * 1000).toISOString().slice(0, 10);
}

/** The Host header without its port (`127.0.0.1:8080` → `127.0.0.1`, `[::1]:80` → `[::1]`). */
function hostnameOf(host: string): string {
  try {
    return new URL(`http://${host}`).hostname;
  } catch {
    return host;
  }
}

function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

function hmac(key: string | Uint8Array, message: string): Uint8Array {
  return createHmac("sha256", key).update(message).digest();
}

/** Constant-time comparison, so the fake does not teach timing shortcuts. */
function sameHex(a: string, b: string): boolean {
  const left = new TextEncoder().encode(a);
  const right = new TextEncoder().encode(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
