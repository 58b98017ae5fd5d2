/**
 * The shipped CLBPortPool and CLBPodBinding CRDs (`deploy/crds/`, the API of
 * tke-extend-network-controller v2.5) and gamenet's rules for them
 * (`deploy/rbac.yaml`) on the real API server: the schemas have every field
 * of TKE's Go types, TKE's documented pools apply as written and are kept
 * whole (but the two that TKE's own CRD refuses too), bad enums and ports
 * are refused with a 422 that names the field, the fields TKE makes
 * immutable stay put, `kubectl get` shows TKE's State column first, and the
 * `gamenet` identity may do what a port-pool controller does and no more.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { ControlPlane } from "../controlplane/control_plane.ts";
import { applyManifests } from "../controlplane/apply.ts";
import { REPO_ROOT } from "../controlplane/assets.ts";
import { refusal, strictCreate, tableOf } from "./crd_requests.ts";

const GROUP = "networking.cloud.tencent.com";
const API = `/apis/${GROUP}/v1alpha1`;
const NS = "demo";
const CPP = `${API}/clbportpools`;
const CPB = `${API}/namespaces/${NS}/clbpodbindings`;
const MERGE = "application/merge-patch+json";

// deno-lint-ignore no-explicit-any
type Obj = Record<string, any>;

/**
 * Every field of TKE's Go types (api/v1alpha1 at e2cda4da, by their JSON
 * names; `[]` is an array's items), which the schemas must define, no
 * fewer (a field TKE's users write would be pruned) and no more.
 */
const TKE_FIELDS = {
  "CLBPortPool spec": [
    "startPort",
    "endPort",
    "listenerQuota",
    "listenerPrecreate",
    "listenerPrecreate.enabled",
    "listenerPrecreate.tcp",
    "listenerPrecreate.udp",
    "segmentLength",
    "region",
    "lbPolicy",
    "lbBlacklist",
    "exsistedLoadBalancerIDs",
    "autoCreate",
    "autoCreate.enabled",
    "autoCreate.maxLoadBalancers",
    "autoCreate.parameters",
    ...[
      "vipIsp",
      "bandwidthPackageId",
      "addressIPVersion",
      "loadBalancerPassToTarget",
      "dynamicVip",
      "vpcId",
      "vip",
      "tags",
      "tags[].tagKey",
      "tags[].tagValue",
      "projectId",
      "loadBalancerName",
      "loadBalancerType",
      "masterZoneId",
      "zoneId",
      "subnetId",
      "slaType",
      "lbChargeType",
      "internetAccessible",
      "internetAccessible.internetChargeType",
      "internetAccessible.internetMaxBandwidthOut",
      "internetAccessible.bandwidthpkgSubType",
    ].map((f) => `autoCreate.parameters.${f}`),
  ],
  "CLBPortPool status": [
    "state",
    "message",
    "quota",
    "loadbalancerStatuses",
    ...[
      "autoCreated",
      "state",
      "loadbalancerID",
      "loadbalancerName",
      "ips",
      "hostname",
      "allocated",
      "addressIPVersion",
    ].map((f) => `loadbalancerStatuses[].${f}`),
  ],
  "CLBPodBinding spec": [
    "disabled",
    "ports",
    ...["port", "protocol", "pools", "useSamePortAcrossPools", "certSecretName"].map((f) =>
      `ports[].${f}`
    ),
  ],
  "CLBPodBinding status": [
    "state",
    "message",
    "portBindings",
    ...[
      "port",
      "protocol",
      "certId",
      "pool",
      "region",
      "loadbalancerId",
      "loadbalancerPort",
      "loadbalancerEndPort",
      "listenerId",
      "addressIPVersion",
    ].map((f) => `portBindings[].${f}`),
  ],
} as const;

/**
 * TKE's docs/clb-port-pool.md examples, verbatim, each with its place: the
 * `# docs/clb-port-pool.md line N` comment before it, or before the first
 * document of its code block.
 */
