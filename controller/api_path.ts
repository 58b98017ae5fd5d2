/**
 * Where the API server serves a group/version: the core group (`v1`)
 * under `/api`, every other under `/apis`.
 *
 * @example
 * ```ts
 * apiPath("v1"); // "/api/v1"
 * apiPath("networking.k8s.io/v1"); // "/apis/networking.k8s.io/v1"
 * ```
 * @module
 */

/** The URL path of `apiVersion`'s resources, without a trailing slash. */
export function apiPath(apiVersion: string): string {
  return apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}
