/**
 * `kubectl apply --server-side` for tests: every document of a YAML stream
 * is applied with server-side apply, its resource found through discovery.
 * CustomResourceDefinitions are waited for until Established, so later
 * documents (or tests) can use them at once.
 *
 * @example
 * ```ts
 * await applyManifests(cp.client("admin"), await Deno.readTextFile("deploy/rbac.yaml"));
 * ```
 * @module
 */

import { parseAllDocuments } from "yaml";
import { KubeApiError, type KubeClient } from "../../controller/kube_client.ts";

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
}

interface ApiResource {
  name: string;
  kind: string;
  namespaced: boolean;
}

const discovery = new WeakMap<KubeClient, Map<string, ApiResource[]>>();

async function resourcesOf(
  client: KubeClient,
  apiVersion: string,
  fresh = false,
): Promise<ApiResource[]> {
  let cache = discovery.get(client);
  if (!cache) discovery.set(client, cache = new Map());
  if (!fresh && cache.has(apiVersion)) return cache.get(apiVersion)!;
  const path = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const list = await client.request<{ resources: ApiResource[] }>("GET", path);
  cache.set(apiVersion, list.resources);
  return list.resources;
}

/** The REST path of one object, e.g. `/api/v1/namespaces/ns/pods/name`. */
export async function objectPath(client: KubeClient, obj: Manifest): Promise<string> {
  let res = (await resourcesOf(client, obj.apiVersion).catch(() => [])).find((r) =>
    r.kind === obj.kind && !r.name.includes("/")
  );
  // A kind installed a moment ago (a CRD) is not in a cached discovery.
  res ??= (await resourcesOf(client, obj.apiVersion, true)).find((r) =>
    r.kind === obj.kind && !r.name.includes("/")
  );
  if (!res) throw new Error(`No resource for ${obj.apiVersion} ${obj.kind} on the API server`);
  const base = obj.apiVersion.includes("/") ? `/apis/${obj.apiVersion}` : `/api/${obj.apiVersion}`;
  const ns = res.namespaced ? `/namespaces/${obj.metadata.namespace ?? "default"}` : "";
  return `${base}${ns}/${res.name}/${obj.metadata.name}`;
}

/** Applies every document of `yamlText`; returns the applied objects. */
export async function applyManifests(
  client: KubeClient,
  yamlText: string,
  options: { fieldManager?: string } = {},
): Promise<unknown[]> {
  const applied: unknown[] = [];
  for (const doc of parseAllDocuments(yamlText)) {
    if (doc.errors.length > 0) throw new Error(`Bad YAML: ${doc.errors[0].message}`);
    const obj = doc.toJS() as Manifest | null;
    if (!obj) continue;
    const path = await objectPath(client, obj);
    applied.push(
      await client.request("PATCH", path, {
        query: { fieldManager: options.fieldManager ?? "gamenet-tests", force: true },
        body: JSON.stringify(obj),
        contentType: "application/apply-patch+yaml",
      }),
    );
    if (obj.kind === "CustomResourceDefinition") await waitEstablished(client, path);
  }
  return applied;
}

async function waitEstablished(client: KubeClient, path: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      const crd = await client.request<
        { status?: { conditions?: { type: string; status: string }[] } }
      >("GET", path);
      if (crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True")) {
        return;
      }
    } catch (err) {
      if (!(err instanceof KubeApiError)) throw err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${path} not Established after 30 s`);
}
