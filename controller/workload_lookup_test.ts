import assert from "node:assert/strict";
import { KubeApiError } from "./kube_client.ts";
import { WorkloadLookup } from "./workload_lookup.ts";

/** An API server that serves apps/v1 StatefulSets and the objects given. */
function fakeClient(objects: Record<string, { uid: string }>, failDiscovery = false) {
  const calls: string[] = [];
  return {
    calls,
    request<T>(_method: string, path: string): Promise<T> {
      calls.push(path);
      if (path === "/apis/apps/v1") {
        if (failDiscovery) return Promise.reject(new Error("connection refused"));
        return Promise.resolve({
          resources: [
            { name: "statefulsets", kind: "StatefulSet", namespaced: true },
            { name: "statefulsets/status", kind: "StatefulSet", namespaced: true },
          ],
        } as T);
      }
      if (path.startsWith("/apis/apps/v1/")) {
        const obj = objects[path];
        if (!obj) return Promise.reject(new KubeApiError(404, "NotFound", "not found"));
        return Promise.resolve({ metadata: { uid: obj.uid } } as T);
      }
      return Promise.reject(new KubeApiError(404, "NotFound", "no such group"));
    },
  };
}

const sts = { apiVersion: "apps/v1", kind: "StatefulSet", name: "gs", uid: "u1" };

Deno.test("exists() finds a workload by kind through discovery and checks its UID", async () => {
  const client = fakeClient({ "/apis/apps/v1/namespaces/games/statefulsets/gs": { uid: "u1" } });
  const lookup = new WorkloadLookup(client);
  assert.equal(await lookup.exists("games", sts), true);
  assert.equal(await lookup.exists("games", { ...sts, uid: "u2" }), false, "re-created workload");
  assert.equal(await lookup.exists("other", sts), false);
  // Discovery is asked once.
  assert.equal(client.calls.filter((p) => p === "/apis/apps/v1").length, 1);
});

Deno.test("exists() answers true when the API server cannot tell", async () => {
  const unknownKind = new WorkloadLookup(fakeClient({}));
  assert.equal(
    await unknownKind.exists("games", {
      apiVersion: "game.kruise.io/v1alpha1",
      kind: "X",
      name: "a",
      uid: "",
    }),
    true,
  );
  const down = fakeClient({}, true);
  assert.equal(await new WorkloadLookup(down).exists("games", sts), true);
});
