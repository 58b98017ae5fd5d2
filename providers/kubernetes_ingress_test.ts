import assert from "node:assert/strict";
import { gameServerOrdinal, parseIngressConf } from "./kubernetes_ingress.ts";
import { ConfError, NETWORK_CONF_ANNOTATION, NETWORK_TYPE_ANNOTATION, type Pod } from "./types.ts";

function pod(conf: [string, string][]): Pod {
  return {
    metadata: {
      name: "ing-2",
      namespace: "games",
      annotations: {
        [NETWORK_TYPE_ANNOTATION]: "Kubernetes-Ingress",
        [NETWORK_CONF_ANNOTATION]: JSON.stringify(conf.map(([name, value]) => ({ name, value }))),
      },
    },
    spec: { containers: [{ name: "gs" }] },
  };
}

Deno.test("parseIngressConf() pairs paths with path types and ports in order, the first for the rest", () => {
  const conf = parseIngressConf(pod([
    ["Path", "/a<id>"],
    ["Path", "/b<id>"],
    ["Path", "/c"],
    ["PathType", "Prefix"],
    ["PathType", "Exact"],
    ["Port", "80"],
    ["Port", "81"],
    ["Host", "h<id>.example.com"],
    ["TlsHosts", "a.example.com, b.example.com"],
    ["Annotation", "nginx.ingress.kubernetes.io/rewrite-target: /$2"],
    ["Fixed", "true"],
  ]));
  assert.deepEqual(conf.paths, [
    { path: "/a<id>", pathType: "Prefix", port: 80 },
    { path: "/b<id>", pathType: "Exact", port: 81 },
    { path: "/c", pathType: "Prefix", port: 80 },
  ]);
  assert.equal(conf.host, "h<id>.example.com");
  assert.deepEqual(conf.tlsHosts, ["a.example.com", "b.example.com"]);
  assert.deepEqual(conf.annotations, { "nginx.ingress.kubernetes.io/rewrite-target": "/$2" });
  assert.equal(conf.fixed, true);
});

Deno.test("parseIngressConf() refuses a conf OpenKruiseGame could not use, saying why", () => {
  const refused = (conf: [string, string][], pattern: RegExp) =>
    assert.throws(
      () => parseIngressConf(pod(conf)),
      (e) => e instanceof ConfError && pattern.test(e.message),
    );
  const base: [string, string][] = [["Path", "/g<id>"], ["PathType", "Prefix"], ["Port", "80"]];
  refused([["Path", "/g"]], /needs PathType, Port/);
  refused(
    [["Path", "/g"], ["PathType", "prefix"], ["Port", "80"]],
    /PathType "prefix": write Exact/,
  );
  refused([["Path", "/<id>/<id>"], ...base.slice(1)], /more than once/);
  refused([...base, ["Host", "<id>.<id>.example.com"]], /Host .* more than once/);
  refused([...base, ["Annotation", "a:b"]], /write "key: value"/);
  refused([...base, ["Annotation", "a: b: c"]], /write "key: value"/);
  refused([...base, ["Path", "/g<id>"]], /given twice/);
  refused([...base, ["Port", "0"]], /Port "0"/);
  refused([...base, ["Rewrite", "x"]], /has no setting "Rewrite"/);
});

Deno.test("gameServerOrdinal() reads the number after the last dash, 0 without one", () => {
  assert.equal(gameServerOrdinal("ing-12"), 12);
  assert.equal(gameServerOrdinal("my-set-0"), 0);
  assert.equal(gameServerOrdinal("gs-7d9f8-x2kqp"), 0);
});
