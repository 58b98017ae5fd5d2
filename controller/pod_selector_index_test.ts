import assert from "node:assert/strict";
import { byNamespace, Indexer, NAMESPACE_INDEX } from "./indexer.ts";
import { type LabelSelector, PodSelectorIndex, selects } from "./pod_selector_index.ts";

interface Pod {
  metadata: { namespace: string; name: string; labels?: Record<string, string> };
}
interface Service {
  metadata: { namespace: string; name: string };
  spec?: { selector?: Record<string, string> };
}

const pod = (ns: string, name: string, labels: Record<string, string>): Pod => ({
  metadata: { namespace: ns, name, labels },
});
const service = (ns: string, name: string, selector?: LabelSelector): Service => ({
  metadata: { namespace: ns, name },
  spec: { selector: selector && { ...selector } },
});

function setup() {
  const index = new PodSelectorIndex<Service>("services", (s) => s.spec?.selector);
  const services = new Indexer<Service>(index.selectorIndexers());
  const pods = new Indexer<Pod>({ [NAMESPACE_INDEX]: byNamespace, ...index.podIndexers() });
  let reindexed = 0;
  const cache = {
    store: pods,
    reindex: (i: string) => {
      reindexed++;
      pods.reindex(i);
    },
  };
  const selectingPod = (p: Pod) => index.selecting(services, p).map((s) => s.metadata.name).sort();
  const selectedBy = (s: Service) =>
    index.selectedPods(cache, services, s).map((p) => p.metadata.name).sort();
  /** Sets a service in the cache and returns what it selects. */
  const put = (s: Service) => {
    services.set(`${s.metadata.namespace}/${s.metadata.name}`, s);
    return selectedBy(s);
  };
  return { index, services, pods, selectingPod, selectedBy, put, reindexed: () => reindexed };
}

Deno.test("selects() needs every pair; an empty or missing selector selects nothing", () => {
  assert.equal(selects({ app: "gs" }, { app: "gs", tier: "game" }), true);
  assert.equal(selects({ app: "gs", tier: "game" }, { app: "gs" }), false);
  assert.equal(selects({ app: "gs" }, { app: "other" }), false);
  assert.equal(selects({}, { app: "gs" }), false);
  assert.equal(selects(undefined, { app: "gs" }), false);
  assert.equal(selects({ app: "gs" }, undefined), false);
});

Deno.test("selecting() finds the services whose selector selects a Pod, in its namespace only", () => {
  const { services, selectingPod } = setup();
  const set = (s: Service) => services.set(`${s.metadata.namespace}/${s.metadata.name}`, s);
  set(service("a", "gs", { app: "gs" }));
  set(service("a", "gs-game", { tier: "game", app: "gs" }));
  set(service("a", "web", { app: "web" }));
  set(service("a", "empty", {}));
  set(service("a", "none"));
  set(service("b", "gs", { app: "gs" }));
  assert.deepEqual(selectingPod(pod("a", "p", { app: "gs", tier: "game" })), ["gs", "gs-game"]);
  assert.deepEqual(selectingPod(pod("a", "p", { app: "gs" })), ["gs"]);
  assert.deepEqual(selectingPod(pod("b", "p", { app: "gs", tier: "game" })), ["gs"]);
  assert.deepEqual(selectingPod(pod("a", "p", {})), []);
  assert.deepEqual(selectingPod({ metadata: { namespace: "a", name: "p" } }), []);
});

Deno.test("selecting() answers from a Pod's current labels after they change", () => {
  const { services, selectingPod } = setup();
  services.set("a/gs", service("a", "gs", { app: "gs" }));
  services.set("a/web", service("a", "web", { app: "web" }));
  const p = pod("a", "p", { app: "gs" });
  assert.deepEqual(selectingPod(p), ["gs"]);
  p.metadata.labels = { app: "web" };
  assert.deepEqual(selectingPod(p), ["web"]);
});

Deno.test("selecting() drops a service whose selector changed, and finds it under the new one", () => {
  const { services, selectingPod } = setup();
  services.set("a/s", service("a", "s", { app: "gs" }));
  const gs = pod("a", "p1", { app: "gs" });
  const web = pod("a", "p2", { app: "web", tier: "front" });
  assert.deepEqual(selectingPod(gs), ["s"]);
  // The first key by order changes too (app → tier): the entry moves.
  services.set("a/s", service("a", "s", { tier: "front", app: "web" }));
  assert.deepEqual(selectingPod(gs), []);
  assert.deepEqual(selectingPod(web), ["s"]);
  services.set("a/s", service("a", "s", {}));
  assert.deepEqual(selectingPod(web), []);
});

