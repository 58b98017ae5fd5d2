import assert from "node:assert/strict";
import { createNodePortProvider, servicePorts } from "./kubernetes_node_port.ts";
import {
  type ContainerPort,
  NETWORK_CONF_ANNOTATION,
  NETWORK_TYPE_ANNOTATION,
  type Pod,
} from "./types.ts";
import { ConfError } from "./types.ts";

function pod(
  conf: Record<string, string>,
  extra: Partial<Pod["metadata"]> = {},
  ports: ContainerPort[] = [],
): Pod {
  return {
    metadata: {
      name: "gs-0",
      namespace: "games",
      annotations: {
        [NETWORK_TYPE_ANNOTATION]: "Kubernetes-NodePort",
        [NETWORK_CONF_ANNOTATION]: JSON.stringify(
          Object.entries(conf).map(([name, value]) => ({ name, value })),
        ),
      },
      ...extra,
    },
    spec: { containers: [{ name: "gs", ports }] },
  };
}

const provider = createNodePortProvider();

Deno.test("parse() reads PortProtocols, Fixed and AllowNotReadyContainers as OpenKruiseGame writes them", () => {
  assert.deepEqual(
    provider.parse(
      pod({
        PortProtocols: "80,8080/TCP,9090/udp,7777/TCPUDP",
        Fixed: "True",
        AllowNotReadyContainers: "gs",
      }),
    ),
    {
      ports: [
        { port: 80, protocol: "TCP" },
        { port: 8080, protocol: "TCP" },
        { port: 9090, protocol: "UDP" },
        { port: 7777, protocol: "TCPUDP" },
      ],
      fixed: true,
      allowNotReady: ["gs"],
    },
  );
});

Deno.test("parse() refuses what a Service cannot carry, naming it", () => {
  const refused = (p: Pod, pattern: RegExp) =>
    assert.throws(
      () => provider.parse(p),
      (e) => e instanceof ConfError && pattern.test(e.message),
    );
  refused(pod({}), /needs PortProtocols/);
  refused(pod({ PortProtocols: "80/SCTP" }), /protocol must be TCP, UDP or TCPUDP/);
  refused(pod({ PortProtocols: "80/TCP/x" }), /is not \{port\}\[\/\{protocol\}\]/);
  refused(pod({ PortProtocols: "80,80/TCPUDP" }), /80\/TCP is asked twice/);
  refused(pod({ PortProtocols: "80", Fixed: "yes" }), /Fixed "yes": write true or false/);
  refused(
    pod({ PortProtocols: "80", AllowNotReadyContainers: "sidecar" }),
    /"sidecar", which is not a container/,
  );
  refused(pod({ PortProtocols: "80", Ports: "1" }), /has no setting "Ports"/);
  refused(
    pod({ PortProtocols: "81/UDP" }, {}, [{ containerPort: 80, protocol: "UDP" }]),
    /81\/UDP, which no container/,
  );
  refused(pod({ PortProtocols: "80" }, { name: "", generateName: "9lives-" }), /cannot be one/);
  refused(pod({ PortProtocols: "80" }, { name: `g${"x".repeat(63)}` }), /at most 63 characters/);
});

Deno.test("servicePorts() keeps assigned node ports and gives a TCPUDP twin its TCP node port", () => {
  const conf = {
    ports: [{ port: 7777, protocol: "TCPUDP" as const }, { port: 80, protocol: "TCP" as const }],
    fixed: false,
    allowNotReady: [],
  };
  assert.deepEqual(servicePorts(conf), [
    { name: "7777", port: 7777, targetPort: 7777, protocol: "TCP" },
    { name: "7777-udp", port: 7777, targetPort: 7777, protocol: "UDP" },
    { name: "80", port: 80, targetPort: 80, protocol: "TCP" },
  ]);
  const current = [{
    name: "7777",
    port: 7777,
    targetPort: 7777,
    protocol: "TCP" as const,
    nodePort: 31000,
  }];
  assert.deepEqual(servicePorts(conf, current).map((p) => p.nodePort), [31000, 31000, undefined]);
});

Deno.test("admit() labels the Pod with its game-server id, so a Deployment's Pods are selected too", async () => {
  const p = pod({ PortProtocols: "80" }, { name: "", generateName: "gs-", labels: { app: "x" } });
  const result = await provider.admit(p, provider.parse(p), {
    owner: "admission/1234-abcd",
    dryRun: false,
  });
  assert.deepEqual(result.patch, [
    { op: "add", path: "/metadata/labels/gamenet.io~1game-server", value: "1234-abcd" },
  ]);
  const fixed = pod({ PortProtocols: "80", Fixed: "true" }, { name: "", generateName: "gs-" });
  const warned = await provider.admit(fixed, provider.parse(fixed), {
    owner: "admission/1",
    dryRun: false,
  });
  assert.match(warned.warnings![0], /Fixed is ignored .*generateName/);
  assert.deepEqual(warned.patch[0].value, { "gamenet.io/game-server": "1" });
});
