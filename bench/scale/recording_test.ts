import assert from "node:assert/strict";
import { OWNER_ANNOTATION } from "../../providers/types.ts";
import { type Recording, replicatePods } from "./recording.ts";

/** A recorded game-server Pod as the API server lists it, owned by its admission. */
function recordedPod(name: string, uid: string, admissionUid: string, node: string): string {
  return JSON.stringify({
    metadata: {
      name,
      namespace: "scale-gs",
      uid,
      annotations: { [OWNER_ANNOTATION]: `admission/${admissionUid}` },
    },
    spec: { nodeName: node, containers: [{ name: "gs", ports: [{ hostPort: 8000 }] }] },
    status: { podIP: "10.128.0.5", hostIP: "10.0.0.1" },
  });
}

const recording: Recording = {
  nodes: 1,
  pods: [
    recordedPod(
      "hp-1",
      "0a0b0c0d-0000-4000-8000-000000000001",
      "5f5e5d5c-1111-4111-8111-000000000001",
      "node-1",
    ),
    recordedPod(
      "hp-2",
      "0a0b0c0d-0000-4000-8000-000000000002",
      "5f5e5d5c-1111-4111-8111-000000000002",
      "node-1",
    ),
  ],
  nodeItems: [],
  loadBalancers: [],
};

const ownerOf = (json: string) => JSON.parse(json).metadata.annotations[OWNER_ANNOTATION] as string;

Deno.test("replicatePods() gives every copy's Pods owners of their own", () => {
  const copies = [0, 1, 2].map((c) => replicatePods(recording, c));
  const owners = copies.flat().map((p) => ownerOf(p.json));
  assert.equal(new Set(owners).size, owners.length, `owners shared between copies: ${owners}`);
  // Copy 0 is the recording itself.
  assert.deepEqual(copies[0].map((p) => ownerOf(p.json)), recording.pods.map(ownerOf));
  for (const owner of owners) assert.match(owner, /^admission\/[0-9a-f]{8}-1111-4111-8111-/);
});

Deno.test("replicatePods() gives every copy's Pods new names and UIDs on nodes of their own", () => {
  const pods = [0, 1, 2].flatMap((c) => replicatePods(recording, c)).map((p) => JSON.parse(p.json));
  const uids = pods.map((p) => p.metadata.uid);
  assert.equal(new Set(uids).size, uids.length);
  const names = pods.map((p) => p.metadata.name);
  assert.deepEqual(names, ["hp-1", "hp-2", "hp-1-c1", "hp-2-c1", "hp-1-c2", "hp-2-c2"]);
  // The same host port twice on a node would be a conflict no real cluster has.
  const nodes = pods.map((p) => p.spec.nodeName);
  assert.equal(new Set(nodes).size, nodes.length, `nodes: ${nodes}`);
});
