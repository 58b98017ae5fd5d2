import assert from "node:assert/strict";
import { type AllocationsView, createAllocationsRoute, renderTable } from "./allocations.ts";

const VIEW: AllocationsView = {
  pools: [
    { kind: "node", key: "n2", range: "8000-9000", used: 1, free: 1000, delayed: 0 },
    {
      kind: "node",
      key: "n1",
      range: "8000-9000",
      rangeName: "default",
      used: 2,
      free: 998,
      delayed: 1,
    },
    {
      kind: "lb",
      key: "lb-a",
      range: "30000-30100",
      protocol: "UDP",
      used: 1,
      free: 100,
      delayed: 0,
    },
  ],
  allocations: [
    {
      type: "Kubernetes-HostPort",
      namespace: "games",
      pod: "gs-1",
      owner: "games/gs-1",
      node: "n1",
      ports: [
        { name: "game", port: 8211, protocol: "TCP", containerPort: 7777 },
        { name: "query", port: 8212, protocol: "UDP", containerPort: 7778 },
      ],
      address: "48.98.98.8",
      state: "Ready",
    },
    {
      type: "Kubernetes-HostPort",
      namespace: "games",
      pod: "gs-0",
      owner: "admission/705ab4f5",
      node: "n2",
      ports: [{ port: 8000, protocol: "TCP" }],
      state: "NotReady",
    },
    {
      type: "TencentCloud-CLB",
      namespace: "arena",
      pod: "room-0",
      owner: "arena/room-0",
      lb: "lb-a",
      ports: [{ port: 30000, protocol: "UDP", containerPort: 7777 }],
      address: "1.2.3.4",
      state: "Ready",
    },
  ],
};

const app = createAllocationsRoute({
  view: () => VIEW,
  now: () => new Date("2026-01-01T00:00:00Z"),
});

async function json(path: string): Promise<AllocationsView & { generatedAt: string }> {
  const res = await app.request(path);
  assert.equal(res.status, 200, await res.clone().text());
  return await res.json();
}

const pods = (v: AllocationsView) => v.allocations.map((a) => `${a.namespace}/${a.pod}`);
const poolKeys = (v: AllocationsView) => v.pools.map((p) => `${p.kind}/${p.key}`);

Deno.test("GET /allocations returns every pool and allocation, sorted, with generatedAt", async () => {
  const body = await json("/allocations");
  assert.deepStrictEqual(pods(body), ["arena/room-0", "games/gs-0", "games/gs-1"]);
  assert.deepStrictEqual(poolKeys(body), ["lb/lb-a", "node/n1", "node/n2"]);
  assert.equal(body.generatedAt, "2026-01-01T00:00:00.000Z");
  assert.deepStrictEqual(body.allocations[2], VIEW.allocations[0]);
});

Deno.test("GET /allocations?node=n1 returns only that node's pools and allocations", async () => {
  const body = await json("/allocations?node=n1");
  assert.deepStrictEqual(pods(body), ["games/gs-1"]);
  assert.deepStrictEqual(poolKeys(body), ["node/n1"]);
});

Deno.test("GET /allocations?lb=lb-a returns only that load balancer's pools and allocations", async () => {
  const body = await json("/allocations?lb=lb-a");
  assert.deepStrictEqual(pods(body), ["arena/room-0"]);
  assert.deepStrictEqual(poolKeys(body), ["lb/lb-a"]);
});

Deno.test("GET /allocations?namespace=games&pod=gs-0 combines filters and keeps every pool", async () => {
  const body = await json("/allocations?namespace=games&pod=gs-0");
  assert.deepStrictEqual(pods(body), ["games/gs-0"]);
  assert.equal(body.pools.length, 3);
});

Deno.test("GET /allocations?type=kubernetes-hostport matches the type ignoring case", async () => {
  const body = await json("/allocations?type=kubernetes-hostport");
  assert.deepStrictEqual(pods(body), ["games/gs-0", "games/gs-1"]);
});

Deno.test("GET /allocations?node=n1&node=n2 matches either value of a repeated filter", async () => {
  const body = await json("/allocations?node=n1&node=n2");
  assert.deepStrictEqual(pods(body), ["games/gs-0", "games/gs-1"]);
  assert.deepStrictEqual(poolKeys(body), ["node/n1", "node/n2"]);
});

Deno.test("GET /allocations?node=n1&lb=lb-a matches nothing (filters are ANDed)", async () => {
  const body = await json("/allocations?node=n1&lb=lb-a");
  assert.deepStrictEqual(body.allocations, []);
  assert.deepStrictEqual(body.pools, []);
});

Deno.test("GET /allocations?nod=n1 is a 400 listing the allowed parameters", async () => {
  const res = await app.request("/allocations?nod=n1");
  assert.equal(res.status, 400);
  assert.equal(
    await res.text(),
    'Unknown query parameter "nod": allowed are node, lb, namespace, pod, type, format\n',
  );
});

Deno.test("GET /allocations?format=yaml is a 400", async () => {
  const res = await app.request("/allocations?format=yaml");
  assert.equal(res.status, 400);
  assert.match(await res.text(), /format=json or format=table/);
});

Deno.test("GET /allocations?format=table renders aligned allocations, a blank line, then pools", async () => {
  const res = await app.request("/allocations?format=table");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
  assert.equal(
    await res.text(),
    [
      "NAMESPACE   POD      TYPE                  NODE/LB   ADDRESS      PORTS               STATE",
      "arena       room-0   TencentCloud-CLB      lb-a      1.2.3.4      30000/UDP           Ready",
      "games       gs-0     Kubernetes-HostPort   n2        <none>       8000/TCP            NotReady",
      "games       gs-1     Kubernetes-HostPort   n1        48.98.98.8   8211/TCP,8212/UDP   Ready",
      "",
      "KIND   KEY    RANGE                 USED   FREE   DELAYED",
      "lb     lb-a   30000-30100/UDP       1      100    0",
      "node   n1     8000-9000 (default)   2      998    1",
      "node   n2     8000-9000             1      1000   0",
      "",
    ].join("\n"),
  );
});

Deno.test("GET /allocations?format=table&node=n9 prints the headers of both empty tables", async () => {
  const text = await (await app.request("/allocations?format=table&node=n9")).text();
  assert.equal(
    text,
    "NAMESPACE   POD   TYPE   NODE/LB   ADDRESS   PORTS   STATE\n\nKIND   KEY   RANGE   USED   FREE   DELAYED\n",
  );
});

Deno.test("renderTable() shows <none> for an allocation without ports", () => {
  const text = renderTable([], [{
    type: "Kubernetes-None",
    namespace: "a",
    pod: "b",
    owner: "a/b",
    ports: [],
  }]);
  assert.equal(
    text.split("\n")[1],
    "a           b     Kubernetes-None   <none>    <none>    <none>   <none>",
  );
});

Deno.test("GET /allocations reads the view at every request", async () => {
  let view: AllocationsView = { pools: [], allocations: [] };
  const live = createAllocationsRoute({ view: () => view });
  assert.equal((await (await live.request("/allocations")).json()).allocations.length, 0);
  view = VIEW;
  assert.equal((await (await live.request("/allocations")).json()).allocations.length, 3);
});
