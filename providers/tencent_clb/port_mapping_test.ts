import assert from "node:assert/strict";
import { ConfError } from "../types.ts";
import { mappingResult, parsePortMapping } from "./port_mapping.ts";

Deno.test("parsePortMapping() reads TKE's lines, pools and options", () => {
  assert.deepEqual(
    parsePortMapping(
      "8000 UDP pool-test\n  7000 TCPUDP pool-ctcc,pool-cmcc useSamePortAcrossPools\n\n" +
        "443 TCP_SSL pool-test certSecret=cert-secret",
    ),
    [
      { port: 8000, protocol: "UDP", pools: ["pool-test"] },
      {
        port: 7000,
        protocol: "TCPUDP",
        pools: ["pool-ctcc", "pool-cmcc"],
        useSamePortAcrossPools: true,
      },
      { port: 443, protocol: "TCP_SSL", pools: ["pool-test"], certSecretName: "cert-secret" },
    ],
  );
});

Deno.test("parsePortMapping() names the line and what to write", () => {
  for (
    const [text, why] of [
      ["8000 UDP", "needs a port, a protocol and a pool"],
      ["80000 UDP pool", "is not a port"],
      ["8000 SCTP pool", 'protocol "SCTP"'],
      ["8000 UDP pool\n8000 TCPUDP other", "mapped twice"],
      ["  \n", "is empty"],
    ]
  ) {
    assert.throws(() => parsePortMapping(text), (err: Error) => {
      assert.ok(err instanceof ConfError);
      assert.match(err.message, new RegExp(why));
      return true;
    }, text);
  }
});

Deno.test("mappingResult() writes TKE's fields in TKE's order", () => {
  const binding = {
    port: 80,
    protocol: "TCP" as const,
    pool: "pool-test",
    region: "ap-chengdu",
    loadbalancerId: "lb-6phn6qgb",
    loadbalancerPort: 30000,
    listenerId: "lbl-qvjvdt9n",
  };
  // The documented annotation (docs/clb-port-pool.md), byte for byte.
  assert.equal(
    JSON.stringify(mappingResult(binding, { ips: ["111.231.210.160"] })),
    '{"port":80,"protocol":"TCP","pool":"pool-test","region":"ap-chengdu","loadbalancerId":"lb-6phn6qgb",' +
      '"loadbalancerPort":30000,"listenerId":"lbl-qvjvdt9n","ips":["111.231.210.160"],' +
      '"address":"111.231.210.160:30000"}',
  );
  assert.equal(
    mappingResult(binding, { hostname: "lb-6phn6qgb-8gcf1q6kd092nxsl.clb.cd-tencentclb.work" })
      .address,
    "lb-6phn6qgb-8gcf1q6kd092nxsl.clb.cd-tencentclb.work:30000",
  );
});
