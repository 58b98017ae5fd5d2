/**
 * The live page in a real browser (Debian's chromium, headless, see
 * `browser.ts`) against gamenet as a process on the real control plane,
 * with HostPort, None and CLB game servers (the CLB on the fake Tencent
 * Cloud): the page lists them and their pools, a filter narrows the list
 * and survives a reload, a Pod made NotReady appears under "Needs
 * attention" within 2 s without a reload, the keyboard reaches a game
 * server, and its detail shows gamenet's Event. Screenshots go to
 * `.cache/screenshots/` (`ui-*.png`).
 */

import assert from "node:assert/strict";
import { ControlPlane } from "../controlplane/control_plane.ts";
import { KubeletStandIn } from "../controlplane/kubelet_standin.ts";
import { FakeTencentCloud } from "../fakes/tencentcloud/fake_tencent_cloud.ts";
import { testSeedFor } from "../test_seed.ts";
import { NETWORK_CONF_ANNOTATION, type Pod } from "../../providers/types.ts";
import { GamenetProcess } from "./gamenet_process.ts";
import {
  createNamespace,
  eventually,
  gamePod,
  hostPortGamePod,
  listPods,
  networkStatus,
} from "./helpers.ts";
import { Browser, type Page } from "./browser.ts";

const NS = "ui-e2e";
const LB = "lb-ui000001";

const CLB_CONF = { ClbIds: LB, PortProtocols: "7777/UDP", MinPort: "501", MaxPort: "600" };
const PODS = [
  hostPortGamePod("hostport-0"),
  hostPortGamePod("hostport-1"),
  gamePod("Kubernetes-None", { ContainerPorts: "gs:7777/UDP" }, "direct-0"),
  gamePod("Kubernetes-None", { ContainerPorts: "gs:7777/UDP" }, "direct-1"),
  gamePod("TencentCloud-CLB", CLB_CONF, "clb-0"),
  gamePod("TencentCloud-CLB", CLB_CONF, "clb-1"),
];

/** `data-pod` of every element `selector` matches, sorted. */
async function podsOf(page: Page, selector: string): Promise<string[]> {
  const pods = await page.$$eval(selector, (els) => els.map((e) => e.getAttribute("data-pod")));
  return pods.filter((p): p is string => p !== null).sort();
}

/** The page's status line says the stream's snapshot is applied. */
async function waitLive(page: Page): Promise<void> {
  await page.waitForFunction(
    `document.querySelector('[data-testid="live-status"]')?.textContent?.startsWith("Live")`,
    { polling: "mutation", timeout: 10_000 },
  );
}

