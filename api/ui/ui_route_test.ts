import assert from "node:assert/strict";
import { createUiRoute, type UiDeps } from "./ui_route.tsx";
import { LIVE_SCRIPT } from "./live_script.ts";
import { allocationRow } from "../../tests/fakes/allocation_row.ts";
import { POOL_CELL_LIMIT, POOL_PAGE_SIZE } from "./overview.ts";
import type { RecentEvent } from "../../controller/recent_events.ts";
import type { AllocationsView, AllocationView } from "../../providers/view.ts";
import {
  NETWORK_CONF_ANNOTATION,
  NETWORK_STATUS_ANNOTATION,
  NETWORK_TYPE_ANNOTATION,
  type Pod,
} from "../../providers/types.ts";

/** The shared test row, with an address. */
const row = (namespace: string, pod: string, extra: Partial<AllocationView> = {}) =>
  allocationRow(namespace, pod, { address: "203.0.113.1", ...extra });

const VIEW: AllocationsView = {
  pools: [
    {
      type: "Kubernetes-HostPort",
      kind: "node",
      key: "n1",
      range: "8000-8009",
      used: 4,
      free: 6,
      delayed: 0,
    },
    {
      type: "Kubernetes-HostPort",
      kind: "node",
      key: "n2",
      range: "8000-8009",
      used: 9,
      free: 0,
      delayed: 1,
    },
    {
      type: "TencentCloud-CLB",
      kind: "lb",
      key: "lb-a",
      range: "30000-30099",
      protocol: "UDP",
      used: 1,
      free: 99,
      delayed: 0,
    },
  ],
  allocations: [
    row("games", "gs-0"),
    row("games", "gs-1", {
      state: "NotReady",
      reason: "HostPortConflict",
      message: "Port 8000 is taken",
    }),
    row("games", "gs-2", { node: "n2", state: "Waiting" }),
    row("arena", "room-0", {
      type: "TencentCloud-CLB",
      node: undefined,
      lb: "lb-a",
      address: "1.2.3.4",
    }),
    row("games", "gs-3", {
      owner: "admission/u3",
      holding: "admission",
      state: undefined,
      address: undefined,
    }),
  ],
};

/** With fields gamenet's cache drops, in case one stays: none may be shown. */
const POD = {
  metadata: {
    namespace: "games",
    name: "gs-1",
    uid: "uid-1",
    annotations: {
      [NETWORK_TYPE_ANNOTATION]: "Kubernetes-HostPort",
      [NETWORK_CONF_ANNOTATION]: '[{"name":"ContainerPorts","value":"gs:7777/UDP"}]',
      [NETWORK_STATUS_ANNOTATION]: '{"currentNetworkState":"NotReady"}',
      "example.com/db-password": "hunter2",
    },
    labels: { "secret-label": "s3cr3t" },
  },
  spec: {
    nodeName: "n1",
    containers: [{ name: "gs", env: [{ name: "TOKEN", value: "t0ken" }] }],
  },
} as unknown as Pod;

const EVENTS: RecentEvent[] = [
  {
    type: "Normal",
    reason: "PortsAllocated",
    message: "8000/UDP on n1",
    count: 1,
    lastTimestamp: "2026-01-01T00:00:00Z",
  },
  {
    type: "Warning",
    reason: "HostPortConflict",
    message: "Port 8000 is taken",
    count: 3,
    lastTimestamp: "2026-01-01T00:01:00Z",
  },
];

function app(deps: Partial<UiDeps> = {}) {
  return createUiRoute({
    allocations: () => structuredClone(VIEW),
    pod: (ns, name) => ns === "games" && name === "gs-1" ? POD : undefined,
    recentEvents: (ns, name, uid) =>
      ns === "games" && name === "gs-1" && uid === "uid-1" ? EVENTS : [],
    restoreConflicts: () => [{ message: "Port 8001 on n1 is claimed by games/a and games/b" }],
    ...deps,
  });
}

async function page(path: string, deps: Partial<UiDeps> = {}) {
  const res = await app(deps).request(path);
  return { res, html: await res.text() };
}

/** The opening tags carrying `data-testid="<id>"`. */
function tags(html: string, testid: string): string[] {
  return html.match(new RegExp(`<[a-z]+ [^>]*data-testid="${testid}"[^>]*>`, "g")) ?? [];
}

