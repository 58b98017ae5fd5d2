/**
 * The shipped DedicatedCLBService and DedicatedCLBListener CRDs
 * (`deploy/crds/`) and gamenet's rules for them (`deploy/rbac.yaml`) on the
 * real API server: the seed's service is accepted as written, bad input is
 * refused with a 422 that names the field, a listener's place on its CLB
 * cannot change, status is written only through its subresource, and the
 * `gamenet` identity may do what the controllers do and no more.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { ControlPlane } from "../controlplane/control_plane.ts";
import { applyManifests } from "../controlplane/apply.ts";
import { REPO_ROOT } from "../controlplane/assets.ts";
import type { KubeClient } from "../../controller/kube_client.ts";
import { refusal, strictCreate, tableOf } from "./crd_requests.ts";

const GROUP = "networking.cloud.tencent.com";
const API = `/apis/${GROUP}/v1alpha1`;
const NS = "demo";
const DCS = `${API}/namespaces/${NS}/dedicatedclbservices`;
const DCL = `${API}/namespaces/${NS}/dedicatedclblisteners`;
const MERGE = "application/merge-patch+json";

// deno-lint-ignore no-explicit-any
type Obj = Record<string, any>;

/** The seed's example, but for its `v1apha1` typo. */
const SEED = await Deno.readTextFile(
  join(REPO_ROOT, "tests", "fixtures", "dedicated-clb-service.yaml"),
);

function listener(name: string, spec: Obj = {}): Obj {
  return {
    apiVersion: `${GROUP}/v1alpha1`,
    kind: "DedicatedCLBListener",
    metadata: { name, namespace: NS },
    spec: {
      lbId: "lb-xxx",
      lbRegion: "ap-chengdu",
      lbPort: 8088,
      protocol: "TCP",
      listenerConfig: "clblistenerconfig-sample",
      backendPod: { podName: "gameserver-0", port: 80 },
      ...spec,
    },
  };
}

/** A dry-run create of the seed's service with `change` applied to its spec, which must fail. */
async function refusedService(client: KubeClient, change: (spec: Obj) => void): Promise<string> {
  const body = parseYaml(SEED);
  change(body.spec);
  return (await refusal(strictCreate(client, DCS, body, true), 422)).message;
}

