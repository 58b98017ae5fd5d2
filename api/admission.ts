/**
 * The mutating admission webhook: `POST /mutate-pods` takes an
 * `admission.k8s.io/v1` AdmissionReview, asks an injected `admit` what to
 * do with the Pod, and answers with the JSON patch. gamenet assigns host
 * ports here, before the scheduler places the Pod.
 *
 * The handler never throws at the API server: a bad body is a 400, a
 * review whose object is not a readable Pod a denied review with code 400
 * naming the field, an error in `admit` a denied review with code 500, so
 * the Pod's controller sees the reason in its events instead of a broken
 * connection.
 *
 * @example
 * ```ts
 * const webhook = createWebhookRoute(
 *   (req) => pods.admit({ uid: req.uid, namespace: req.namespace ?? "", pod: req.object as Pod }),
 *   { isReady: () => manager.readiness, duration: metrics.webhookDuration },
 * );
 * ```
 * @module
 */

import { Hono } from "hono";
import type { JsonPatchOp } from "../providers/types.ts";
import { checkReadiness, type ReadinessCheck } from "./health.ts";
import { podShapeProblem } from "./pod_shape.ts";

// One definition for providers, controller and webhook alike.
export type { JsonPatchOp };

/** `group`/`version`/`kind` of the object under review. */
export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

/** `group`/`version`/`resource` of the object under review. */
export interface GroupVersionResource {
  group: string;
  version: string;
  resource: string;
}

/** Who asked the API server (the ReplicaSet controller, a user, …). */
export interface UserInfo {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/** What the API server is doing to the object. */
export type AdmissionOperation = "CREATE" | "UPDATE" | "DELETE" | "CONNECT";

/**
 * The parts of an `admission.k8s.io/v1` AdmissionRequest gamenet reads.
 * `object` is the raw JSON of the Pod; its `metadata.name` is empty for a
 * Pod made from `generateName`, which is why `name` may be absent too.
 */
export interface AdmissionRequest<T = Record<string, unknown>> {
  uid: string;
  kind: GroupVersionKind;
  resource: GroupVersionResource;
  subResource?: string;
  operation: AdmissionOperation;
  namespace?: string;
  name?: string;
  object?: T | null;
  oldObject?: T | null;
  /** When true, nothing may be reserved (`sideEffects: NoneOnDryRun`). */
  dryRun?: boolean;
  userInfo: UserInfo;
}

/** The `response` of an AdmissionReview. */
export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; message: string };
  /** Base64 of the JSON patch. */
  patch?: string;
  patchType?: "JSONPatch";
  warnings?: string[];
}

/** An `admission.k8s.io/v1` AdmissionReview, request or response. */
export interface AdmissionReview {
  apiVersion: "admission.k8s.io/v1";
  kind: "AdmissionReview";
  request?: AdmissionRequest;
  response?: AdmissionResponse;
}

/**
 * What `admit` decided. A denial's message reaches the person (in the
 * workload's events), so it says what is wrong and what to do.
 */
export type AdmitResult =
  | { allowed: true; patch?: JsonPatchOp[]; warnings?: string[] }
  | {
    allowed: false;
    /** HTTP-like code the API server returns to the creator. @default {403} */
    code?: number;
    message: string;
  };

/**
 * Refusal of a replica that must not allocate. A follower has no allocator
 * state (only the leader restored and owns it), and a leader still
 * restoring does not yet know which ports are taken, so either would hand
 * out ports twice. The webhook's `failurePolicy: Fail` turns the refusal
 * into a failed Pod creation that the workload's controller (ReplicaSet,
 * StatefulSet, GameServerSet) retries with backoff, by which time the
 * webhook Service routes to the ready leader.
 */
export const NOT_READY_MESSAGE =
  "gamenet is not the leader or not ready yet; the API server will retry";

/**
 * Escapes one JSON Pointer segment (RFC 6901): `~` → `~0`, `/` → `~1`,
 * in that order so that a `/` turned into `~1` is not escaped again.
 *
 * @example
 * ```ts
 * `/metadata/annotations/${escapeJsonPointer("gamenet.io/owner")}`;
 * // "/metadata/annotations/gamenet.io~1owner"
 * ```
 */
export function escapeJsonPointer(segment: string): string {
  return segment.replaceAll("~", "~0").replaceAll("/", "~1");
}

/**
 * Wraps a decision into the AdmissionReview the API server expects. The
 * patch is sent (base64, `patchType: JSONPatch`) only when it has
 * operations: an empty patch would still be applied and audited.
 *
 * @example
 * ```ts
 * admissionResponse("705ab4f5", { allowed: true, patch: [{ op: "add", path: "/x", value: 1 }] });
 * admissionResponse("705ab4f5", { allowed: false, code: 422, message: "Pod default/gs-0: …" });
 * ```
 */