function attr(tag: string, name: string): string | undefined {
  return tag.match(new RegExp(` ${name}="([^"]*)"`))?.[1];
}

/** The rows' `data-pod`, in page order. */
const serverRows = (html: string) => tags(html, "server-row").map((t) => attr(t, "data-pod"));

Deno.test("createUiRoute() renders attention, counts, pools and game servers", async () => {
  const { res, html } = await page("/ui");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /^text\/html/);
  assert.ok(html.startsWith("<!DOCTYPE html>"));
  for (const id of ["attention", "summary", "pools", "servers", "filter-form", "live-status"]) {
    assert.equal(tags(html, id).length, 1, id);
  }
  const attention = tags(html, "attention-item").map((t) =>
    `${attr(t, "data-kind")} ${attr(t, "data-pod") ?? attr(t, "data-id") ?? ""}`
  );
  assert.deepEqual(attention, [
    "server games/gs-1",
    "server games/gs-2",
    "pool Kubernetes-HostPort|node|n2|8000-8009|",
    "admission admission/u3|admission:games/gs-3",
    "conflict ",
  ]);
  assert.match(html, /<b>HostPortConflict<\/b> Port 8000 is taken/);
  assert.match(html, /Port 8001 on n1 is claimed by games\/a and games\/b/);
  assert.match(html, /<dd data-count="total">5<\/dd>/);
  assert.match(html, /<dd data-count="state:NotReady">1<\/dd>/);
  const cells = tags(html, "pool-cell");
  assert.equal(cells.length, 3);
  assert.equal(attr(cells.find((c) => c.includes("|n2|"))!, "class"), "c u4");
  assert.equal(attr(cells.find((c) => c.includes("|n1|"))!, "class"), "c u0");
  assert.deepEqual(tags(html, "pool-group").map((g) => attr(g, "data-group")), [
    "Kubernetes-HostPort · node · 8000-8009",
    "TencentCloud-CLB · lb · 30000-30099/UDP",
  ]);
  assert.deepEqual(serverRows(html), [
    "arena/room-0",
    "games/gs-0",
    "games/gs-1",
    "games/gs-2",
    "games/gs-3",
  ]);
});

Deno.test("createUiRoute() filters by the URL query and keeps it in the form", async () => {
  const { html } = await page("/ui?namespace=games&state=NotReady&state=Waiting&node=");
  assert.deepEqual(serverRows(html), ["games/gs-1", "games/gs-2"]);
  assert.match(html, /<input type="text" name="namespace" value="games">/);
  assert.match(html, /<option value="NotReady" selected(="")?>NotReady<\/option>/);
  assert.match(html, /<option value="Waiting" selected(="")?>Waiting<\/option>/);
  assert.match(html, /2 of 4 game servers/);
  // Attention keeps the page's scope (the namespace), not its state filter.
  assert.equal(tags(html, "attention-item").filter((t) => t.includes('"server"')).length, 2);
  const node = await page("/ui?node=n2");
  assert.deepEqual(serverRows(node.html), ["games/gs-2"]);
  assert.equal(tags(node.html, "pool-cell").length, 1);
  const type = await page("/ui?type=tencentcloud-clb");
  assert.deepEqual(serverRows(type.html), ["arena/room-0"]);
});

Deno.test("createUiRoute() sorts by the column the query names", async () => {
  const { html } = await page("/ui?sort=state");
  // By state, then by namespace and name.
  assert.deepEqual(serverRows(html), [
    "games/gs-1", // NotReady
    "arena/room-0", // Ready
    "games/gs-0",
    "games/gs-2", // Waiting
    "games/gs-3", // admission
  ]);
  assert.match(html, /<option value="state" selected(="")?>State<\/option>/);
  assert.match(html, /aria-sort="ascending"><a href="\/ui\?sort=state">State/);
});

Deno.test("createUiRoute() pages the game servers with links that keep the query", async () => {
  const first = await page("/ui?namespace=games", { pageSize: 2 });
  assert.deepEqual(serverRows(first.html), ["games/gs-0", "games/gs-1"]);
  assert.match(first.html, /4 of 4 game servers · page 1 of 2/);
  const links = tags(first.html, "page-link").map((t) => attr(t, "href"));
  assert.ok(links.includes("/ui?namespace=games&amp;page=2"), links.join(" "));
  const second = await page("/ui?namespace=games&page=2", { pageSize: 2 });
  assert.deepEqual(serverRows(second.html), ["games/gs-2", "games/gs-3"]);
  const past = await page("/ui?namespace=games&page=99", { pageSize: 2 });
  assert.deepEqual(serverRows(past.html), ["games/gs-2", "games/gs-3"]);
});

