// TencentCloud-CLB against the fake Tencent Cloud through the real SDK:
// the fake's listeners and targets are the truth.
import assert from "node:assert/strict";
import { FakeTencentCloud } from "../tests/fakes/tencentcloud/fake_tencent_cloud.ts";
import { createClbApi } from "./tencent_clb/clb_api.ts";
import { ClbWriter } from "./tencent_clb/clb_writer.ts";
import { createTencentClbProvider, listenerName } from "./tencent_clb.ts";
import { ConfError, NETWORK_CONF_ANNOTATION, NETWORK_DISABLED_LABEL, type Pod } from "./types.ts";

function pod(
  name: string,
  conf: Record<string, string>,
  opts: { ip?: string; disabled?: boolean } = {},
): Pod {
  return {
    metadata: {
      namespace: "default",
      name,
      labels: opts.disabled ? { [NETWORK_DISABLED_LABEL]: "true" } : {},
      annotations: {
        [NETWORK_CONF_ANNOTATION]: JSON.stringify(
          Object.entries(conf).map(([name, value]) => ({ name, value })),
        ),
      },
    },
    spec: { containers: [{ name: "gs" }] },
    status: opts.ip ? { podIP: opts.ip } : {},
  };
}

async function setup(lbs = [{ id: "lb-aaaa1", vip: "203.0.113.1" }]) {
  const cloud = await FakeTencentCloud.start({ loadBalancers: lbs, rateLimitPerSecond: Infinity });
  const cfg = cloud.clientConfig();
  const api = createClbApi({
    ...cfg.credential,
    region: cfg.region,
    endpoint: cfg.profile.httpProfile.endpoint,
    protocol: "http://",
  });
  const writer = new ClbWriter(api, { lingerMs: 5, retryInitialMs: 5, taskPollMs: 5 });
  return { cloud, provider: createTencentClbProvider({ api, writer }) };
}

const ctxOf = (owner: string) => ({ owner, node: () => undefined });

Deno.test("reconcile() creates a listener per port with the Pod IP as target and reports the VIP", async () => {
  const { cloud, provider } = await setup();
  await using _ = cloud;
  const p = pod("gs-0", {
    ClbIds: "lb-aaaa1",
    PortProtocols: "7777/UDP,7778",
    MinPort: "501",
    MaxPort: "600",
  }, { ip: "10.0.0.9" });
  const outcome = await provider.reconcile(p, provider.parse(p), ctxOf("default/gs-0"));
  assert.equal(outcome.kind, "done");
  const listeners = cloud.loadBalancer("lb-aaaa1")!.listeners;
  assert.deepEqual(
    listeners.map((
      l,
    ) => [l.name, l.protocol, l.port, l.targets.map((t) => `${t.eniIp}:${t.port}`)]),
    [
      [listenerName("default", "gs-0", 7777, "UDP"), "UDP", 501, ["10.0.0.9:7777"]],
      // TCP and UDP are separate port spaces on a CLB.
      [listenerName("default", "gs-0", 7778, "TCP"), "TCP", 501, ["10.0.0.9:7778"]],
    ],
  );
  assert.deepEqual(outcome.kind === "done" && outcome.report.externalAddresses, [{
    ip: "203.0.113.1",
    ports: [
      { name: "gs-7777", port: 501, protocol: "UDP" },
      { name: "gs-7778", port: 501, protocol: "TCP" },
    ],
  }]);
  // Level-based: once more changes nothing in the cloud.
  const calls = cloud.stats().totalCalls;
  await provider.reconcile(p, provider.parse(p), ctxOf("default/gs-0"));
  assert.equal(cloud.stats().totalCalls, calls);
});

