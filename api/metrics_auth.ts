/**
 * Bearer-token authentication and authorization for `GET /metrics`, as
 * controller-runtime's `WithAuthenticationAndAuthorization` filter does it:
 * the token is handed to the API server in a TokenReview, and the user it
 * names to a SubjectAccessReview of the request's non-resource URL and
 * verb (`get` on `/metrics`). So who may scrape is decided by RBAC, like
 * every other permission in the cluster: bind a ClusterRole allowing `get`
 * on `/metrics` (deploy/ ships `gamenet-metrics-reader`).
 *
 * - no `Authorization: Bearer` header, or a token the API server does not
 *   accept: 401;
 * - a user the SubjectAccessReview does not allow: 403, naming the user;
 * - the reviews could not be made: 500, with the reason.
 *
 * Decisions are kept briefly (by a hash of the token, never the token
 * itself), so a Prometheus scraping every 15 s costs two API calls about
 * every 10 s at most, not per scrape, and simultaneous scrapes with one
 * token share one review.
 *
 * @example
 * ```ts
 * const app = new Hono();
 * app.use("/metrics", createMetricsAuth({ reviewer: createKubeReviewer(client) }));
 * app.route("/", createMetricsRoute(metrics));
 * ```
 * @module
 */

import type { Context, MiddlewareHandler } from "hono";
import type { AccessReviewer, NonResourceAttributes } from "./access_reviewer.ts";

/** Options of {@linkcode createMetricsAuth}. */
export interface MetricsAuthOptions {
  /** Answers who a token is and what it may do; the API server's in gamenet. */
  reviewer: AccessReviewer;
  /** How long an allowed token is let in without asking again. @default {10_000} */
  allowedTtlMs?: number;
  /** How long a refused token (401, 403) is refused without asking again. @default {2_000} */
  deniedTtlMs?: number;
  /** Most decisions kept; the oldest is dropped first. @default {256} */
  maxEntries?: number;
  /** Refusals and failures, one line each (never the token). @default {console.warn} */
  log?: (message: string) => void;
  /** The clock of the cache, in ms. @default {Date.now} */
  now?: () => number;
}

type Decision =
  | { status: 200 }
  | { status: 401 | 403; message: string };

const REMEDY = "a ClusterRole allowing get on the non-resource URL /metrics " +
  "(deploy/ ships gamenet-metrics-reader)";

/**
 * A Hono middleware that lets a request through only when its bearer token
 * is allowed the request's verb on its path: see the module documentation.
 *
 * @example
 * ```ts
 * const guard = createMetricsAuth({ reviewer, allowedTtlMs: 10_000, deniedTtlMs: 2_000 });
 * app.use("/metrics", guard);
 * (await app.request("/metrics")).status; // 401
 * ```
 */
export function createMetricsAuth(options: MetricsAuthOptions): MiddlewareHandler {
  const { reviewer } = options;
  const allowedTtlMs = options.allowedTtlMs ?? 10_000;
  const deniedTtlMs = options.deniedTtlMs ?? 2_000;
  const maxEntries = options.maxEntries ?? 256;
  const log = options.log ?? ((m: string) => console.warn(m));
  const now = options.now ?? Date.now;
  const cache = new Map<string, { until: number; decision: Decision }>();
  const pending = new Map<string, Promise<Decision>>();

  const review = async (token: string, attributes: NonResourceAttributes): Promise<Decision> => {
    const what = `${attributes.verb} ${attributes.path}`;
    const authn = await reviewer.authenticate(token);
    if (!authn.authenticated) {
      const why = authn.error ? `: ${redact(authn.error, token)}` : "";
      log(`${what}: refused a bearer token the API server did not accept (TokenReview${why})`);
      return {
        status: 401,
        message: `Unauthorized: the API server did not accept the bearer token (TokenReview${why})`,
      };
    }
    const { user } = authn;
    const authz = await reviewer.authorize(user, attributes);
    if (authz.allowed) return { status: 200 };
    const why = authz.reason ? ` (${redact(authz.reason, token)})` : "";
    log(`${what}: refused user "${user.username}": not allowed${why}`);
    return {
      status: 403,
      message: `Forbidden: user "${user.username}" may not ${what}${why}: ` +
        `bind it to ${REMEDY}`,
    };
  };

  const decide = async (token: string, attributes: NonResourceAttributes): Promise<Decision> => {
    const key = `${attributes.verb} ${attributes.path} ${await sha256(token)}`;
    const kept = cache.get(key);
    if (kept && kept.until > now()) return kept.decision;
    cache.delete(key);
    let asked = pending.get(key);
    if (!asked) {
      asked = review(token, attributes).then((decision) => {
        const ttl = decision.status === 200 ? allowedTtlMs : deniedTtlMs;
        if (ttl > 0) {
          // A Map iterates in insertion order: its first key is the oldest.
          while (cache.size >= maxEntries) cache.delete(cache.keys().next().value!);
          cache.set(key, { until: now() + ttl, decision });
        }
        return decision;
      }).finally(() => pending.delete(key));
      pending.set(key, asked);
    }
    return await asked;
  };

  return async (c: Context, next) => {
    const attributes = { path: c.req.path, verb: verbOf(c.req.method) };
    const token = bearerToken(c.req.header("authorization"));
    if (!token) {
      return c.text(
        `Unauthorized: ${c.req.method} ${c.req.path} needs an "Authorization: Bearer <token>" ` +
          `header (gamenet runs with --metrics-secure): the token of a ServiceAccount bound ` +
          `to ${REMEDY}\n`,
        401,
        { "www-authenticate": 'Bearer realm="gamenet"' },
      );
    }
    let decision: Decision;
    try {
      decision = await decide(token, attributes);
    } catch (err) {
      const message = redact(err instanceof Error ? err.message : String(err), token);
      log(`${c.req.method} ${c.req.path}: cannot check the bearer token: ${message}`);
      return c.text(
        `Internal error: cannot check the bearer token with the API server: ${message}\n`,
        500,
      );
    }
    if (decision.status === 401) {
      return c.text(`${decision.message}\n`, 401, {
        "www-authenticate": 'Bearer realm="gamenet", error="invalid_token"',
      });
    }
    if (decision.status === 403) return c.text(`${decision.message}\n`, 403);
    await next();
  };
}

/** The token of an `Authorization: Bearer <token>` header, if that is what it holds. */
function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return m?.[1];
}

/** The authorizer's verb of an HTTP method on a non-resource URL. */
function verbOf(method: string): string {
  return method === "HEAD" ? "get" : method.toLowerCase();
}

/** `text` without `token` in it, in case a message quotes what it was given. */
function redact(text: string, token: string): string {
  return text.replaceAll(token, "[token]");
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}
