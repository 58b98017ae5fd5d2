import assert from "node:assert/strict";
import { overviewHref, parseOverviewQuery } from "./overview_query.ts";

Deno.test("parseOverviewQuery() drops empty values and falls back to defaults", () => {
  assert.deepEqual(
    parseOverviewQuery({ namespace: [""], node: [" n1 "], sort: ["nope"], page: ["-2"], x: ["1"] }),
    { filters: { node: ["n1"] }, state: [], sort: "name", page: 1, poolsPage: 1 },
  );
  assert.deepEqual(parseOverviewQuery({ state: ["NotReady", ""], sort: ["state"], page: ["3"] }), {
    filters: {},
    state: ["NotReady"],
    sort: "state",
    page: 3,
    poolsPage: 1,
  });
  // A pools page means nothing without its group.
  assert.deepEqual(parseOverviewQuery({ pools_page: ["2"] }).poolsPage, 1);
  assert.deepEqual(parseOverviewQuery({ pools: ["g"], pools_page: ["2"] }).poolsPage, 2);
});

Deno.test("overviewHref() keeps the query and leaves defaults out", () => {
  const q = parseOverviewQuery({ lb: ["lb-a"], type: ["x", "y"], state: ["Waiting"] });
  assert.equal(overviewHref(q), "/ui?lb=lb-a&type=x&type=y&state=Waiting");
  assert.equal(
    overviewHref(q, { page: 2, sort: "node" }),
    "/ui?lb=lb-a&type=x&type=y&state=Waiting&sort=node&page=2",
  );
  assert.equal(overviewHref(parseOverviewQuery({})), "/ui");
  assert.deepEqual(
    parseOverviewQuery(Object.fromEntries(
      [...new URL(`http://x${overviewHref(q, { page: 4 })}`).searchParams.keys()].map((k) => [
        k,
        new URL(`http://x${overviewHref(q, { page: 4 })}`).searchParams.getAll(k),
      ]),
    )),
    { ...q, page: 4 },
  );
});

Deno.test("overviewHref() keeps the pool group shown whole and its page", () => {
  const q = parseOverviewQuery({
    node: ["n1"],
    pools: ["Kubernetes-HostPort · node · 8000-9000/TCP"],
  });
  assert.equal(
    overviewHref(q, { poolsPage: 3 }),
    "/ui?node=n1&pools=Kubernetes-HostPort+%C2%B7+node+%C2%B7+8000-9000%2FTCP&pools_page=3",
  );
  assert.equal(overviewHref(q, { pools: undefined, poolsPage: 3 }), "/ui?node=n1");
});
