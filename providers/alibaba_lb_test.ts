import assert from "node:assert/strict";
import {
  multiNlbsFlavor,
  nlbFlavor,
  nlbHealthAnnotations,
  parseHealthCheck,
  parseNlbIdNames,
  slbFlavor,
  slbHealthAnnotations,
} from "./alibaba_lb.ts";
import { parsePortProtocols } from "./network_conf.ts";
import { ConfError, type NetworkConfEntry, type Pod } from "./types.ts";

const pod: Pod = {
  metadata: { name: "gs-0", namespace: "games" },
  spec: { containers: [{ name: "gs" }] },
};
const conf = (entries: [string, string][]): NetworkConfEntry[] =>
  entries.map(([name, value]) => ({ name, value }));
const refused = (fn: () => unknown, pattern: RegExp) =>
  assert.throws(fn, (e) => e instanceof ConfError && pattern.test(e.message));

Deno.test("parseHealthCheck() takes OpenKruiseGame's defaults: SLB's flag off, NLB's on", () => {
  const slb = parseHealthCheck(pod, [], "off");
  assert.deepEqual(
    [slb.switch, slb.flag, slb.type, slb.connectTimeout, slb.interval, slb.healthyThreshold],
    ["on", "off", "tcp", "5", "10", "2"],
  );
  assert.equal(parseHealthCheck(pod, [], "on").flag, "on");
});

Deno.test("parseHealthCheck() refuses values outside the manual's ranges, naming them", () => {
  const check = (entries: [string, string][], pattern: RegExp) =>
    refused(() => parseHealthCheck(pod, conf(entries), "on"), pattern);
  check([["LBHealthCheckConnectTimeout", "301"]], /from 1 to 300/);
  check([["LBHealthCheckInterval", "0"]], /from 1 to 50/);
  check([["LBHealthyThreshold", "11"]], /from 2 to 10/);
  check([["LBUnhealthyThreshold", "x"]], /from 2 to 10/);
  check([["LBHealthCheckConnectPort", "70000"]], /from 0 to 65535/);
  check([["LBHealthCheckType", "udp"]], /write tcp or http/);
  check([["LBHealthCheckSwitch", "yes"]], /write on or off/);
  check([["LBHealthCheckMethod", "post"]], /write get or head/);
  check([["LBHealthCheckUri", "healthz"]], /starting with "\/"/);
  check([["LBHealthCheckDomain", "-a.example.com"]], /LBHealthCheckDomain/);
  check([["LBHealthCheckDomain", "a..example.com"]], /LBHealthCheckDomain/);
  check([["LBHealthCheckProtocolPort", "http"]], /http:80,https:443/);
});

Deno.test("slbHealthAnnotations() writes the type's checks only when the switch is on, http's for http", () => {
  const P = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer";
  const off = slbHealthAnnotations(
    parseHealthCheck(pod, conf([["LBHealthCheckSwitch", "off"]]), "off"),
  );
  assert.deepEqual(off, { [`${P}-health-check-flag`]: "off", [`${P}-health-check-switch`]: "off" });
  const http = slbHealthAnnotations(parseHealthCheck(
    pod,
    conf([["LBHealthCheckType", "HTTP"], ["LBHealthCheckUri", "/ok"], [
      "LBHealthCheckProtocolPort",
      "http:80",
    ]]),
    "off",
  ));
  assert.equal(http[`${P}-health-check-uri`], "/ok");
  assert.equal(http[`${P}-protocol-port`], "http:80");
  assert.equal(http[`${P}-health-check-type`], "http");
  const nlb = nlbHealthAnnotations(
    parseHealthCheck(pod, conf([["LBHealthCheckConnectPort", "7777"]]), "on"),
  );
  assert.equal(nlb[`${P}-health-check-connect-port`], "7777");
  assert.equal(nlb[`${P}-health-check-switch`], undefined);
});

Deno.test("parseNlbIdNames() puts the k-th NLB of every line in group k", () => {
  assert.deepEqual(parseNlbIdNames(pod, conf([["NlbIdNames", "A/dx,B/lt,C/dx,D/lt"]])), {
    lines: ["dx", "lt"],
    groups: [["A", "B"], ["C", "D"]],
  });
  refused(
    () => parseNlbIdNames(pod, conf([["NlbIdNames", "A/dx,B/lt,C/dx"]])),
    /as many NLBs \(dx: 2, lt: 1\)/,
  );
  refused(() => parseNlbIdNames(pod, conf([["NlbIdNames", "A"]])), /write \{nlb-id\}\/\{line\}/);
  refused(() => parseNlbIdNames(pod, []), /needs NlbIdNames/);
});

Deno.test("parsePortProtocols() reads TCPUDP and refuses a port asked twice or undeclared", () => {
  assert.deepEqual(
    parsePortProtocols(pod, conf([["PortProtocols", "80,7777/tcpudp"]]), "AlibabaCloud-SLB"),
    [
      { port: 80, protocol: "TCP" },
      { port: 7777, protocol: "TCPUDP" },
    ],
  );
  refused(
    () => parsePortProtocols(pod, conf([["PortProtocols", "80/TCP,80"]]), "AlibabaCloud-SLB"),
    /asked twice/,
  );
  const declaring: Pod = {
    ...pod,
    spec: { containers: [{ name: "gs", ports: [{ containerPort: 81 }] }] },
  };
  refused(
    () => parsePortProtocols(declaring, conf([["PortProtocols", "80"]]), "AlibabaCloud-SLB"),
    /no container/,
  );
});

Deno.test("the flavors name ports and addresses as OpenKruiseGame's plugins do", () => {
  const ports = [{ name: "80", port: 512, protocol: "TCP" as const }];
  assert.equal(slbFlavor.servicePortName(80, "TCP", false), "80-tcp");
  assert.deepEqual(slbFlavor.external([{ ip: "1.2.3.4" }], "default", ports, undefined as never), [
    { ip: "1.2.3.4", ports },
  ]);
  assert.equal(nlbFlavor.servicePortName(80, "TCP", false), "80");
  assert.deepEqual(
    nlbFlavor.external([{ hostname: "n.example.com" }], "default", ports, undefined as never),
    [
      { ip: "", endPoint: "n.example.com", ports },
    ],
  );
  assert.equal(multiNlbsFlavor.statusPortName(8888, "UDP", false), "8888-udp");
});