Deno.test("DedicatedCLB CRDs: the schemas, the status subresource and gamenet's RBAC", async (t) => {
  // OwnerReferencesPermissionEnforcement, as some distributions run it: a listener's
  // blockOwnerDeletion needs the rule on its service's finalizers.
  await using cp = await ControlPlane.start({
    scheduler: false,
    controllerManager: false,
    apiServerArgs: ["--enable-admission-plugins=OwnerReferencesPermissionEnforcement"],
  });
  const admin = cp.client("admin");
  const gamenet = cp.client("gamenet");

  await t.step("the CRDs apply and are Established, namespaced, with short names", async () => {
    const dir = join(REPO_ROOT, "deploy", "crds");
    for await (const e of Deno.readDir(dir)) {
      await applyManifests(admin, await Deno.readTextFile(join(dir, e.name))); // waits for Established
    }
    for (
      const [plural, short] of [["dedicatedclbservices", "dcs"], ["dedicatedclblisteners", "dcl"]]
    ) {
      const crd = await admin.request<Obj>(
        "GET",
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${plural}.${GROUP}`,
      );
      const conditions = Object.fromEntries(
        (crd.status.conditions as Obj[]).map((c) => [c.type, c.status]),
      );
      assert.equal(conditions.Established, "True");
      assert.equal(conditions.NamesAccepted, "True");
      assert.equal(conditions.NonStructuralSchema, undefined, "the schema is structural");
      assert.equal(crd.spec.scope, "Namespaced");
      assert.deepEqual(crd.spec.names.shortNames, [short]);
    }
    const served = await admin.request<{ resources: { name: string; namespaced: boolean }[] }>(
      "GET",
      API,
    );
    // deploy/crds/ also holds the port pools' kinds (clb_port_pool_crds_test.ts).
    assert.deepEqual(served.resources.map((r) => r.name).sort(), [
      "clbpodbindings",
      "clbpodbindings/status",
      "clbportpools",
      "clbportpools/status",
      "dedicatedclblisteners",
      "dedicatedclblisteners/status",
      "dedicatedclbservices",
      "dedicatedclbservices/status",
    ]);
    // The seed's own apiVersion has a typo: it is not served.
    await refusal(admin.request("GET", `/apis/${GROUP}/v1apha1`), 404);
  });

  await admin.request("POST", "/api/v1/namespaces", { body: { metadata: { name: NS } } });

  await t.step("the seed's DedicatedCLBService is accepted as written", async () => {
    const seed = parseYaml(SEED);
    const created = await strictCreate(admin, DCS, seed);
    assert.deepEqual(created.spec, seed.spec, "nothing pruned or defaulted");
    const read = await admin.request<Obj>("GET", `${DCS}/gameserver`);
    assert.deepEqual(read.spec, seed.spec);
  });

  await t.step("kubectl's table shows the printer columns", async () => {
    const dcsTable = await tableOf(cp, DCS);
    assert.deepEqual(dcsTable.columns, ["Name", "MinPort", "MaxPort", "LBs", "Bound", "Age"]);
    assert.deepEqual(dcsTable.rows[0].slice(0, 4), [
      "gameserver",
      501,
      600,
      '["lb-xxx","lb-yyy","lb-zzz"]',
    ]);
  });

  await t.step("a DedicatedCLBService is refused with a 422 naming the field", async () => {
    const cases: [string, (spec: Obj) => void, RegExp][] = [
      [
        "minPort > maxPort",
        (s) => s.minPort = 700,
        /spec\.minPort.*minPort must not be greater than maxPort/,
      ],
      [
        "protocol SCTP",
        (s) => s.ports[1].protocol = "SCTP",
        /spec\.ports\[1\]\.protocol: Unsupported value: "SCTP"/,
      ],
      [
        "lbId foo",
        (s) => s.existedLbIds[2] = "foo",
        /spec\.existedLbIds\[2\]: Invalid value: "foo"/,
      ],
      ["no selector", (s) => delete s.selector, /spec\.selector: Required value/],
      ["an empty selector", (s) => s.selector = {}, /spec\.selector: Invalid value.*at least 1/],
      ["no ports", (s) => s.ports = [], /spec\.ports: Invalid value.*at least 1/],
      ["no CLB", (s) => delete s.existedLbIds, /spec\.existedLbIds: Required value/],
      ["maxPort 65536", (s) => s.maxPort = 65536, /spec\.maxPort: Invalid value: 65536/],
      ["minPort 0", (s) => s.minPort = 0, /spec\.minPort: Invalid value: 0/],
      [
        "targetPort missing",
        (s) => delete s.ports[0].targetPort,
        /spec\.ports\[0\]\.targetPort: Required value/,
      ],
      [
        "a port twice",
        (s) => s.ports.push({ protocol: "TCP", targetPort: 9000 }),
        /spec\.ports\[2\]: Duplicate value/,
      ],
      [
        "a CLB twice",
        (s) => s.existedLbIds.push("lb-xxx"),
        /spec\.existedLbIds\[3\]: Duplicate value: "lb-xxx"/,
      ],
      [
        "no maxPort",
        (s) => delete s.maxPort,
        /^(?!.*minPort must not).*spec\.maxPort: Required value/,
      ],
    ];
    for (const [what, change, message] of cases) {
      const got = await refusedService(admin, change).catch((e: Error) => {
        throw new Error(`${what}: ${e.message}`);
      });
      assert.match(got, message, what);
    }
    // The seed's extensiveParameters ("not implemented yet") is not gamenet's either: a strict
    // client is told (400), a lax one gets it pruned.
    const seed = parseYaml(SEED);
    seed.spec.extensiveParameters = '{"VipIsp":"CTCC"}';
    const strict = await refusal(strictCreate(admin, DCS, seed, true), 400);
    assert.match(strict.message, /unknown field "spec\.extensiveParameters"/);
    seed.metadata.name = "lax";
    const lax = await admin.request<Obj>("POST", DCS, { body: seed, query: { dryRun: "All" } });
    assert.equal(lax.spec.extensiveParameters, undefined);
  });

  await t.step("a DedicatedCLBListener is refused with a 422 naming the field", async () => {
    const cases: [string, Obj, RegExp][] = [
      ["lbId foo", { lbId: "foo" }, /spec\.lbId: Invalid value: "foo"/],
      ["protocol SCTP", { protocol: "SCTP" }, /spec\.protocol: Unsupported value: "SCTP"/],
      ["lbPort 0", { lbPort: 0 }, /spec\.lbPort: Invalid value: 0/],
      ["no lbPort", { lbPort: undefined }, /spec\.lbPort: Required value/],
      [
        "a backendPod without port",
        { backendPod: { podName: "gs-0" } },
        /spec\.backendPod\.port: Required value/,
      ],
    ];
    for (const [what, spec, message] of cases) {
      const body = JSON.parse(JSON.stringify(listener("bad", spec)));
      const err = await refusal(strictCreate(admin, DCL, body, true), 422);
      assert.match(err.message, message, what);
    }
  });

  await t.step(
    "a listener's lbId, lbPort and protocol are immutable, its backendPod is not",
    async () => {
      await strictCreate(admin, DCL, listener("gameserver-0"));
      const patch = (spec: Obj) =>
        admin.request<Obj>("PATCH", `${DCL}/gameserver-0`, { body: { spec }, contentType: MERGE });
      for (
        const [field, value] of [["lbPort", 8089], ["lbId", "lb-yyy"], ["protocol", "UDP"]] as const
      ) {
        const err = await refusal(patch({ [field]: value }), 422);
        assert.match(
          err.message,
          new RegExp(
            `spec\\.${field}: Invalid value.*${field} is immutable: delete the listener and create another`,
          ),
        );
      }
      const moved = await patch({ backendPod: { podName: "gameserver-1", port: 81 } });
      assert.deepEqual(moved.spec.backendPod, { podName: "gameserver-1", port: 81 });
      const unbound = await patch({ backendPod: null });
      assert.equal(unbound.spec.backendPod, undefined);
      assert.equal(unbound.spec.lbPort, 8088);
      const table = await tableOf(cp, DCL);
      assert.deepEqual(table.columns, [
        "Name",
        "LbId",
        "LbPort",
        "Protocol",
        "Pod",
        "State",
        "Address",
        "Age",
      ]);
    },
  );

  await t.step("status is written through /status only", async () => {
    const path = `${DCL}/gameserver-0`;
    const before = await admin.request<Obj>("GET", path);
    const status = { listenerId: "lbl-ku486mr3", state: "Bound", address: "139.135.64.53:8088" };
    await admin.request("PATCH", `${path}/status`, { body: { status }, contentType: MERGE });
    const after = await admin.request<Obj>("GET", path);
    assert.deepEqual(after.status, status);
    assert.equal(after.metadata.generation, before.metadata.generation, "status is not spec");

    // A status in a write of the main resource is dropped; the spec change is kept.
    const put = structuredClone(after);
    put.status = { state: "Failed", message: "not from here" };
    put.spec.lbRegion = "ap-guangzhou";
    const updated = await admin.request<Obj>("PUT", path, { body: put });
    assert.deepEqual(updated.status, status);
    assert.equal(updated.spec.lbRegion, "ap-guangzhou");
    assert.equal(updated.metadata.generation, after.metadata.generation + 1);
    await admin.request("PATCH", path, {
      body: { status: { state: "Deleting" } },
      contentType: MERGE,
    });
    assert.deepEqual((await admin.request<Obj>("GET", path)).status, status);

    const bad = await refusal(
      admin.request("PATCH", `${path}/status`, {
        body: { status: { state: "Ready" } },
        contentType: MERGE,
      }),
      422,
    );
    assert.match(bad.message, /status\.state: Unsupported value: "Ready"/);

    const dcsStatus = { allocated: 2, bound: 1, message: "", observedGeneration: 1 };
    await admin.request("PATCH", `${DCS}/gameserver/status`, {
      body: { status: dcsStatus },
      contentType: MERGE,
    });
    assert.deepEqual((await admin.request<Obj>("GET", `${DCS}/gameserver`)).status, dcsStatus);
    assert.equal((await tableOf(cp, DCS)).rows[0][4], 1, "the Bound column");
  });

  await t.step("gamenet may do what its controllers do with them", async () => {
    const list = await gamenet.request<Obj>("GET", DCS);
    assert.deepEqual(list.items.map((s: Obj) => s.metadata.name), ["gameserver"]);
    const watch = await gamenet.fetch("GET", `${API}/dedicatedclbservices`, {
      query: { watch: true, timeoutSeconds: 1 },
    });
    assert.equal(watch.status, 200);
    await watch.body?.cancel();
    await gamenet.request("PATCH", `${DCS}/gameserver/status`, {
      body: { status: { message: "from gamenet" } },
      contentType: MERGE,
    });

    // As the service controller makes a listener: owned, blocking its owner's deletion, finalized.
    const dcs = await gamenet.request<Obj>("GET", `${DCS}/gameserver`);
    const made = listener("gameserver-1-tcp-9000", {
      lbPort: 501,
      backendPod: { podName: "gameserver-1", port: 9000 },
    });
    made.metadata.finalizers = ["gamenet.io/clb-listener"];
    made.metadata.ownerReferences = [{
      apiVersion: `${GROUP}/v1alpha1`,
      kind: "DedicatedCLBService",
      name: "gameserver",
      uid: dcs.metadata.uid,
      controller: true,
      blockOwnerDeletion: true,
    }];
    await strictCreate(gamenet, DCL, made);
    const path = `${DCL}/gameserver-1-tcp-9000`;
    await gamenet.request("PATCH", `${path}/status`, {
      body: { status: { state: "Pending" } },
      contentType: MERGE,
    });
    await gamenet.request("PATCH", path, {
      body: { spec: { backendPod: { podName: "gameserver-1", port: 9001 } } },
      contentType: MERGE,
    });
    await gamenet.request("DELETE", path);
    const deleting = await gamenet.request<Obj>("GET", path);
    assert.ok(deleting.metadata.deletionTimestamp, "held by its finalizer");
    await gamenet.request("PATCH", path, {
      body: { metadata: { finalizers: null, resourceVersion: deleting.metadata.resourceVersion } },
      contentType: MERGE,
    });
    await refusal(gamenet.request("GET", path), 404);

    // Is a Fixed Pod's workload still there? A 404 is an answer, a 403 would not be.
    await refusal(gamenet.request("GET", `/apis/apps/v1/namespaces/${NS}/statefulsets/gone`), 404);
    await refusal(
      gamenet.request("GET", `/apis/game.kruise.io/v1alpha1/namespaces/${NS}/gameserversets/gone`),
      404,
    );
  });

  await t.step("gamenet's rules, as the API server decides them", async () => {
    const can = async (verb: string, resource: string, subresource = "", group = GROUP) => {
      const review = await gamenet.request<Obj>(
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        {
          body: {
            apiVersion: "authorization.k8s.io/v1",
            kind: "SelfSubjectAccessReview",
            spec: { resourceAttributes: { namespace: NS, group, resource, subresource, verb } },
          },
        },
      );
      return review.status.allowed === true;
    };
    const allowed: [string, string, string?, string?][] = [
      ["list", "dedicatedclbservices"],
      ["watch", "dedicatedclbservices"],
      ["get", "dedicatedclbservices"],
      ["patch", "dedicatedclbservices", "status"],
      ["update", "dedicatedclbservices", "status"],
      ["update", "dedicatedclbservices", "finalizers"],
      ["create", "dedicatedclblisteners"],
      ["patch", "dedicatedclblisteners"],
      ["update", "dedicatedclblisteners"],
      ["delete", "dedicatedclblisteners"],
      ["list", "dedicatedclblisteners"],
      ["watch", "dedicatedclblisteners"],
      ["patch", "dedicatedclblisteners", "status"],
      ["update", "dedicatedclblisteners", "finalizers"],
      ["get", "statefulsets", "", "apps"],
      ["get", "gameserversets", "", "game.kruise.io"],
    ];
    const denied: [string, string, string?, string?][] = [
      ["delete", "dedicatedclbservices"],
      ["create", "dedicatedclbservices"],
      ["update", "dedicatedclbservices"],
      ["patch", "dedicatedclbservices"],
      ["deletecollection", "dedicatedclblisteners"],
      ["list", "statefulsets", "", "apps"],
      ["delete", "statefulsets", "", "apps"],
      ["update", "pods", "", ""],
    ];
    for (const [verb, resource, sub, group] of allowed) {
      assert.ok(
        await can(verb, resource, sub, group),
        `gamenet may ${verb} ${resource}/${sub ?? ""}`,
      );
    }
    for (const [verb, resource, sub, group] of denied) {
      assert.ok(
        !await can(verb, resource, sub, group),
        `gamenet may not ${verb} ${resource}/${sub ?? ""}`,
      );
    }
    // And acting on it: a service is people's to delete.
    const err = await refusal(gamenet.request("DELETE", `${DCS}/gameserver`), 403);
    assert.match(err.message, /cannot delete resource "dedicatedclbservices"/);
  });
});
