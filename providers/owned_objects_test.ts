import assert from "node:assert/strict";
import {
  ENDPOINT_SLICES,
  mapPatch,
  objectPatch,
  OwnedObjects,
  ownerReferencesFor,
  SERVICES,
} from "./owned_objects.ts";
import type { ExtensionContext, ExtensionObject } from "./extension.ts";
import type { Pod } from "./types.ts";

const service: ExtensionObject = {
  metadata: {
    name: "gs-0",
    namespace: "games",
    annotations: { "gamenet.io/owner": "admission/1", "other.io/kept": "x" },
    ownerReferences: [{ apiVersion: "v1", kind: "Pod", name: "gs-0", uid: "u1", controller: true }],
  },
  spec: {
    type: "NodePort",
    clusterIP: "10.96.0.9",
    selector: { "gamenet.io/game-server": "1" },
    ports: [{ name: "80", port: 80, targetPort: 80, protocol: "TCP", nodePort: 30080 }],
  },
};

const desired = {
  metadata: {
    name: "gs-0",
    annotations: { "gamenet.io/owner": "admission/1" },
    ownerReferences: [{ apiVersion: "v1", kind: "Pod", name: "gs-0", uid: "u1", controller: true }],
  },
  spec: {
    type: "NodePort",
    selector: { "gamenet.io/game-server": "1" },
    ports: [{ name: "80", port: 80, targetPort: 80, protocol: "TCP" }],
    publishNotReadyAddresses: false,
  },
};

Deno.test("objectPatch() sends nothing when what gamenet owns agrees", () => {
  // The API server's cluster IP and node port, and an off flag it leaves out, are no difference.
  assert.equal(objectPatch(service, desired), undefined);
});

Deno.test("objectPatch() replaces a selector key instead of merging it", () => {
  const disabled = {
    ...desired,
    spec: { ...desired.spec, selector: { "game.kruise.io/svc-selector-disabled": "gs-0" } },
  };
  assert.deepEqual(objectPatch(service, disabled), {
    spec: {
      selector: { "game.kruise.io/svc-selector-disabled": "gs-0", "gamenet.io/game-server": null },
    },
  });
});

Deno.test("objectPatch() sends the ports when one is added, keeping the node ports given", () => {
  const more = {
    ...desired,
    spec: {
      ...desired.spec,
      ports: [
        { name: "80", port: 80, targetPort: 80, protocol: "TCP", nodePort: 30080 },
        { name: "80-udp", port: 80, targetPort: 80, protocol: "UDP", nodePort: 30080 },
      ],
    },
  };
  assert.deepEqual(objectPatch(service, more), { spec: { ports: more.spec.ports } });
});

Deno.test("objectPatch() moves the owner and removes user annotations given no more", () => {
  const current = {
    ...service,
    metadata: {
      ...service.metadata,
      annotations: { ...service.metadata.annotations, "a.io/x": "1", "gamenet.io/list": "a.io/x" },
    },
  };
  const next = {
    ...desired,
    metadata: {
      ...desired.metadata,
      annotations: { ...desired.metadata.annotations, "gamenet.io/list": "" },
      ownerReferences: [{
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        name: "gs",
        uid: "s1",
        controller: true,
      }],
    },
  };
  assert.deepEqual(objectPatch(current, next, ["gamenet.io/list"]), {
    metadata: {
      annotations: { "gamenet.io/list": "", "a.io/x": null },
      ownerReferences: next.metadata.ownerReferences,
    },
  });
});

Deno.test("mapPatch() sets the wanted keys and nulls the others", () => {
  assert.deepEqual(mapPatch({ a: "1", b: "2" }, { b: "3" }), { a: null, b: "3" });
});

Deno.test("ownerReferencesFor() gives Fixed objects to the workload only when the name comes back", () => {
  const ref = {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    name: "gs",
    uid: "s1",
    controller: true,
  };
  const sts: Pod = { metadata: { name: "gs-0", uid: "p1", ownerReferences: [ref] } };
  assert.deepEqual(ownerReferencesFor(sts, true), [ref]);
  assert.equal(ownerReferencesFor(sts, false)[0].kind, "Pod");
  const fromDeployment: Pod = {
    metadata: {
      name: "gs-abc",
      generateName: "gs-",
      uid: "p2",
      ownerReferences: [{ ...ref, kind: "ReplicaSet" }],
    },
  };
  assert.deepEqual(ownerReferencesFor(fromDeployment, true), [
    { apiVersion: "v1", kind: "Pod", name: "gs-abc", uid: "p2", controller: true },
  ]);
});

Deno.test("collect() deletes what no Pod of the type and no live workload keeps", async () => {
  const objects = new Map<string, ExtensionObject>();
  const add = (name: string, ownerKind: string, ownerName = name) =>
    objects.set(`games/${name}`, {
      metadata: {
        name,
        namespace: "games",
        ownerReferences: [{ apiVersion: "v1", kind: ownerKind, name: ownerName, uid: "u" }],
      },
    });
  add("live", "Pod");
  add("orphan", "Pod");
  add("kept", "StatefulSet", "set");
  add("workload-gone", "StatefulSet", "gone");
  add("other-type", "Pod");
  const pods: Record<string, Pod> = {
    "games/live": {
      metadata: {
        name: "live",
        annotations: { "game.kruise.io/network-type": "Kubernetes-NodePort" },
      },
    },
    "games/other-type": {
      metadata: {
        name: "other-type",
        annotations: { "game.kruise.io/network-type": "Kubernetes-HostPort" },
      },
    },
  };
  const deleted: string[] = [];
  const owned = new OwnedObjects("Kubernetes-NodePort", [SERVICES, ENDPOINT_SLICES]);
  owned.attach({
    list: (resource: string) => (resource === "services" ? [...objects.values()] : []),
    pod: (key: string) => pods[key],
    delete: (_r: string, ns: string, name: string) => {
      deleted.push(`${ns}/${name}`);
      return Promise.resolve();
    },
  } as unknown as ExtensionContext);
  const result = await owned.collect({
    workloadExists: (_ns, ref) => Promise.resolve(ref.name === "set"),
    requeue: () => {},
  });
  assert.deepEqual(deleted.sort(), ["games/orphan", "games/other-type", "games/workload-gone"]);
  assert.deepEqual(result.map((o) => o.metadata.name).sort(), [
    "orphan",
    "other-type",
    "workload-gone",
  ]);
});