const EXAMPLES = await (async () => {
  const text = await Deno.readTextFile(
    join(REPO_ROOT, "tests", "fixtures", "tke-clb-port-pools.yaml"),
  );
  const places = [...text.matchAll(/^# (docs\/clb-port-pool\.md line \d+,.*)$/gm)];
  const seen = new Map<string, number>();
  return parseAllDocuments(text).map((doc) => {
    const where = places.findLast((m) => m.index < doc.contents!.range![0])?.[1];
    assert.ok(where, `the fixture names the place of the document at ${doc.contents!.range![0]}`);
    seen.set(where, (seen.get(where) ?? 0) + 1);
    const nth = seen.get(where)!;
    return { where: nth === 1 ? where : `${where}, document ${nth}`, pool: doc.toJS() as Obj };
  });
})();

/**
 * The examples TKE's own CRD (config/crd/bases at e2cda4da) refuses too,
 * by the line their code block starts on, and why.
 */
const REFUSED_AS_BY_TKE: Record<string, RegExp> = {
  // The full field reference writes "IPv4"; the enum, and TKE's CRD, say "IPV4".
  "line 18,": /spec\.autoCreate\.parameters\.addressIPVersion: Unsupported value: "IPv4"/,
  // The FAQ on domain-name CLBs leaves out startPort, which TKE's CRD requires.
  "line 960,": /spec\.startPort: Required value/,
};

/** The full field reference, fixed as TKE's enum spells it, and with vip, the one field it lacks. */
function everyField(): Obj {
  const pool = structuredClone(EXAMPLES[0].pool);
  pool.metadata.name = "pool-full";
  pool.spec.autoCreate.parameters.addressIPVersion = "IPV4";
  pool.spec.autoCreate.parameters.vip = "10.0.0.10";
  return pool;
}

const FULL_POOL_STATUS = {
  state: "Active",
  message: "2 CLBs, 3 listeners allocated",
  quota: 50,
  loadbalancerStatuses: [
    {
      autoCreated: false,
      state: "Running",
      loadbalancerID: "lb-04iq85jh",
      loadbalancerName: "test",
      ips: ["111.231.210.160"],
      allocated: 2,
      addressIPVersion: "IPV4",
    },
    {
      autoCreated: true,
      state: "NotFound",
      loadbalancerID: "lb-6phn6qgb",
      loadbalancerName: "test",
      hostname: "lb-6phn6qgb-8gcf1q6kd092nxsl.clb.cd-tencentclb.work",
      allocated: 1,
    },
  ],
};

/**
 * A binding as TKE makes it for a Pod annotated
 * `8000 TCPUDP pool-ctcc,pool-cucc useSamePortAcrossPools` and
 * `8443 TCP_SSL pool-test certSecret=cert-secret`, with its status once bound.
 */
const BINDING: Obj = {
  apiVersion: `${GROUP}/v1alpha1`,
  kind: "CLBPodBinding",
  metadata: { name: "gameserver-0", namespace: NS },
  spec: {
    disabled: false,
    ports: [
      {
        port: 8000,
        protocol: "TCPUDP",
        pools: ["pool-ctcc", "pool-cucc"],
        useSamePortAcrossPools: true,
      },
      { port: 8443, protocol: "TCP_SSL", pools: ["pool-test"], certSecretName: "cert-secret" },
    ],
  },
};
const binding = (pool: string, protocol: string, port: number, more: Obj = {}) => ({
  port,
  protocol,
  pool,
  region: "ap-chengdu",
  loadbalancerId: "lb-04iq85jh",
  loadbalancerPort: 30170,
  listenerId: `lbl-${pool.slice(5)}${protocol.toLowerCase()}`,
  ...more,
});
const BINDING_STATUS = {
  state: "Bound",
  message: "bound to 3 listeners",
  portBindings: [
    binding("pool-ctcc", "TCP", 8000, { loadbalancerEndPort: 30179, addressIPVersion: "IPV4" }),
    binding("pool-ctcc", "UDP", 8000),
    binding("pool-test", "TCP_SSL", 8443, { certId: "O6TkzGNJ" }),
  ],
};

/** The field paths a schema defines, `a.b` for properties and `a[]` for items. */
function schemaFields(schema: Obj, at: string): string[] {
  const out: string[] = [];
  for (const [name, sub] of Object.entries<Obj>(schema.properties ?? {})) {
    const path = at ? `${at}.${name}` : name;
    out.push(path, ...schemaFields(sub, path));
  }
  if (schema.items) out.push(...schemaFields(schema.items, `${at}[]`));
  return out;
}

/** The field paths a value sets, named as {@linkcode schemaFields} names them. */
function valueFields(value: unknown, at = ""): string[] {
  if (Array.isArray(value)) return value.flatMap((v) => valueFields(v, `${at}[]`));
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([name, v]) => {
    const path = at ? `${at}.${name}` : name;
    return [path, ...valueFields(v, path)];
  });
}

const sorted = (paths: readonly string[]) => [...new Set(paths)].sort();

Deno.test("CLBPortPool and CLBPodBinding CRDs: TKE's examples, the schemas and gamenet's RBAC", async (t) => {
  await using cp = await ControlPlane.start({ scheduler: false, controllerManager: false });
  const admin = cp.client("admin");
  const gamenet = cp.client("gamenet");
  const crds: Record<string, Obj> = {};

  await t.step(
    "the CRDs apply as shipped and are Established, with TKE's scopes and short names",
    async () => {
      for (const plural of ["clbportpools", "clbpodbindings"]) {
        const file = join(REPO_ROOT, "deploy", "crds", `${GROUP}_${plural}.yaml`);
        await applyManifests(admin, await Deno.readTextFile(file)); // waits for Established
      }
      for (
        const [plural, scope, short] of [
          ["clbportpools", "Cluster", "cpp"],
          ["clbpodbindings", "Namespaced", "cpb"],
        ]
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
        assert.equal(crd.spec.scope, scope);
        assert.deepEqual(crd.spec.names.shortNames, [short]);
        assert.deepEqual(crd.spec.versions.map((v: Obj) => v.name), ["v1alpha1"]);
        crds[crd.spec.names.kind] = crd.spec.versions[0];
      }
      const served = await admin.request<{ resources: { name: string; namespaced: boolean }[] }>(
        "GET",
        API,
      );
      assert.deepEqual(served.resources.map((r) => `${r.name} namespaced=${r.namespaced}`).sort(), [
        "clbpodbindings namespaced=true",
        "clbpodbindings/status namespaced=true",
        "clbportpools namespaced=false",
        "clbportpools/status namespaced=false",
      ]);
    },
  );

  await t.step("the schemas define every field of TKE's Go types and no other", () => {
    for (const [what, fields] of Object.entries(TKE_FIELDS)) {
      const [kind, part] = what.split(" ");
      const schema = crds[kind].schema.openAPIV3Schema.properties[part];
      assert.deepEqual(sorted(schemaFields(schema, "")), sorted(fields), what);
    }
  });

  await admin.request("POST", "/api/v1/namespaces", { body: { metadata: { name: NS } } });

  await t.step(
    "TKE's documented pools are accepted as written and kept whole, but the two TKE's CRD refuses",
    async () => {
      assert.equal(EXAMPLES.length, 20, "docs/clb-port-pool.md shows 20 pools");
      const refused: string[] = [];
      for (const { where, pool } of EXAMPLES) {
        const reason = Object.entries(REFUSED_AS_BY_TKE).find(([line]) => where.includes(line));
        if (reason) {
          const err = await refusal(strictCreate(admin, CPP, pool), 422);
          assert.match(err.message, reason[1], where);
          refused.push(where);
          continue;
        }
        // One at a time: the page reuses names (pool-test, pool-ctcc, ...).
        const name = pool.metadata.name;
        const created = await strictCreate(admin, CPP, pool).catch((e: Error) => {
          throw new Error(`${where} (${name}): ${e.message}`);
        });
        assert.deepEqual(created.spec, pool.spec, `${where}: nothing pruned or defaulted`);
        const read = await admin.request<Obj>("GET", `${CPP}/${name}`);
        assert.deepEqual(read.spec, pool.spec, where);
        assert.equal(read.metadata.namespace, undefined, "a pool is cluster-scoped");
        await admin.request("DELETE", `${CPP}/${name}`);
        await refusal(admin.request("GET", `${CPP}/${name}`), 404);
      }
      assert.equal(refused.length, Object.keys(REFUSED_AS_BY_TKE).length, refused.join("; "));

      // And each for that reason alone.
      const faq = structuredClone(EXAMPLES.at(-1)!.pool);
      faq.spec.startPort = 30000;
      assert.deepEqual((await strictCreate(admin, CPP, faq, true)).spec, faq.spec);
    },
  );

  await t.step("a pool with every field, and its status, are read back whole", async () => {
    const pool = everyField();
    const spec = (await strictCreate(admin, CPP, pool)).spec;
    assert.deepEqual(spec, pool.spec);
    assert.deepEqual(sorted(valueFields(spec)), sorted(TKE_FIELDS["CLBPortPool spec"]));

    await admin.request("PATCH", `${CPP}/pool-full/status`, {
      body: { status: FULL_POOL_STATUS },
      contentType: MERGE,
    });
    const read = await admin.request<Obj>("GET", `${CPP}/pool-full`);
    assert.deepEqual(read.spec, pool.spec);
    assert.deepEqual(read.status, FULL_POOL_STATUS);
    assert.deepEqual(sorted(valueFields(read.status)), sorted(TKE_FIELDS["CLBPortPool status"]));
  });

  await t.step("a status without state is Pending, and a state TKE lacks is refused", async () => {
    await strictCreate(admin, CPP, {
      apiVersion: `${GROUP}/v1alpha1`,
      kind: "CLBPortPool",
      metadata: { name: "pool-new" },
      spec: { startPort: 30000 },
    });
    const patched = await admin.request<Obj>("PATCH", `${CPP}/pool-new/status`, {
      body: { status: { quota: 50 } },
      contentType: MERGE,
    });
    assert.deepEqual(patched.status, { state: "Pending", quota: 50 });
    const bad = await refusal(
      admin.request("PATCH", `${CPP}/pool-new/status`, {
        body: { status: { state: "Ready" } },
        contentType: MERGE,
      }),
      422,
    );
    assert.match(bad.message, /status\.state: Unsupported value: "Ready"/);
  });

  await t.step(
    "a bad enum, port or port range is refused with a 422 naming the field",
    async () => {
      const cases: [string, (spec: Obj) => void, RegExp][] = [
        [
          "lbPolicy Fastest",
          (s) => s.lbPolicy = "Fastest",
          /spec\.lbPolicy: Unsupported value: "Fastest": supported values: "Uniform", "InOrder", "Random"/,
        ],
        ["startPort 0", (s) => s.startPort = 0, /spec\.startPort: Invalid value: 0/],
        ["startPort 65536", (s) => s.startPort = 65536, /spec\.startPort: Invalid value: 65536/],
        ["endPort 65536", (s) => s.endPort = 65536, /spec\.endPort: Invalid value: 65536/],
        [
          "endPort before startPort",
          (s) => s.endPort = 29999,
          /spec\.endPort: Invalid value.*endPort must not be less than startPort/,
        ],
        [
          "segmentLength 65536",
          (s) => s.segmentLength = 65536,
          /spec\.segmentLength: Invalid value: 65536/,
        ],
        [
          "vipIsp CTC",
          (s) => s.autoCreate.parameters.vipIsp = "CTC",
          /spec\.autoCreate\.parameters\.vipIsp: Unsupported value: "CTC"/,
        ],
        [
          "slaType clb.c5.large",
          (s) => s.autoCreate.parameters.slaType = "clb.c5.large",
          /spec\.autoCreate\.parameters\.slaType: Unsupported value: "clb.c5.large"/,
        ],
        [
          "internetChargeType BANDWIDTH",
          (s) => s.autoCreate.parameters.internetAccessible.internetChargeType = "BANDWIDTH",
          /spec\.autoCreate\.parameters\.internetAccessible\.internetChargeType: Unsupported value/,
        ],
        [
          "autoCreate without enabled",
          (s) => delete s.autoCreate.enabled,
          /spec\.autoCreate\.enabled: Required value/,
        ],
      ];
      for (const [what, change, message] of cases) {
        const pool = everyField();
        pool.metadata.name = "pool-bad";
        change(pool.spec);
        const err = await refusal(strictCreate(admin, CPP, pool, true), 422).catch((e: Error) => {
          throw new Error(`${what}: ${e.message}`);
        });
        assert.match(err.message, message, what);
      }

      const bindingCases: [string, (spec: Obj) => void, RegExp][] = [
        [
          "protocol SCTP",
          (s) => s.ports[1].protocol = "SCTP",
          /spec\.ports\[1\]\.protocol: Unsupported value: "SCTP"/,
        ],
        ["port 0", (s) => s.ports[0].port = 0, /spec\.ports\[0\]\.port: Invalid value: 0/],
        ["no pools", (s) => delete s.ports[0].pools, /spec\.ports\[0\]\.pools: Required value/],
      ];
      for (const [what, change, message] of bindingCases) {
        const body = structuredClone(BINDING);
        change(body.spec);
        const err = await refusal(strictCreate(admin, CPB, body, true), 422);
        assert.match(err.message, message, what);
      }
    },
  );

  await t.step(
    "startPort and the other fields TKE makes immutable stay put; lbPolicy and the CLB lists change",
    async () => {
      const patch = (spec: Obj) =>
        admin.request<Obj>("PATCH", `${CPP}/pool-full`, { body: { spec }, contentType: MERGE });
      const err = await refusal(patch({ startPort: 30001 }), 422);
      assert.match(err.message, /spec\.startPort: Invalid value.*startPort is immutable/);
      const immutable: [Obj, string][] = [
        [{ endPort: 30200 }, "endPort"],
        [{ listenerQuota: 100 }, "listenerQuota"],
        [{ segmentLength: 10 }, "segmentLength"],
        [{ region: "ap-shanghai" }, "region"],
        [{ listenerPrecreate: { tcp: 30 } }, "listenerPrecreate.tcp"],
        [{ listenerPrecreate: { enabled: true } }, "listenerPrecreate.enabled"],
      ];
      for (const [spec, field] of immutable) {
        const e = await refusal(patch(spec), 422);
        assert.match(
          e.message,
          new RegExp(`spec\\.${field.replace(".", "\\.")}: Invalid value.*${field} is immutable`),
          field,
        );
      }
      const changed = await patch({
        lbPolicy: "Uniform",
        exsistedLoadBalancerIDs: ["lb-04iq85jh", "lb-6phn6qgb"],
        lbBlacklist: ["lb-04iq85jh"],
        autoCreate: { maxLoadBalancers: 20 },
      });
      assert.equal(changed.spec.lbPolicy, "Uniform");
      assert.deepEqual(changed.spec.exsistedLoadBalancerIDs, ["lb-04iq85jh", "lb-6phn6qgb"]);
      assert.deepEqual(changed.spec.lbBlacklist, ["lb-04iq85jh"]);
      assert.equal(changed.spec.autoCreate.maxLoadBalancers, 20);
      assert.equal(changed.spec.startPort, 30000);
    },
  );

  await t.step("a CLBPodBinding like TKE's, and its status, are read back whole", async () => {
    const created = await strictCreate(admin, CPB, BINDING);
    assert.deepEqual(created.spec, BINDING.spec);
    assert.deepEqual(sorted(valueFields(created.spec)), sorted(TKE_FIELDS["CLBPodBinding spec"]));
    await admin.request("PATCH", `${CPB}/gameserver-0/status`, {
      body: { status: BINDING_STATUS },
      contentType: MERGE,
    });
    const read = await admin.request<Obj>("GET", `${CPB}/gameserver-0`);
    assert.deepEqual(read.spec, BINDING.spec);
    assert.deepEqual(read.status, BINDING_STATUS);
    assert.deepEqual(
      sorted(valueFields(read.status)),
      sorted(TKE_FIELDS["CLBPodBinding status"]),
    );
  });

  await t.step("kubectl's table shows TKE's State column first", async () => {
    for (const kind of ["CLBPortPool", "CLBPodBinding"]) {
      const first = crds[kind].additionalPrinterColumns[0];
      assert.deepEqual(
        [first.name, first.type, first.jsonPath],
        ["State", "string", ".status.state"],
        kind,
      );
    }
    const pools = await tableOf(cp, CPP);
    assert.deepEqual(pools.columns, [
      "Name",
      "State",
      "StartPort",
      "EndPort",
      "LbPolicy",
      "Quota",
      "Age",
    ]);
    const rows = Object.fromEntries(pools.rows.map((r) => [r[0], r.slice(1, 6)]));
    assert.deepEqual(rows["pool-full"], ["Active", 30000, 30100, "Uniform", 50]);
    assert.deepEqual(rows["pool-new"], ["Pending", 30000, null, null, 50]);

    const bindings = await tableOf(cp, CPB);
    assert.deepEqual(bindings.columns, ["Name", "State", "Age"]);
    assert.deepEqual(bindings.rows.map((r) => r.slice(0, 2)), [["gameserver-0", "Bound"]]);
  });

  await t.step("gamenet may do what a port-pool controller does with them", async () => {
    // Pools: read, watched, their status written, held by a finalizer.
    const list = await gamenet.request<Obj>("GET", CPP);
    assert.deepEqual(list.items.map((p: Obj) => p.metadata.name).sort(), ["pool-full", "pool-new"]);
    const watch = await gamenet.fetch("GET", CPP, { query: { watch: true, timeoutSeconds: 1 } });
    assert.equal(watch.status, 200);
    await watch.body?.cancel();
    await gamenet.request("PATCH", `${CPP}/pool-new/status`, {
      body: { status: { state: "Active", quota: 50 } },
      contentType: MERGE,
    });
    assert.equal((await admin.request<Obj>("GET", `${CPP}/pool-new`)).status.state, "Active");
    const held = await gamenet.request<Obj>("PATCH", `${CPP}/pool-new`, {
      body: { metadata: { finalizers: ["gamenet.io/clb-port-pool"] } },
      contentType: MERGE,
    });
    assert.deepEqual(held.metadata.finalizers, ["gamenet.io/clb-port-pool"]);
    held.metadata.finalizers = [];
    await gamenet.request("PUT", `${CPP}/pool-new`, { body: held });
    // Pools are people's to make and delete.
    const denied = await refusal(gamenet.request("DELETE", `${CPP}/pool-new`), 403);
    assert.match(denied.message, /cannot delete resource "clbportpools"/);

    // Bindings: made, changed, their status written, deleted.
    const made = structuredClone(BINDING);
    made.metadata.name = "gameserver-1";
    await strictCreate(gamenet, CPB, made);
    const path = `${CPB}/gameserver-1`;
    await gamenet.request("PATCH", `${path}/status`, {
      body: { status: { state: "Pending" } },
      contentType: MERGE,
    });
    const disabled = await gamenet.request<Obj>("PATCH", path, {
      body: { spec: { disabled: true } },
      contentType: MERGE,
    });
    assert.equal(disabled.spec.disabled, true);
    assert.equal(disabled.status.state, "Pending");
    await gamenet.request("DELETE", path);
    await refusal(gamenet.request("GET", path), 404);
  });

  await t.step("gamenet's rules for them, as the API server decides them", async () => {
    const can = async (verb: string, resource: string, subresource = "") => {
      const review = await gamenet.request<Obj>(
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        {
          body: {
            apiVersion: "authorization.k8s.io/v1",
            kind: "SelfSubjectAccessReview",
            spec: {
              resourceAttributes: {
                namespace: resource === "clbpodbindings" ? NS : undefined,
                group: GROUP,
                resource,
                subresource,
                verb,
              },
            },
          },
        },
      );
      return review.status.allowed === true;
    };
    const allowed: [string, string, string?][] = [
      ["get", "clbportpools"],
      ["list", "clbportpools"],
      ["watch", "clbportpools"],
      ["update", "clbportpools"],
      ["patch", "clbportpools"],
      ["patch", "clbportpools", "status"],
      ["get", "clbpodbindings"],
      ["list", "clbpodbindings"],
      ["watch", "clbpodbindings"],
      ["create", "clbpodbindings"],
      ["patch", "clbpodbindings"],
      ["delete", "clbpodbindings"],
      ["patch", "clbpodbindings", "status"],
    ];
    const denied: [string, string, string?][] = [
      ["create", "clbportpools"],
      ["delete", "clbportpools"],
      ["deletecollection", "clbportpools"],
      ["deletecollection", "clbpodbindings"],
    ];
    for (const [verb, resource, sub] of allowed) {
      assert.ok(await can(verb, resource, sub), `gamenet may ${verb} ${resource}/${sub ?? ""}`);
    }
    for (const [verb, resource, sub] of denied) {
      assert.ok(
        !await can(verb, resource, sub),
        `gamenet may not ${verb} ${resource}/${sub ?? ""}`,
      );
    }
  });
});
