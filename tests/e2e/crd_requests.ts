/**
 * Requests the CRD tests make of the API server: a strict create (a field
 * the schema lacks fails instead of being pruned), the refusal a request
 * must meet, and the Table rendering `kubectl get` shows.
 *
 * @example
 * ```ts
 * await refusal(strictCreate(admin, path, body), 422);
 * const { columns } = await tableOf(cp, path);
 * ```
 * @module
 */

import assert from "node:assert/strict";
import type { ControlPlane } from "../controlplane/control_plane.ts";
import { KubeApiError, type KubeClient } from "../../controller/kube_client.ts";

// deno-lint-ignore no-explicit-any
type Obj = Record<string, any>;

/** Creates with `fieldValidation=Strict`: a field the schema lacks fails instead of being pruned. */
export async function strictCreate(
  client: KubeClient,
  path: string,
  body: Obj,
  dryRun = false,
): Promise<Obj> {
  return await client.request<Obj>("POST", path, {
    body,
    query: { fieldValidation: "Strict", dryRun: dryRun ? "All" : undefined },
  });
}

/** The API server's refusal of `p`, which must be `status`. */
export async function refusal(p: Promise<unknown>, status: number): Promise<KubeApiError> {
  const err = await p.then(() => undefined, (e) => e);
  assert.ok(err instanceof KubeApiError, `expected a refusal, got ${err ?? "success"}`);
  assert.equal(err.status, status, err.message);
  return err;
}

/** The API server's Table rendering of a list, as `kubectl get` asks for it. */
export async function tableOf(
  cp: ControlPlane,
  path: string,
): Promise<{ columns: string[]; rows: unknown[][] }> {
  using http = Deno.createHttpClient({ caCerts: [cp.ca.certPem] });
  const res = await fetch(`${cp.server}${path}`, {
    client: http,
    headers: {
      authorization: `Bearer ${cp.token("admin")}`,
      accept: "application/json;as=Table;v=v1;g=meta.k8s.io",
    },
  });
  const table = await res.json();
  assert.equal(res.status, 200, JSON.stringify(table));
  assert.equal(table.kind, "Table");
  return {
    columns: table.columnDefinitions.map((c: Obj) => c.name),
    rows: table.rows.map((r: Obj) => r.cells),
  };
}
