import assert from "node:assert/strict";
import { AllocationError } from "./errors.ts";
import { HostPorts } from "./host_ports.ts";

const RANGES = { default: { min: 7000, max: 7009 }, game: { min: 9000, max: 9009 } };

Deno.test("new HostPorts() refuses overlapping ranges, no range and a bad range", () => {
  assert.throws(
    () => new HostPorts({ default: { min: 7000, max: 8000 }, game: { min: 8000, max: 9000 } }),
    (e) =>
      e instanceof AllocationError && e.code === "invalid-range" &&
      /"default" \(7000-8000\) and "game" \(8000-9000\) overlap/.test(e.message),
  );
  assert.throws(() => new HostPorts({}), /No host-port range configured/);
  assert.throws(
    () => new HostPorts({ default: { min: 9, max: 1 } }),
    (e) => e instanceof AllocationError && e.code === "invalid-range",
  );
});

Deno.test("choose() picks in the named range and refuses an unknown one", () => {
  const h = new HostPorts(RANGES);
  h.setNode("n1", true);
  assert.deepEqual(h.choose("a", "game", ["UDP"]), [9000]);
  assert.deepEqual(h.choose("b", "default", ["TCPUDP"]), [7000]);
  assert.throws(
    () => h.choose("c", "lobby", ["UDP"]),
    (e) =>
      e instanceof AllocationError && e.code === "unknown-pool" &&
      /No port range "lobby"; configured: default, game/.test(e.message),
  );
  assert.deepEqual(h.rangeNames(), ["default", "game"]);
  assert.deepEqual(h.range("game"), { min: 9000, max: 9009 });
});

Deno.test("choose() with dryRun changes nothing", () => {
  const h = new HostPorts(RANGES);
  h.setNode("n1", true);
  const before = h.snapshot();
  assert.deepEqual(h.choose("a", "game", ["UDP", "UDP"], { dryRun: true }), [9000, 9001]);
  assert.deepEqual(h.snapshot(), before);
  assert.deepEqual(h.choose("a", "game", ["UDP"]), [9000], "the cursor did not move");
});

Deno.test("bind() registers each port in the range holding it and ignores the rest", () => {
  const h = new HostPorts(RANGES);
  const [port] = h.choose("a", "game", ["UDP"]);
  assert.deepEqual(
    h.bind("a", "n1", [
      { port, protocol: "UDP" },
      { port: 7005, protocol: "TCP" }, // a static port in "default"
      { port: 80, protocol: "TCP" }, // outside every range
    ]),
    [],
  );
  assert.equal(h.chooser("game")!.usage(port), 1);
  assert.equal(h.chooser("game")!.isPending("a"), false);
  assert.equal(h.chooser("default")!.ownerOf("n1", 7005, "TCP"), "a");
  assert.deepEqual(h.bind("b", "n1", [{ port: 7005, protocol: "TCP" }]), ["a"]);
  assert.deepEqual(h.outside(), [
    { owner: "a", node: "n1", ports: [{ port: 80, protocol: "TCP" }] },
  ]);
  h.release("a");
  assert.equal(h.chooser("game")!.usage(port), 0);
  assert.equal(h.chooser("default")!.usage(7005), 0);
  assert.deepEqual(h.outside(), [], "released outside the ranges too");
});

Deno.test("outside() forgets a node's ports when the node goes", () => {
  const h = new HostPorts(RANGES);
  h.bind("a", "n1", [{ port: 80, protocol: "TCP" }]);
  h.bind("b", "n2", [{ port: 80, protocol: "TCP" }]);
  h.setNode("n1", false);
  assert.deepEqual(h.outside().map((o) => o.owner), ["b"]);
});

Deno.test("restorePending() keeps an admission in its range, else in default", () => {
  const h = new HostPorts(RANGES);
  h.restorePending("a", "game", [{ port: 9004, protocol: "UDP" }]);
  h.restorePending("b", "nowhere", [{ port: 7004, protocol: "UDP" }]);
  assert.equal(h.chooser("game")!.usage(9004), 1);
  assert.equal(h.chooser("default")!.usage(7004), 1, "an unknown range falls back to default");
  h.release("a");
  assert.equal(h.chooser("game")!.usage(9004), 0);
  assert.equal(h.chooser("default")!.isPending("b"), true);
});
