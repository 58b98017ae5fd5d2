/**
 * Asks the API server who holds a bearer token (a TokenReview) and whether
 * that user may do something (a SubjectAccessReview), as every component
 * that delegates its authentication and authorization to Kubernetes does
 * (the kubelet, metrics-server, controller-runtime's secure metrics).
 *
 * @example
 * ```ts
 * const reviewer = createKubeReviewer(client);
 * const user = await reviewer.authenticate(token);
 * if (user) await reviewer.authorize(user, { path: "/metrics", verb: "get" });
 * ```
 * @module
 */

import type { KubeClient } from "../controller/kube_client.ts";

/** Who a token is, as the TokenReview's `status.user` says. */
export interface ReviewedUser {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/** A request on a URL that is no resource, e.g. `get` on `/metrics`. */
export interface NonResourceAttributes {
  path: string;
  verb: string;
}

/** What the TokenReview said. */
export type Authentication =
  | { authenticated: true; user: ReviewedUser }
  /** `error` is the API server's reason, if it gave one. */
  | { authenticated: false; error?: string };

/** What the SubjectAccessReview said. */
export interface Authorization {
  allowed: boolean;
  /** Why, if the authorizer said (RBAC's reason names the binding that allowed it). */
  reason?: string;
}

/**
 * The two questions a guarded route asks. Either rejects when the answer
 * could not be had (the API server is unreachable, or refuses gamenet).
 *
 * @example
 * ```ts
 * const allowEveryone: AccessReviewer = {
 *   authenticate: () => Promise.resolve({ authenticated: true, user: { username: "anyone" } }),
 *   authorize: () => Promise.resolve({ allowed: true }),
 * };
 * ```
 */
export interface AccessReviewer {
  authenticate(token: string): Promise<Authentication>;
  authorize(user: ReviewedUser, attributes: NonResourceAttributes): Promise<Authorization>;
}

interface TokenReviewStatus {
  authenticated?: boolean;
  user?: ReviewedUser;
  error?: string;
}

interface SubjectAccessReviewStatus {
  allowed?: boolean;
  denied?: boolean;
  reason?: string;
  evaluationError?: string;
}

/**
 * An {@linkcode AccessReviewer} that asks the API server through `client`
 * (gamenet's own identity, which needs `create` on `tokenreviews` and
 * `subjectaccessreviews`). The token goes in the review's body only; no
 * message of this module repeats it.
 *
 * @example
 * ```ts
 * const reviewer = createKubeReviewer(KubeClient.inCluster());
 * ```
 */
export function createKubeReviewer(client: Pick<KubeClient, "request">): AccessReviewer {
  return {
    async authenticate(token) {
      const review = await client.request<{ status?: TokenReviewStatus }>(
        "POST",
        "/apis/authentication.k8s.io/v1/tokenreviews",
        {
          // No audiences: the API server's own, as a token for it has.
          body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token } },
        },
      );
      const s = review.status ?? {};
      if (s.authenticated && s.user?.username) return { authenticated: true, user: s.user };
      return { authenticated: false, error: s.error || undefined };
    },
    async authorize(user, attributes) {
      const review = await client.request<{ status?: SubjectAccessReviewStatus }>(
        "POST",
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        {
          body: {
            apiVersion: "authorization.k8s.io/v1",
            kind: "SubjectAccessReview",
            spec: {
              nonResourceAttributes: attributes,
              user: user.username,
              uid: user.uid,
              groups: user.groups,
              extra: user.extra,
            },
          },
        },
      );
      const s = review.status ?? {};
      const reason = [s.reason, s.evaluationError].filter(Boolean).join("; ");
      return { allowed: s.allowed === true && s.denied !== true, reason: reason || undefined };
    },
  };
}