export function admissionResponse(uid: string, result: AdmitResult): AdmissionReview {
  const response: AdmissionResponse = { uid, allowed: result.allowed };
  if (result.allowed) {
    if (result.patch && result.patch.length > 0) {
      response.patch = base64(JSON.stringify(result.patch));
      response.patchType = "JSONPatch";
    }
    if (result.warnings && result.warnings.length > 0) response.warnings = result.warnings;
  } else {
    response.status = { code: result.code ?? 403, message: result.message };
  }
  return { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response };
}

/** Observes one admission's latency; a prom-client `Histogram` fits. */
export interface DurationObserver {
  observe(labels: { operation: string; allowed: string }, seconds: number): void;
}

/** Options of {@linkcode createWebhookRoute}. */
export interface WebhookRouteOptions {
  /** Only a ready replica admits; see {@linkcode NOT_READY_MESSAGE}. */
  isReady: ReadinessCheck;
  /** Latency of every answered review, e.g. `metrics.webhookDuration`. */
  duration?: DurationObserver;
  /** Where `admit`'s exceptions are logged. @default {console.error} */
  log?: (message: string) => void;
  /** Where refusals of malformed Pods are logged (the caller's mistake). @default {console.warn} */
  warn?: (message: string) => void;
  /** @default {"/mutate-pods"} */
  path?: string;
}

/**
 * `POST /mutate-pods`: decodes the AdmissionReview, refuses while not
 * ready, calls `admit`, and encodes its answer. A body that is not an
 * `admission.k8s.io/v1` AdmissionReview with a `request.uid` is a 400; an
 * exception in `admit` becomes `allowed: false` with code 500.
 *
 * @example
 * ```ts
 * const app = createWebhookRoute(async () => ({ allowed: true }), { isReady: () => true });
 * const res = await app.request("/mutate-pods", { method: "POST", body: JSON.stringify(review) });
 * ```
 */
export function createWebhookRoute(
  admit: (req: AdmissionRequest) => Promise<AdmitResult>,
  options: WebhookRouteOptions,
): Hono {
  const log = options.log ?? ((m: string) => console.error(m));
  const warn = options.warn ?? ((m: string) => console.warn(m));
  const app = new Hono();
  app.post(options.path ?? "/mutate-pods", async (c) => {
    const started = performance.now();
    let body: unknown;
    try {
      body = await c.req.json();
    } catch (err) {
      return c.text(`Expected a JSON AdmissionReview: ${(err as Error).message}\n`, 400);
    }
    const problem = reviewProblem(body);
    if (problem) return c.text(`${problem}\n`, 400);
    const req = (body as AdmissionReview).request!;
    const malformed = podShapeProblem(req.object);
    let result: AdmitResult;
    if (malformed) {
      warn(`Admission ${req.uid} refused: ${malformed}`);
      result = { allowed: false, code: 400, message: `gamenet cannot read the Pod: ${malformed}` };
    } else if (!checkReadiness(options.isReady).ready) {
      result = { allowed: false, code: 503, message: NOT_READY_MESSAGE };
    } else {
      try {
        result = await admit(req);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        log(`Admission ${req.uid} of Pod ${podName(req)}: ${message}`);
        result = {
          allowed: false,
          code: 500,
          message: `gamenet could not admit the Pod: ${message}`,
        };
      }
    }
    options.duration?.observe(
      { operation: req.operation ?? "", allowed: String(result.allowed) },
      (performance.now() - started) / 1000,
    );
    return c.json(admissionResponse(req.uid, result));
  });
  return app;
}

/** Why `body` is not a usable review, or undefined when it is. */
function reviewProblem(body: unknown): string | undefined {
  const review = body as Partial<AdmissionReview> | null;
  if (typeof review !== "object" || review === null || Array.isArray(review)) {
    return "Expected an AdmissionReview object";
  }
  if (review.kind !== "AdmissionReview") {
    return `Expected kind AdmissionReview, got ${JSON.stringify(review.kind ?? null)}`;
  }
  if (review.apiVersion !== "admission.k8s.io/v1") {
    return `Expected apiVersion admission.k8s.io/v1, got ${
      JSON.stringify(review.apiVersion ?? null)
    }: set admissionReviewVersions: [v1] in the webhook configuration`;
  }
  const req = review.request;
  if (typeof req !== "object" || req === null || typeof req.uid !== "string" || !req.uid) {
    return "Expected an AdmissionReview with a request.uid";
  }
  return undefined;
}

function podName(req: AdmissionRequest): string {
  const meta = (req.object?.metadata ?? {}) as { name?: string; generateName?: string };
  return `${req.namespace ?? ""}/${req.name || meta.name || `${meta.generateName ?? ""}*`}`;
}

/** Base64 of the UTF-8 bytes: `btoa` alone rejects characters above U+00FF. */
function base64(text: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}
