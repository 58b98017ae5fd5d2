import assert from "node:assert/strict";
import { volcengineClbFlavor } from "./volcengine_clb.ts";
import { ConfError, type Pod } from "./types.ts";

const pod: Pod = {
  metadata: { name: "gs-0", namespace: "games" },
  spec: { containers: [{ name: "gs" }] },
};

Deno.test("Volcengine-CLB's conf: its defaults, its annotations, the user's last", () => {
  const extra = volcengineClbFlavor.parseExtra(pod, [
    {
      name: "Annotations",
      value: "service.beta.kubernetes.io/volcengine-loadbalancer-scheduler:sh,a.io/b: c",
    },
    { name: "EnableMultiIngress", value: "true" },
  ]);
  assert.deepEqual(extra, {
    allocateNodePorts: true,
    annotations: {
      "service.beta.kubernetes.io/volcengine-loadbalancer-scheduler": "sh",
      "a.io/b": "c",
    },
    scatter: false,
    multiIngress: true,
  });
  assert.deepEqual(volcengineClbFlavor.annotations(extra, "clb-1"), {
    "service.beta.kubernetes.io/volcengine-loadbalancer-scheduler": "sh",
    "service.beta.kubernetes.io/volcengine-loadbalancer-address-type": "PUBLIC",
    "service.beta.kubernetes.io/volcengine-loadbalancer-id": "clb-1",
    "a.io/b": "c",
  });
  const ports = [{ name: "80", port: 551, protocol: "TCP" as const }];
  assert.deepEqual(
    volcengineClbFlavor.external([{ ip: "1.1.1.1" }, { ip: "2.2.2.2" }], "default", ports, extra),
    [
      { ip: "1.1.1.1", ports },
      { ip: "2.2.2.2", ports },
    ],
  );
  assert.throws(
    () => volcengineClbFlavor.parseExtra(pod, [{ name: "EnableClbScatter", value: "yes" }]),
    (e) => e instanceof ConfError && /EnableClbScatter "yes"/.test(e.message),
  );
});