Deno.test("selecting() forgets a deleted service and the services a relist left out", () => {
  const { services, selectingPod } = setup();
  services.set("a/s1", service("a", "s1", { app: "gs" }));
  services.set("a/s2", service("a", "s2", { app: "gs" }));
  services.set("a/s3", service("a", "s3", { app: "gs" }));
  services.delete("a/s1");
  assert.deepEqual(selectingPod(pod("a", "p", { app: "gs" })), ["s2", "s3"]);
  services.replace([["a/s3", service("a", "s3", { app: "gs" })]]);
  assert.deepEqual(selectingPod(pod("a", "p", { app: "gs" })), ["s3"]);
});

Deno.test("selectedPods() finds the Pods of the service's namespace showing every pair", () => {
  const { pods, put } = setup();
  pods.set("a/p1", pod("a", "p1", { app: "gs", tier: "game" }));
  pods.set("a/p2", pod("a", "p2", { app: "gs" }));
  pods.set("a/p3", pod("a", "p3", { app: "web", tier: "game" }));
  pods.set("b/p4", pod("b", "p4", { app: "gs", tier: "game" }));
  assert.deepEqual(put(service("a", "gs", { app: "gs" })), ["p1", "p2"]);
  assert.deepEqual(put(service("a", "gs-game", { app: "gs", tier: "game" })), ["p1"]);
  assert.deepEqual(put(service("b", "gs", { app: "gs" })), ["p4"]);
  assert.deepEqual(put(service("a", "none", { app: "none" })), []);
  assert.deepEqual(put(service("a", "empty", {})), []);
  assert.deepEqual(put(service("a", "missing")), []);
});

Deno.test("selectedPods() follows a Pod's label change and its deletion", () => {
  const { pods, put, selectedBy } = setup();
  const gs = service("a", "gs", { app: "gs" });
  const web = service("a", "web", { app: "web" });
  pods.set("a/p1", pod("a", "p1", { app: "gs" }));
  assert.deepEqual(put(gs), ["p1"]);
  assert.deepEqual(put(web), []);
  pods.set("a/p1", pod("a", "p1", { app: "web" }));
  assert.deepEqual(selectedBy(gs), []);
  assert.deepEqual(selectedBy(web), ["p1"]);
  pods.delete("a/p1");
  assert.deepEqual(selectedBy(web), []);
});

Deno.test("selectedPods() files Pods only under the keys selectors are filed under", () => {
  const { pods, put } = setup();
  pods.set("a/p1", pod("a", "p1", { app: "gs", name: "p1", hash: "7f9c" }));
  put(service("a", "gs", { app: "gs" }));
  assert.deepEqual(pods.indexValues("selectedBy:services"), ["a/app=gs"]);
});

Deno.test("selectedPods() files the Pods again once when a selector uses a new key, not before", () => {
  const { pods, services, put, selectedBy, reindexed } = setup();
  pods.set("a/p1", pod("a", "p1", { app: "gs", tier: "game" }));
  pods.set("a/p2", pod("a", "p2", { app: "web", tier: "game" }));
  assert.deepEqual(put(service("a", "gs", { app: "gs" })), ["p1"]);
  assert.equal(reindexed(), 1);
  assert.deepEqual(put(service("a", "gs2", { app: "gs" })), ["p1"]);
  assert.equal(reindexed(), 1, "same key: no reindex");
  // tier is a new first key: the Pods are filed under it at this lookup.
  const game = service("a", "game", { tier: "game" });
  assert.deepEqual(put(game), ["p1", "p2"]);
  assert.equal(reindexed(), 2);
  // A Pod added later is filed under both keys at once.
  pods.set("a/p3", pod("a", "p3", { tier: "game" }));
  assert.deepEqual(selectedBy(game), ["p1", "p2", "p3"]);
  // The selector changes key; the old key's Pods entries go at the next lookup.
  services.set("a/game", service("a", "game", { app: "web" }));
  assert.deepEqual(selectedBy(services.get("a/game")!), ["p2"]);
  assert.equal(reindexed(), 3);
  assert.ok(pods.indexValues("selectedBy:services").every((v) => v.startsWith("a/app=")));
});

Deno.test("selectedPods() of a service not in the cache reads its namespace", () => {
  const { pods, put, selectedBy } = setup();
  pods.set("a/p1", pod("a", "p1", { app: "gs", tier: "game" }));
  pods.set("b/p2", pod("b", "p2", { tier: "game" }));
  put(service("a", "gs", { app: "gs" }));
  assert.deepEqual(selectedBy(service("a", "unseen", { tier: "game" })), ["p1"]);
});