Deno.test("/ui in a real browser: lists, filters, shows a NotReady Pod live, opens its detail", async (t) => {
  await using cp = await ControlPlane.start();
  const admin = cp.client("admin");
  await using kubelet = new KubeletStandIn(admin);
  await kubelet.addNodes(2, { prefix: "ui-node" });
  kubelet.start();
  await createNamespace(admin, NS);
  await using cloud = await FakeTencentCloud.start({
    loadBalancers: [{ id: LB, vip: "139.155.20.1" }],
    taskDurationMs: 20,
    seed: testSeedFor("ui browser"),
  });
  await using gamenet = await GamenetProcess.start(cp, cloud.gamenetFlags([LB]));
  await gamenet.waitReady(60_000);
  for (const pod of PODS) {
    await admin.request("POST", `/api/v1/namespaces/${NS}/pods`, { body: pod });
  }
  const names = PODS.map((p) => `${NS}/${p.metadata.name}`).sort();
  await eventually("the six game servers Ready", async () => {
    const pods = await listPods(admin, NS);
    const ready = pods.filter((p) => networkStatus(p)?.currentNetworkState === "Ready");
    return ready.length === PODS.length || undefined;
  }, 60_000);

  await using browser = await Browser.launch();
  const ui = `http://127.0.0.1:${gamenet.debugPort}/ui`;
  const page = await browser.open(ui);
  await waitLive(page);

  await t.step("the page lists every game server and every pool", async () => {
    assert.deepEqual(await podsOf(page, '[data-testid="server-row"]'), names);
    assert.deepEqual(
      await page.$$eval(
        '[data-testid="server-row"]',
        (rows) => [...new Set(rows.map((r) => r.getAttribute("data-state")))],
      ),
      ["Ready"],
    );
    const pools = await page.$$eval(
      '[data-testid="pool-cell"]',
      (cells) => cells.map((c) => c.getAttribute("data-pool-id") ?? ""),
    );
    assert.ok(pools.some((id) => id.includes(LB)), `the CLB's pool among ${pools}`);
    assert.ok(pools.some((id) => id.includes("ui-node-")), `a node's pool among ${pools}`);
    // The group's header as the live script summed it from the stream (a title it did not
    // match would read 0): the CLB's two UDP ports.
    const clbUdp = `[data-testid="pool-group"][data-group="TencentCloud-CLB · lb · 501-600/UDP"]`;
    assert.deepEqual(
      await page.$$eval(`${clbUdp} [data-g]`, (els) => els.map((e) => e.textContent).join(" ")),
      "1 2 98 0 0 0 0 0 1",
    );
    assert.deepEqual(await podsOf(page, '[data-testid="attention-item"][data-kind="server"]'), []);
    await browser.screenshot(page, "ui-overview");
  });

  await t.step("a filter narrows the list, and the URL keeps it through a reload", async () => {
    await page.select('[data-testid="filter-form"] select[name="type"]', "Kubernetes-None");
    await Promise.all([
      page.waitForNavigation({ waitUntil: "domcontentloaded" }),
      page.click('[data-testid="filter-form"] button[type="submit"]'),
    ]);
    assert.equal(new URL(page.url()).searchParams.get("type"), "Kubernetes-None");
    const direct = [`${NS}/direct-0`, `${NS}/direct-1`];
    assert.deepEqual(await podsOf(page, '[data-testid="server-row"]'), direct);
    await page.reload({ waitUntil: "domcontentloaded" });
    assert.deepEqual(await podsOf(page, '[data-testid="server-row"]'), direct);
    await browser.screenshot(page, "ui-filtered");
  });

  await t.step(
    "a Pod made NotReady appears under Needs attention within 2 s, without a reload",
    async () => {
      await page.goto(ui, { waitUntil: "domcontentloaded" });
      await waitLive(page);
      // A mark on this document: a reload would lose it.
      await page.evaluate("window.__sameDocument = true");
      await admin.request("PATCH", `/api/v1/namespaces/${NS}/pods/direct-0`, {
        body: { metadata: { annotations: { [NETWORK_CONF_ANNOTATION]: "[{oops" } } },
        contentType: "application/merge-patch+json",
      });
      // The clock starts when gamenet's status says NotReady: the page's lag, not the controller's.
      await eventually(
        "direct-0 NotReady",
        async () => {
          const pod = await admin.request<Pod>("GET", `/api/v1/namespaces/${NS}/pods/direct-0`);
          return networkStatus(pod)?.currentNetworkState === "NotReady" || undefined;
        },
        30_000,
        50,
      );
      const item =
        `[data-testid="attention"] [data-testid="attention-item"][data-pod="${NS}/direct-0"]`;
      await page.waitForSelector(item, { timeout: 2_000 });
      assert.equal(await page.evaluate("window.__sameDocument"), true, "the page was not reloaded");
      const text = await page.$eval(item, (e) => e.textContent ?? "");
      assert.match(text, /NotReady/);
      assert.match(text, /InvalidNetworkConf/);
      await browser.screenshot(page, "ui-attention");
    },
  );

  await t.step(
    "the keyboard reaches a game server, and its detail shows gamenet's Event",
    async () => {
      // Tab through the page until a link to direct-0's detail has the focus.
      let focused = "";
      for (let i = 0; i < 200 && !focused.endsWith(`/ui/pods/${NS}/direct-0`); i++) {
        await page.keyboard.press("Tab");
        focused = String(await page.evaluate("document.activeElement?.getAttribute('href') ?? ''"));
      }
      assert.ok(focused.endsWith(`/ui/pods/${NS}/direct-0`), `focus reached ${focused}`);
      await Promise.all([
        page.waitForNavigation({ waitUntil: "domcontentloaded" }),
        page.keyboard.press("Enter"),
      ]);
      await page.waitForSelector('[data-testid="pod-detail"]');
      assert.equal(
        await page.$eval('[data-testid="network-type"]', (e) => e.textContent?.trim()),
        "Kubernetes-None",
      );
      assert.match(
        await page.$eval('[data-testid="network-conf"]', (e) => e.textContent ?? ""),
        /\[\{oops/,
      );
      const events = await page.$$eval(
        '[data-testid="event-row"]',
        (rows) => rows.map((r) => `${r.getAttribute("data-reason")}: ${r.textContent}`),
      );
      assert.ok(
        events.some((e) => e.startsWith("InvalidNetworkConf:") && /not valid JSON/.test(e)),
        `events: ${events.join(" | ")}`,
      );
      await browser.screenshot(page, "ui-detail");
    },
  );
  await page.close();
});
