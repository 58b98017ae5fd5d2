import assert from "node:assert/strict";
import { checkConfKeys, confValue, parseContainerPorts, parseNetworkConf } from "./network_conf.ts";
import { ConfError, NETWORK_CONF_ANNOTATION, type Pod } from "./types.ts";

function pod(
  conf?: string,
  ports: { containerPort: number; protocol?: "TCP" | "UDP" }[] = [],
): Pod {
  return {
    metadata: {
      namespace: "default",
      name: "gs-0",
      annotations: conf === undefined ? {} : { [NETWORK_CONF_ANNOTATION]: conf },
    },
    spec: { containers: [{ name: "gameserver", ports }, { name: "sidecar" }] },
  };
}

const ports = (conf: string, opts = { required: true, allowSameAsHost: true }) => {
  const p = pod(JSON.stringify([{ name: "ContainerPorts", value: conf }]));
  return parseContainerPorts(p, parseNetworkConf(p), opts);
};

Deno.test("parseNetworkConf() reads the seed's JSON array", () => {
  const p = pod(
    '[{"name":"ContainerPorts","value":"gameserver:80"},{"name":"PortPolicy","value":"Dynamic"}]',
  );
  assert.deepEqual(parseNetworkConf(p), [
    { name: "ContainerPorts", value: "gameserver:80" },
    { name: "PortPolicy", value: "Dynamic" },
  ]);
  assert.deepEqual(parseNetworkConf(pod()), []);
});

Deno.test("parseNetworkConf() rejects malformed JSON with the Pod and a fix in the message", () => {
  assert.throws(
    () => parseNetworkConf(pod('[{"name": "ContainerPorts", "value": ')),
    (err) =>
      err instanceof ConfError && /default\/gs-0/.test(err.message) &&
      /not valid JSON/.test(err.message),
  );
  assert.throws(() => parseNetworkConf(pod('{"name":"x"}')), /must be a JSON array/);
  assert.throws(() => parseNetworkConf(pod('[{"value":"x"}]')), /string "name"/);
});

Deno.test("parseContainerPorts() defaults to TCP and expands nothing itself", () => {
  assert.deepEqual(ports("gameserver:80"), [{
    container: "gameserver",
    containerPort: 80,
    protocol: "TCP",
  }]);
  assert.deepEqual(ports("gameserver:7777/udp,7778/TCPUDP"), [
    { container: "gameserver", containerPort: 7777, protocol: "UDP" },
    { container: "gameserver", containerPort: 7778, protocol: "TCPUDP" },
  ]);
  assert.deepEqual(ports("gameserver:SameAsHost/UDP"), [
    { container: "gameserver", containerPort: undefined, protocol: "UDP" },
  ]);
});

Deno.test("parseContainerPorts() names the container, the value and the fix in its errors", () => {
  assert.throws(() => ports("nope:80"), /no container "nope" \(it has "gameserver", "sidecar"\)/);
  assert.throws(() => ports("gameserver:80/SCTP"), /protocol must be TCP, UDP or TCPUDP/);
  assert.throws(() => ports("gameserver:0"), /whole number from 1 to 65535/);
  assert.throws(() => ports("gameserver:70000"), /whole number from 1 to 65535/);
  assert.throws(() => ports("gameserver:eighty"), /whole number/);
  assert.throws(() => ports("gameserver"), /write \{container\}:\{port\}/);
  assert.throws(() => ports("gameserver:80,80"), /asked twice/);
  assert.throws(() => ports("gameserver:80/TCP,80/TCPUDP"), /asked twice/);
  assert.throws(
    () => ports("gameserver:SameAsHost", { required: true, allowSameAsHost: false }),
    /SameAsHost needs a host port/,
  );
});

Deno.test("parseContainerPorts() without ContainerPorts takes declared ports only when allowed", () => {
  const p = pod("[]", [{ containerPort: 7777, protocol: "UDP" }, { containerPort: 80 }]);
  assert.deepEqual(parseContainerPorts(p, [], { required: false, allowSameAsHost: false }), [
    { container: "gameserver", containerPort: 7777, protocol: "UDP" },
    { container: "gameserver", containerPort: 80, protocol: "TCP" },
  ]);
  assert.throws(
    () => parseContainerPorts(p, [], { required: true, allowSameAsHost: true }),
    /no "ContainerPorts"/,
  );
});

Deno.test("checkConfKeys() and confValue() catch typos and repeats", () => {
  const p = pod();
  assert.throws(
    () =>
      checkConfKeys(p, "Kubernetes-HostPort", [{ name: "ContainerPort", value: "x" }], [
        "ContainerPorts",
      ]),
    /has no setting "ContainerPort"; it takes ContainerPorts/,
  );
  assert.throws(
    () =>
      confValue(
        p,
        [{ name: "PortRange", value: "a" }, { name: "PortRange", value: "b" }],
        "PortRange",
      ),
    /given 2 times/,
  );
  assert.equal(confValue(p, [{ name: "PortRange", value: " game " }], "PortRange"), "game");
});
