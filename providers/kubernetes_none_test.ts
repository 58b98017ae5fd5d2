import assert from "node:assert/strict";
import { createNoneProvider } from "./kubernetes_none.ts";
import { ConfError, NETWORK_CONF_ANNOTATION, NETWORK_DISABLED_LABEL, type Pod } from "./types.ts";

const ctx = { owner: "default/gs-0", node: () => undefined };

function pod(opts: { conf?: unknown; ips?: string[]; disabled?: boolean } = {}): Pod {
  return {
    metadata: {
      namespace: "default",
      name: "gs-0",
      labels: opts.disabled ? { [NETWORK_DISABLED_LABEL]: "true" } : {},
      annotations: opts.conf === undefined
        ? {}
        : { [NETWORK_CONF_ANNOTATION]: JSON.stringify(opts.conf) },
    },
    spec: {
      containers: [{ name: "gameserver", ports: [{ containerPort: 7777, protocol: "UDP" }] }],
    },
    status: opts.ips ? { podIP: opts.ips[0], podIPs: opts.ips.map((ip) => ({ ip })) } : {},
  };
}

Deno.test("reconcile() reports the Pod IP and declared ports when no ContainerPorts is set", async () => {
  const none = createNoneProvider();
  const p = pod({ ips: ["10.128.0.7"] });
  const outcome = await none.reconcile(p, none.parse(p), ctx);
  assert.equal(outcome.kind, "done");
  const expected = [{
    ip: "10.128.0.7",
    ports: [{ name: "gameserver-7777", port: 7777, protocol: "UDP" }],
  }];
  assert.deepEqual(outcome.kind === "done" && outcome.report, {
    currentNetworkState: "Ready",
    desiredNetworkState: "Ready",
    internalAddresses: expected,
    externalAddresses: expected,
  });
});

Deno.test("reconcile() gives one address per IP family of a dual-stack Pod, TCPUDP as two ports", async () => {
  const none = createNoneProvider();
  const p = pod({
    ips: ["fd00:10::7", "10.128.0.7"],
    conf: [{ name: "ContainerPorts", value: "gameserver:7777/TCPUDP" }],
  });
  const outcome = await none.reconcile(p, none.parse(p), ctx);
  assert.ok(outcome.kind === "done");
  assert.deepEqual(outcome.report.externalAddresses.map((a) => a.ip), ["10.128.0.7", "fd00:10::7"]);
  assert.deepEqual(outcome.report.externalAddresses[1].ports, [
    { name: "gameserver-7777", port: 7777, protocol: "TCP" },
    { name: "gameserver-7777", port: 7777, protocol: "UDP" },
  ]);
});

Deno.test("reconcile() is Waiting before the Pod has an IP, and desired NotReady when disabled", async () => {
  const none = createNoneProvider();
  const noIp = pod();
  const a = await none.reconcile(noIp, none.parse(noIp), ctx);
  assert.ok(a.kind === "done");
  assert.equal(a.report.currentNetworkState, "Waiting");
  assert.deepEqual(a.report.externalAddresses, []);
  const disabled = pod({ ips: ["10.128.0.7"], disabled: true });
  const b = await none.reconcile(disabled, none.parse(disabled), ctx);
  assert.ok(b.kind === "done");
  assert.equal(b.report.desiredNetworkState, "NotReady");
});

Deno.test("parse() refuses a Pod with no port to report and unknown settings", () => {
  const none = createNoneProvider();
  const bare: Pod = {
    metadata: { namespace: "default", name: "x" },
    spec: { containers: [{ name: "c" }] },
  };
  assert.throws(
    () => none.parse(bare),
    (e) => e instanceof ConfError && /no port to report/.test(e.message),
  );
  assert.throws(
    () => none.parse(pod({ conf: [{ name: "PortPolicy", value: "Dynamic" }] })),
    /no setting "PortPolicy"/,
  );
});
