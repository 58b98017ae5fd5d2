import assert from "node:assert/strict";
import { ProviderRegistry } from "./registry.ts";
import { createNoneProvider } from "./kubernetes_none.ts";
import { createHostPortProvider } from "./kubernetes_host_port.ts";
import { HostPorts } from "../allocator/host_ports.ts";

const registry = new ProviderRegistry([
  createHostPortProvider({ allocator: new HostPorts({ default: { min: 8000, max: 8009 } }) }),
  createNoneProvider(),
]);

Deno.test("closest() finds the known name behind a typo, a case slip or a missing dash", () => {
  assert.equal(registry.closest("kubernetes-hostport"), "Kubernetes-HostPort");
  assert.equal(registry.closest("Kubernetes-HostPrt"), "Kubernetes-HostPort");
  assert.equal(registry.closest("KubernetesNone"), "Kubernetes-None");
  assert.equal(registry.closest("hostportnetwork"), "HostPortNetwork");
});

Deno.test("closest() answers nothing for a name unlike any it knows", () => {
  assert.equal(registry.closest("AlibabaCloud-SLB"), undefined);
  assert.equal(registry.closest("Agones"), undefined);
  // Within a third of its letters: the nearest, for a person to judge.
  assert.equal(registry.closest("Kubernetes-Bogus"), "Kubernetes-None");
});

Deno.test("get() matches names and aliases exactly", () => {
  assert.equal(registry.get("Direct")?.name, "Kubernetes-None");
  assert.equal(registry.get("kubernetes-none"), undefined);
});