Deno.test("createUiRoute() shows a game server's network, ports and Events and nothing else of its Pod", async () => {
  const { res, html } = await page("/ui/pods/games/gs-1");
  assert.equal(res.status, 200);
  assert.equal(tags(html, "pod-detail").length, 1);
  assert.match(html, /data-testid="network-type">Kubernetes-HostPort</);
  assert.match(
    html,
    /data-testid="network-conf">\[\{&quot;name&quot;:&quot;ContainerPorts&quot;,&quot;value&quot;:&quot;gs:7777\/UDP&quot;\}\]</,
  );
  assert.match(
    html,
    /data-testid="network-status">\{\n {2}&quot;currentNetworkState&quot;: &quot;NotReady&quot;\n\}</,
  );
  assert.equal(tags(html, "port-row").length, 1);
  const events = tags(html, "event-row");
  assert.deepEqual(events.map((e) => attr(e, "data-reason")), [
    "HostPortConflict",
    "PortsAllocated",
  ]);
  for (const secret of ["hunter2", "db-password", "s3cr3t", "t0ken", "TOKEN"]) {
    assert.ok(!html.includes(secret), `${secret} shown`);
  }
});

Deno.test("createUiRoute() shows an admission whose Pod is not seen yet", async () => {
  const { res, html } = await page("/ui/pods/games/gs-3");
  assert.equal(res.status, 200);
  assert.match(html, /data-testid="pod-state">admission</);
  assert.match(html, /not in gamenet&#39;s cache/);
});

Deno.test("createUiRoute() answers 404 for a Pod it does not know", async () => {
  const { res, html } = await page("/ui/pods/games/nope");
  assert.equal(res.status, 404);
  assert.equal(tags(html, "not-found").length, 1);
  assert.match(html, /No game server games\/nope/);
});

Deno.test("createUiRoute() escapes names and messages", async () => {
  const evil = "<script>alert(1)</script>";
  const view: AllocationsView = {
    pools: [],
    allocations: [row("games", `gs-${evil}`, { state: "NotReady", reason: "X", message: evil })],
  };
  const pod: Pod = {
    metadata: {
      namespace: "games",
      name: `gs-${evil}`,
      annotations: { [NETWORK_CONF_ANNOTATION]: evil, [NETWORK_STATUS_ANNOTATION]: evil },
    },
  };
  const deps: Partial<UiDeps> = {
    allocations: () => view,
    pod: () => pod,
    recentEvents: () => [{ ...EVENTS[1], message: evil }],
  };
  const overview = await page("/ui", deps);
  // The one script element is the page's own.
  assert.equal(overview.html.split("<script").length - 1, 1);
  assert.ok(!overview.html.includes("<script>alert"));
  assert.match(overview.html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  assert.ok(overview.html.includes(`href="/ui/pods/games/gs-${encodeURIComponent(evil)}"`));
  const detail = await page(`/ui/pods/games/${encodeURIComponent(`gs-${evil}`)}`, deps);
  assert.equal(detail.res.status, 200);
  assert.equal(detail.html.split("<script").length - 1, 0);
  assert.equal(detail.html.split("&lt;script&gt;alert(1)&lt;/script&gt;").length - 1, 5);
});

Deno.test("createUiRoute() pages are complete without JavaScript", async () => {
  const { html } = await page("/ui", { stream: "" });
  assert.ok(!html.includes("<script"));
  assert.equal(serverRows(html).length, 5);
  assert.equal(tags(html, "attention-item").length, 5);
  assert.match(html, /<form [^>]*method="get" action="\/ui"/);
  for (const name of ["namespace", "pod", "node", "lb", "type", "state", "sort"]) {
    assert.match(html, new RegExp(`<label>[^<]+<(input|select) [^>]*name="${name}"`), name);
  }
});

Deno.test("createUiRoute() allows its own script alone, by hash", async () => {
  const { res, html } = await page("/ui");
  const policy = res.headers.get("content-security-policy")!;
  assert.match(policy, /default-src 'none'/);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(LIVE_SCRIPT));
  const hash = btoa(String.fromCharCode(...new Uint8Array(digest)));
  assert.ok(policy.includes(`script-src 'sha256-${hash}'`), policy);
  assert.ok(html.includes(`<script>${LIVE_SCRIPT}</script>`));
  assert.match(html, /data-stream="\/allocations\/stream"/);
  // The script parses.
  new Function(LIVE_SCRIPT);
});

/**
 * A large cluster: `nodes` nodes with a TCP and a UDP pool of 1,001 ports
 * each, used unevenly (every 97th exhausted, every 13th with delayed
 * ports), and `rows` game servers spread over them.
 */
function largeView(nodes: number, rows: number): AllocationsView {
  const pools: AllocationsView["pools"] = [];
  for (let n = 0; n < nodes; n++) {
    for (const protocol of ["TCP", "UDP"] as const) {
      const delayed = n % 13 === 0 ? 4 : 0;
      const used = n % 97 === 0 ? 1001 - delayed : (n * 7 + protocol.length) % 1001 - delayed;
      pools.push({
        type: "Kubernetes-HostPort",
        kind: "node",
        key: `node-${String(n).padStart(5, "0")}`,
        range: "8000-9000",
        rangeName: "default",
        protocol,
        used: Math.max(0, used),
        free: 1001 - Math.max(0, used) - delayed,
        delayed,
      });
    }
  }
  const allocations = Array.from({ length: rows }, (_, i) =>
    row(`ns-${i % 20}`, `gs-${i}`, {
      node: `node-${String(i % nodes).padStart(5, "0")}`,
      ports: [{ port: 8000 + i % 1000, protocol: "UDP" }],
      address: `10.0.${i % 250}.${i % 200}`,
      ...(i % 500 === 0 ? { state: "NotReady", reason: "HostPortConflict", message: "taken" } : {}),
    }));
  return { pools, allocations };
}

const LARGE = largeView(2_000, 20_000);
const TCP_GROUP = "Kubernetes-HostPort · node · 8000-9000/TCP (default)";

/** The pool ids of one group's cells, in page order. */
function groupCells(html: string, title: string): string[] {
  const start = html.indexOf(`data-group="${title}"`);
  assert.ok(start >= 0, `group ${title}`);
  const end = html.indexOf("</section>", start);
  return tags(html.slice(start, end), "pool-cell").map((t) => attr(t, "data-pool-id")!);
}

/** A group's summary numbers by their `data-g`. */
function groupSummary(html: string, title: string): Record<string, number> {
  const start = html.indexOf(`data-group="${title}"`);
  const part = html.slice(start, html.indexOf("</section>", start));
  return Object.fromEntries(
    [...part.matchAll(/data-g="([a-z0-9]+)">(\d+)</g)].map((m) => [m[1], Number(m[2])]),
  );
}

/** The use-first order the page promises: exhausted, fullest, then by key. */
function fullestFirst(pools: AllocationsView["pools"]): string[] {
  const use = (p: (typeof pools)[number]) => (p.used + p.delayed) / (p.used + p.free + p.delayed);
  return [...pools]
    .sort((a, b) =>
      Number(a.free !== 0) - Number(b.free !== 0) || use(b) - use(a) ||
      (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
    )
    .map((p) => `${p.type}|${p.kind}|${p.key}|${p.range}|${p.protocol}`);
}

Deno.test("createUiRoute() shows the fullest pools of each group, at most POOL_CELL_LIMIT", async () => {
  const { html } = await page("/ui", { allocations: () => LARGE });
  assert.equal(tags(html, "pool-group").length, 2);
  assert.equal(tags(html, "pool-cell").length, 2 * POOL_CELL_LIMIT);
  const tcp = LARGE.pools.filter((p) => p.protocol === "TCP");
  const cells = groupCells(html, TCP_GROUP);
  assert.deepEqual(cells, fullestFirst(tcp).slice(0, POOL_CELL_LIMIT));
  // Exhausted first (every 97th node's), then by use.
  assert.equal(cells[0], "Kubernetes-HostPort|node|node-00000|8000-9000|TCP");
  assert.match(html, /<li class="c u4" style="--w:100%" data-testid="pool-cell"/);
  const more = tags(html, "pool-group-more");
  assert.equal(more.length, 2);
  assert.ok(
    html.includes(
      `href="/ui?${new URLSearchParams({ pools: TCP_GROUP })}#pools">` +
        `All 2000 pools of ${TCP_GROUP}</a>`,
    ),
  );
  // The node filter narrows the pools: one node, no link to more.
  const node = await page("/ui?node=node-00003", { allocations: () => LARGE });
  assert.equal(tags(node.html, "pool-cell").length, 2);
  assert.equal(tags(node.html, "pool-group-more").length, 0);
});

Deno.test("createUiRoute() shows a group whole and paged when the query names it", async () => {
  const path = (page: number) =>
    `/ui?node=&pools=${encodeURIComponent(TCP_GROUP)}${page > 1 ? `&pools_page=${page}` : ""}`;
  const pages = 2000 / POOL_PAGE_SIZE;
  const seen: string[] = [];
  for (let p = 1; p <= pages; p++) {
    const { html } = await page(path(p), { allocations: () => LARGE });
    seen.push(...groupCells(html, TCP_GROUP));
    // The other group keeps its fullest alone.
    assert.equal(groupCells(html, TCP_GROUP.replace("TCP", "UDP")).length, POOL_CELL_LIMIT);
    assert.equal(tags(html, "pools-pager").length, 1);
    assert.match(html, new RegExp(`All 2000 pools, page ${p} of ${pages}:`));
    // The filter form keeps the group open.
    assert.ok(html.includes(`<input type="hidden" name="pools" value="${TCP_GROUP}">`));
  }
  assert.deepEqual(seen, fullestFirst(LARGE.pools.filter((p) => p.protocol === "TCP")));
  const past = await page(path(99), { allocations: () => LARGE });
  assert.match(past.html, new RegExp(`page ${pages} of ${pages}:`));
  const links = tags(past.html, "pools-page-link").map((t) => attr(t, "href"));
  assert.ok(links.some((l) => l?.endsWith("&amp;pools_page=3#pools")), links.join(" "));
  assert.match(past.html, /<a href="\/ui#pools">Only the fullest<\/a>/);
  // A group that fits in a page says so, without page links.
  const small = await page(
    `/ui?pools=${encodeURIComponent("Kubernetes-HostPort · node · 8000-8009")}`,
  );
  assert.match(small.html, /All 2 pools shown\./);
  assert.equal(tags(small.html, "pools-page-link").length, 0);
});

Deno.test("createUiRoute() sums up every group in its header", async () => {
  const { html } = await page("/ui");
  assert.equal(tags(html, "pool-group-summary").length, 2);
  assert.deepEqual(groupSummary(html, "Kubernetes-HostPort · node · 8000-8009"), {
    pools: 2,
    used: 13,
    free: 6,
    delayed: 1,
    b4: 1,
    b3: 0,
    b2: 0,
    b1: 0,
    b0: 1,
  });
  const large = await page("/ui", { allocations: () => LARGE });
  const tcp = LARGE.pools.filter((p) => p.protocol === "TCP");
  const sum = groupSummary(large.html, TCP_GROUP);
  assert.equal(sum.pools, 2000);
  assert.equal(sum.used, tcp.reduce((n, p) => n + p.used, 0));
  assert.equal(sum.free, tcp.reduce((n, p) => n + p.free, 0));
  assert.equal(sum.delayed, tcp.reduce((n, p) => n + p.delayed, 0));
  assert.equal(sum.b4, tcp.filter((p) => p.free === 0).length);
  assert.equal(sum.b0 + sum.b1 + sum.b2 + sum.b3 + sum.b4, 2000);
  // The page's counts are of all pools, not of the cells shown.
  assert.match(large.html, /<dd data-count="pools">4000<\/dd>/);
});

Deno.test("createUiRoute() keeps /ui small at 4,000 pools on 2,000 nodes and 20,000 game servers", async () => {
  const { html } = await page("/ui", { allocations: () => LARGE });
  const bytes = new TextEncoder().encode(html).length;
  // 168 KiB measured: 200 cells, 200 rows, 50 + 50 attention items; every cell was 4,000 (2 MiB).
  assert.ok(bytes < 200 * 1024, `${Math.round(bytes / 1024)} KiB`);
  // A cell says its numbers to a pointer and a screen reader (the link's title) and to the eye.
  assert.match(
    html,
    /<a href="\/ui\?node=node-00000" title="997 used, 0 free, 4 delayed">node-00000<\/a> <small aria-hidden="true">997\/0\/4<\/small>/,
  );
});
