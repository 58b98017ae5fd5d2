import assert from "node:assert/strict";
import { createUiRoute, type UiDeps } from "./ui_route.tsx";
import { LIVE_SCRIPT } from "./live_script.ts";
import type { RecentEvent } from "../../controller/recent_events.ts";
import type { AllocationsView, AllocationView } from "../../providers/view.ts";
import {
  NETWORK_CONF_ANNOTATION,
  NETWORK_STATUS_ANNOTATION,
  NETWORK_TYPE_ANNOTATION,
  type Pod,
} from "../../providers/types.ts";

function row(namespace: string, pod: string, extra: Partial<AllocationView> = {}): AllocationView {
  return {
    type: "Kubernetes-HostPort",
    namespace,
    pod,
    owner: `${namespace}/${pod}`,
    node: "n1",
    ports: [{ port: 8000, protocol: "UDP" }],
    address: "203.0.113.1",
    state: "Ready",
    ...extra,
  };
}

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
  assert.equal(attr(cells.find((c) => c.includes("|n2|"))!, "class"), "cell u4");
  assert.equal(attr(cells.find((c) => c.includes("|n1|"))!, "class"), "cell u0");
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
