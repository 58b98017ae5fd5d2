import assert from "node:assert/strict";
import type { ExtensionContext, ExtensionObject } from "./extension.ts";
import {
  ALIBABA_NATGW,
  createAlibabaNatGwProvider,
  POD_DNAT_ANNOTATION,
  POD_DNAT_FIXED_ANNOTATION,
  POD_DNAT_PORT_ANNOTATION,
  POD_DNAT_PROTOCOL_ANNOTATION,
} from "./alibaba_natgw.ts";
import { ConfError, NETWORK_CONF_ANNOTATION, NETWORK_TYPE_ANNOTATION, type Pod } from "./types.ts";

const CREATED = "2026-11-22T10:00:00Z";

function pod(conf: Record<string, string>, ip?: string): Pod {
  return {
    metadata: {
      namespace: "games",
      name: "gs-0",
      creationTimestamp: CREATED,
      annotations: {
        [NETWORK_TYPE_ANNOTATION]: "Ali-NatGw",
        [NETWORK_CONF_ANNOTATION]: JSON.stringify(
          Object.entries(conf).map(([name, value]) => ({ name, value })),
        ),
      },
    },
    status: ip ? { podIP: ip } : {},
  };
}

/** A cache holding the PodDNATs given. */
function cloudWith(objects: Record<string, ExtensionObject>): ExtensionContext {
  return { get: (_r: string, key: string) => objects[key] } as unknown as ExtensionContext;
}

function setup(now: number, dnat: Record<string, ExtensionObject> = {}) {
  const provider = createAlibabaNatGwProvider({ entryTimeoutMs: 60_000, now: () => now });
  provider.extension!.restore!(cloudWith(dnat));
  return provider;
}

const entry = (internalPort: string, externalPort: string, externalIP = "47.1.2.3") => ({
  externalIP,
  externalPort,
  internalIP: "10.0.0.5",
  internalPort,
  ipProtocol: "tcp",
  forwardEntryId: `fwd-${internalPort}`,
});

Deno.test("admit() sets Alibaba's pod-dnat annotations from the conf", async () => {
  const provider = setup(Date.parse(CREATED));
  const p = pod({ Ports: "80,81", Protocol: "UDP", Fixed: "true" });
  const { patch } = await provider.admit(p, provider.parse(p), { owner: "a", dryRun: false });
  const set = Object.fromEntries(patch.map((op) => [op.path, op.value]));
  assert.deepEqual(set, {
    [`/metadata/annotations/${POD_DNAT_ANNOTATION.replace("/", "~1")}`]: "",
    [`/metadata/annotations/${POD_DNAT_PORT_ANNOTATION.replace("/", "~1")}`]: "80,81",
    [`/metadata/annotations/${POD_DNAT_PROTOCOL_ANNOTATION.replace("/", "~1")}`]: "udp",
    [`/metadata/annotations/${POD_DNAT_FIXED_ANNOTATION.replace("/", "~1")}`]: "true",
  });
  assert.equal(provider.name, ALIBABA_NATGW);
  assert.ok(provider.aliases.includes("NATGW-Network"));
});

Deno.test("parse() refuses ports that are not numbers and unknown protocols, naming the value", () => {
  const provider = setup(0);
  for (
    const [conf, message] of [
      [{ Ports: "http" }, /Ports "http"/],
      [{ Ports: "80,80" }, /asked twice/],
      [{ Ports: "" }, /needs Ports/],
      [{ Ports: "80", Protocol: "SCTP" }, /Protocol "SCTP"/],
      [{ Ports: "80", Fixed: "yes" }, /Fixed "yes"/],
    ] as const
  ) {
    assert.throws(
      () => provider.parse(pod(conf)),
      (err) => err instanceof ConfError && message.test(err.message),
      JSON.stringify(conf),
    );
  }
  assert.deepEqual(provider.parse(pod({ Ports: "80" })), {
    ports: [80],
    protocol: "TCP",
    fixed: false,
  });
});

Deno.test("reconcile() is Waiting until every port has an entry, then Ready with them", async () => {
  const dnat: Record<string, ExtensionObject> = {};
  const provider = setup(Date.parse(CREATED) + 5_000, dnat);
  const p = pod({ Ports: "80,81" }, "10.0.0.5");
  const conf = provider.parse(p);
  const ctx = { owner: "games/gs-0", node: () => undefined };
  let outcome = await provider.reconcile(p, conf, ctx);
  assert.equal(outcome.kind, "requeueAfter");
  assert.equal(outcome.kind === "requeueAfter" && outcome.report?.currentNetworkState, "Waiting");
  dnat["games/gs-0"] = {
    metadata: { name: "gs-0", namespace: "games" },
    status: { entries: [entry("80", "512")] },
  };
  outcome = await provider.reconcile(p, conf, ctx);
  assert.equal(outcome.kind, "requeueAfter", "one port of two");
  dnat["games/gs-0"].status.entries.push({ ...entry("81", "513"), internalIP: "10.0.0.4" });
  outcome = await provider.reconcile(p, conf, ctx);
  assert.equal(
    outcome.kind,
    "requeueAfter",
    "an entry for the previous Pod's IP is not this Pod's",
  );
  dnat["games/gs-0"].status.entries[1] = entry("81", "513");
  outcome = await provider.reconcile(p, conf, ctx);
  assert.equal(outcome.kind, "done");
  assert.deepEqual(outcome.kind === "done" && outcome.report, {
    currentNetworkState: "Ready",
    desiredNetworkState: "Ready",
    internalAddresses: [{
      ip: "10.0.0.5",
      ports: [{ name: "80", port: 80, protocol: "TCP" }, { name: "81", port: 81, protocol: "TCP" }],
    }],
    externalAddresses: [{
      ip: "47.1.2.3",
      ports: [{ name: "80", port: 512, protocol: "TCP" }, {
        name: "81",
        port: 513,
        protocol: "TCP",
      }],
    }],
  });
});

Deno.test("reconcile() turns NotReady with the missing ports once the entries are late", async () => {
  const provider = setup(Date.parse(CREATED) + 61_000);
  const p = pod({ Ports: "80" }, "10.0.0.5");
  const outcome = await provider.reconcile(p, provider.parse(p), {
    owner: "games/gs-0",
    node: () => undefined,
  });
  assert.equal(outcome.kind, "failed");
  if (outcome.kind !== "failed") return;
  assert.equal(outcome.error.reason, "NatGwEntriesMissing");
  assert.match(outcome.error.message, /port\(s\) 80 after 60 s/);
  assert.equal(outcome.report.currentNetworkState, "NotReady");
  assert.ok(outcome.requeueAfterMs! > 0, "late entries still make it Ready");
});
