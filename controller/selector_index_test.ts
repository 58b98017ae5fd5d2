import assert from "node:assert/strict";
import { byNamespace, Indexer, NAMESPACE_INDEX } from "./indexer.ts";
import {
  byLabel,
  LABEL_INDEX,
  type LabelSelector,
  selectedBy,
  selecting,
  selectorIndex,
  selects,
} from "./selector_index.ts";

interface Pod {
  metadata: { namespace: string; name: string; labels?: Record<string, string> };
}
interface Service {
  metadata: { namespace: string; name: string };
  spec?: { selector?: Record<string, string> };
}

const SELECTOR = "selector";
const selectorOf = (s: Service) => s.spec?.selector;

const pod = (ns: string, name: string, labels: Record<string, string>): Pod => ({
  metadata: { namespace: ns, name, labels },
});
const service = (ns: string, name: string, selector?: LabelSelector): Service => ({
  metadata: { namespace: ns, name },
  spec: { selector: selector && { ...selector } },
});

function stores() {
  const pods = new Indexer<Pod>({ [NAMESPACE_INDEX]: byNamespace, [LABEL_INDEX]: byLabel });
  const services = new Indexer<Service>({ [SELECTOR]: selectorIndex(selectorOf) });
  const selectingPod = (p: Pod) =>
    selecting(services, SELECTOR, selectorOf, p).map((s) => s.metadata.name).sort();
  const selectedPods = (ns: string, selector: LabelSelector | undefined) =>
    selectedBy(pods, ns, selector).map((p) => p.metadata.name).sort();
  return { pods, services, selectingPod, selectedPods };
}

Deno.test("selects() needs every pair; an empty or missing selector selects nothing", () => {
  assert.equal(selects({ app: "gs" }, { app: "gs", tier: "game" }), true);
  assert.equal(selects({ app: "gs", tier: "game" }, { app: "gs" }), false);
  assert.equal(selects({ app: "gs" }, { app: "other" }), false);
  assert.equal(selects({}, { app: "gs" }), false);
  assert.equal(selects(undefined, { app: "gs" }), false);
  assert.equal(selects({ app: "gs" }, undefined), false);
});

Deno.test("selectedBy() finds the Pods of the namespace showing every pair", () => {
  const { pods, selectedPods } = stores();
  pods.set("a/p1", pod("a", "p1", { app: "gs", tier: "game" }));
  pods.set("a/p2", pod("a", "p2", { app: "gs" }));
  pods.set("a/p3", pod("a", "p3", { app: "web", tier: "game" }));
  pods.set("b/p4", pod("b", "p4", { app: "gs", tier: "game" }));
  assert.deepEqual(selectedPods("a", { app: "gs" }), ["p1", "p2"]);
  assert.deepEqual(selectedPods("a", { app: "gs", tier: "game" }), ["p1"]);
  assert.deepEqual(selectedPods("b", { app: "gs" }), ["p4"]);
  assert.deepEqual(selectedPods("a", { app: "none" }), []);
  assert.deepEqual(selectedPods("a", {}), []);
  assert.deepEqual(selectedPods("a", undefined), []);
});

Deno.test("selectedBy() follows a Pod's label change", () => {
  const { pods, selectedPods } = stores();
  pods.set("a/p1", pod("a", "p1", { app: "gs" }));
  pods.set("a/p1", pod("a", "p1", { app: "web" }));
  assert.deepEqual(selectedPods("a", { app: "gs" }), []);
  assert.deepEqual(selectedPods("a", { app: "web" }), ["p1"]);
  pods.delete("a/p1");
  assert.deepEqual(selectedPods("a", { app: "web" }), []);
});

Deno.test("selecting() finds the services whose selector selects a Pod, in its namespace only", () => {
  const { services, selectingPod } = stores();
  services.set("a/gs", service("a", "gs", { app: "gs" }));
  services.set("a/gs-game", service("a", "gs-game", { tier: "game", app: "gs" }));
  services.set("a/web", service("a", "web", { app: "web" }));
  services.set("a/empty", service("a", "empty", {}));
  services.set("a/none", service("a", "none"));
  services.set("b/gs", service("b", "gs", { app: "gs" }));
  assert.deepEqual(selectingPod(pod("a", "p", { app: "gs", tier: "game" })), ["gs", "gs-game"]);
  assert.deepEqual(selectingPod(pod("a", "p", { app: "gs" })), ["gs"]);
  assert.deepEqual(selectingPod(pod("b", "p", { app: "gs", tier: "game" })), ["gs"]);
  assert.deepEqual(selectingPod(pod("a", "p", {})), []);
  assert.deepEqual(selectingPod({ metadata: { namespace: "a", name: "p" } }), []);
});

Deno.test("selecting() answers from a Pod's current labels after they change", () => {
  const { services, selectingPod } = stores();
  services.set("a/gs", service("a", "gs", { app: "gs" }));
  services.set("a/web", service("a", "web", { app: "web" }));
  const p = pod("a", "p", { app: "gs" });
  assert.deepEqual(selectingPod(p), ["gs"]);
  p.metadata.labels = { app: "web" };
  assert.deepEqual(selectingPod(p), ["web"]);
});

Deno.test("selecting() drops a service whose selector changed, and finds it under the new one", () => {
  const { services, selectingPod } = stores();
  services.set("a/s", service("a", "s", { app: "gs" }));
  const gs = pod("a", "p1", { app: "gs" });
  const web = pod("a", "p2", { app: "web", tier: "front" });
  assert.deepEqual(selectingPod(gs), ["s"]);
  // The first key by order changes too (app → tier): the entry moves.
  services.set("a/s", service("a", "s", { tier: "front", app: "web" }));
  assert.deepEqual(selectingPod(gs), []);
  assert.deepEqual(selectingPod(web), ["s"]);
  assert.equal(services.indexCount(SELECTOR, "a/app=gs"), 0);
  services.set("a/s", service("a", "s", {}));
  assert.deepEqual(selectingPod(web), []);
  assert.equal(services.indexCount(SELECTOR, "a/tier=front"), 0);
});

Deno.test("selecting() forgets a deleted service and the services a relist left out", () => {
  const { services, selectingPod } = stores();
  services.set("a/s1", service("a", "s1", { app: "gs" }));
  services.set("a/s2", service("a", "s2", { app: "gs" }));
  services.set("a/s3", service("a", "s3", { app: "gs" }));
  services.delete("a/s1");
  assert.deepEqual(selectingPod(pod("a", "p", { app: "gs" })), ["s2", "s3"]);
  services.replace([["a/s3", service("a", "s3", { app: "gs" })]]);
  assert.deepEqual(selectingPod(pod("a", "p", { app: "gs" })), ["s3"]);
});

Deno.test("selectorIndex() files a selector under its first pair by key", () => {
  const fn = selectorIndex(selectorOf);
  assert.deepEqual(fn(service("a", "s", { tier: "game", app: "gs" })), ["a/app=gs"]);
  assert.deepEqual(fn(service("a", "s", {})), []);
  assert.deepEqual(fn(service("a", "s")), []);
});