Deno.test("reconcile() waits for a Pod IP, and refuses when every port is taken", async () => {
  const { cloud, provider } = await setup();
  await using _ = cloud;
  const conf = { ClbIds: "lb-aaaa1", PortProtocols: "7777/TCPUDP", MinPort: "501", MaxPort: "502" };
  const noIp = pod("gs-0", conf);
  const waiting = await provider.reconcile(noIp, provider.parse(noIp), ctxOf("default/gs-0"));
  assert.equal(waiting.kind, "requeueAfter");
  for (const name of ["gs-1", "gs-2"]) {
    const p = pod(name, conf, { ip: "10.0.0.1" });
    assert.equal(
      (await provider.reconcile(p, provider.parse(p), ctxOf(`default/${name}`))).kind,
      "done",
    );
  }
  const late = pod("gs-3", conf, { ip: "10.0.0.3" });
  const refused = await provider.reconcile(late, provider.parse(late), ctxOf("default/gs-3"));
  assert.equal(refused.kind, "failed");
  assert.equal(refused.kind === "failed" && refused.error.reason, "ClbPortsExhausted");
  assert.equal(
    cloud.loadBalancer("lb-aaaa1")!.listeners.length,
    4,
    "TCPUDP: a TCP and a UDP listener each",
  );
  // One released: the waiting Pod gets its ports.
  await provider.release("default/gs-1");
  assert.equal(cloud.loadBalancer("lb-aaaa1")!.listeners.length, 2);
  assert.equal(
    (await provider.reconcile(late, provider.parse(late), ctxOf("default/gs-3"))).kind,
    "done",
  );
});

Deno.test("reconcile() deregisters the target of a disabled Pod and keeps its listener", async () => {
  const { cloud, provider } = await setup();
  await using _ = cloud;
  const conf = { ClbIds: "lb-aaaa1", PortProtocols: "7777/UDP" };
  const on = pod("gs-0", conf, { ip: "10.0.0.9" });
  await provider.reconcile(on, provider.parse(on), ctxOf("default/gs-0"));
  const off = pod("gs-0", conf, { ip: "10.0.0.9", disabled: true });
  const outcome = await provider.reconcile(off, provider.parse(off), ctxOf("default/gs-0"));
  assert.equal(outcome.kind === "done" && outcome.report.currentNetworkState, "NotReady");
  const [listener] = cloud.loadBalancer("lb-aaaa1")!.listeners;
  assert.equal(listener.port, 700, "the default range starts at 700");
  assert.deepEqual(listener.targets, []);
  // A new Pod IP (re-created in place) is what gets registered next.
  const moved = pod("gs-0", conf, { ip: "10.0.0.10" });
  await provider.reconcile(moved, provider.parse(moved), ctxOf("default/gs-0"));
  assert.deepEqual(
    cloud.loadBalancer("lb-aaaa1")!.listeners[0].targets.map((t) => t.eniIp),
    ["10.0.0.10"],
  );
});

Deno.test("reconcile() reports an unknown CLB with the cloud's answer", async () => {
  const { cloud, provider } = await setup();
  await using _ = cloud;
  const p = pod("gs-0", { ClbIds: "lb-zzzz9", PortProtocols: "7777/UDP" }, { ip: "10.0.0.9" });
  const outcome = await provider.reconcile(p, provider.parse(p), ctxOf("default/gs-0"));
  assert.equal(outcome.kind, "failed");
  assert.match(outcome.kind === "failed" ? outcome.error.message : "", /lb-zzzz9/);
});

Deno.test("parse() refuses bad conf with a message naming the value", async () => {
  const { cloud, provider } = await setup();
  await using _ = cloud;
  const cases: [Record<string, string>, RegExp][] = [
    [{ PortProtocols: "7777" }, /needs ClbIds/],
    [{ ClbIds: "abc", PortProtocols: "7777" }, /"abc" is not a CLB id/],
    [{ ClbIds: "lb-aaaa1" }, /needs PortProtocols/],
    [{ ClbIds: "lb-aaaa1", PortProtocols: "7777/SCTP" }, /TCP, UDP or TCPUDP/],
    [{ ClbIds: "lb-aaaa1", PortProtocols: "x/UDP" }, /a port is a whole number/],
    [{ ClbIds: "lb-aaaa1", PortProtocols: "7777,7777/UDP" }, /port 7777 is asked twice/],
    [
      { ClbIds: "lb-aaaa1", PortProtocols: "7777", MinPort: "900", MaxPort: "800" },
      /above MaxPort/,
    ],
    [
      { ClbIds: "lb-aaaa1", PortProtocols: "7777", Fixed: "yes" },
      /Fixed "yes": write true or false/,
    ],
  ];
  for (const [conf, message] of cases) {
    assert.throws(() => provider.parse(pod("gs-0", conf)), (err: Error) => {
      assert.ok(err instanceof ConfError, String(err));
      assert.match(err.message, message);
      return true;
    });
  }
});
