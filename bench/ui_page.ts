/**
 * The live page at scale, in a real browser (Debian's chromium, headless):
 * gamenet as a process with `deploy/`'s flags against the recorded
 * cluster of `scale.ts real` replicated `copies` times behind the API stub
 * (`copies=1`: 20,000 game servers, 60/30/10 % HostPort/None/CLB, and
 * 4,000 other Pods on 1,000 nodes; see `scale/stub_cluster.ts`).
 *
 * - `render`: `/ui` opened `runs` times in a fresh tab; for each, the
 *   navigation timing of the document (first byte, last byte,
 *   DOMContentLoaded), the first contentful paint, and when the page had
 *   applied the stream's snapshot (its status line says "Live"); the server's
 *   own time to answer `/ui` with `fetch` beside it.
 * - `stream`: the page left open while `rate` game servers a second have
 *   their conf broken and mended in turn (the `Kubernetes-None` ones: their
 *   row goes `NotReady` with gamenet's `InvalidNetworkConf`, then `Ready`
 *   again) for `minutes`, with three `curl -N`-like
 *   readers and one that never reads; every 10 s gamenet's VmRSS and the
 *   page's JS heap (DevTools `Performance.getMetrics`). A flat memory is
 *   the same in the last minute as in the second.
 *
 * `UI_CPU_PROF=dir` runs gamenet with `--cpu-prof` (written when it stops).
 *
 * Needs `.cache/scale/recording.json` (`deno run -A bench/scale.ts real`
 * makes it, about 15 minutes).
 *
 * ```sh
 * deno run --allow-all bench/ui_page.ts render [copies=1] [runs=5]
 * deno run --allow-all bench/ui_page.ts stream [copies=1] [minutes=10] [rate=200]
 * ```
 * @module
 */

import { log } from "./log.ts";
import { ensureControlPlaneAssets } from "../tests/controlplane/assets.ts";
import { GamenetProcess } from "../tests/e2e/gamenet_process.ts";
import { Browser, type Page } from "../tests/e2e/browser.ts";
import { NETWORK_CONF_ANNOTATION, NETWORK_TYPE_ANNOTATION } from "../providers/types.ts";
import { sample, waitQuiet, waitReadyz } from "./scale/gamenet_probe.ts";
import { StubCluster } from "./scale/stub_cluster.ts";

const MODE = Deno.args[0] ?? "render";
const COPIES = Number(Deno.args[1] ?? 1);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x: number) => `${x.toFixed(0)} ms`;

/** What one opening of the page took, ms from navigation start. */
interface Render {
  serverFirstByte: number;
  serverLastByte: number;
  domContentLoaded: number;
  firstContentfulPaint: number;
  live: number;
  /** Rows of game servers the page drew. */
  rows: number;
}

/** Waits until the page has applied the stream's snapshot; ms from its navigation start. */
async function waitLive(page: Page): Promise<number> {
  // Strings, not functions: they run in the page, whose DOM types this program does not have.
  const handle = await page.waitForFunction(
    `document.querySelector('[data-testid="live-status"]')?.textContent?.startsWith("Live") &&
      performance.now()`,
    { polling: "mutation", timeout: 120_000 },
  );
  return Number(await handle.jsonValue());
}

async function openOnce(browser: Browser, url: string): Promise<Render> {
  const page = await browser.open(url);
  try {
    const live = await waitLive(page);
    const timing = await page.evaluate(`(() => {
      const nav = performance.getEntriesByType("navigation")[0];
      const fcp = performance.getEntriesByName("first-contentful-paint")[0];
      return {
        serverFirstByte: nav.responseStart,
        serverLastByte: nav.responseEnd,
        domContentLoaded: nav.domContentLoadedEventEnd,
        firstContentfulPaint: fcp ? fcp.startTime : NaN,
        rows: document.querySelectorAll('[data-testid="server-row"]').length,
      };
    })()`) as Omit<Render, "live">;
    return { ...timing, live };
  } finally {
    await page.close();
  }
}

async function render(gamenet: GamenetProcess, runs: number): Promise<void> {
  const url = `http://127.0.0.1:${gamenet.debugPort}/ui`;
  const fetched: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const res = await gamenet.debugGet("/ui");
    const bytes = (await res.arrayBuffer()).byteLength;
    fetched.push(performance.now() - t);
    if (i === 0) log(`/ui: ${res.status}, ${(bytes / 1024).toFixed(0)} KiB`);
  }
  await using browser = await Browser.launch();
  const renders: Render[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await openOnce(browser, url);
    renders.push(r);
    log(`run ${i + 1}: ${JSON.stringify(r)}`);
  }
  const m = (k: keyof Render) => median(renders.map((r) => r[k]));
  const page = await browser.open(url);
  await waitLive(page);
  await browser.screenshot(page, `ui-${COPIES * 20}k`);
  await page.close();
  console.log(
    `/ui at ${renders[0].rows} rows drawn, medians of ${runs}: fetch ${ms(median(fetched))}; ` +
      `first byte ${ms(m("serverFirstByte"))}, last byte ${ms(m("serverLastByte"))}, ` +
      `DOMContentLoaded ${ms(m("domContentLoaded"))}, first contentful paint ${
        ms(m("firstContentfulPaint"))
      }, live (snapshot applied) ${ms(m("live"))}`,
  );
}

/** The page's JS heap, MiB, as DevTools reports it. */
async function pageHeapMiB(page: Page): Promise<number> {
  const metrics = await page.metrics();
  return (metrics.JSHeapUsedSize ?? NaN) / 2 ** 20;
}

/** A reader of the stream that counts what arrives (or, `read: false`, never reads). */
function streamReader(gamenet: GamenetProcess, read: boolean) {
  const abort = new AbortController();
  let events = 0;
  let snapshots = 0;
  let bytes = 0;
  const done = (async () => {
    const res = await fetch(`http://127.0.0.1:${gamenet.debugPort}/allocations/stream`, {
      signal: abort.signal,
    });
    if (!read) return;
    const decoder = new TextDecoder();
    for await (const chunk of res.body!) {
      bytes += chunk.byteLength;
      const text = decoder.decode(chunk, { stream: true });
      events += (text.match(/^event: /gm) ?? []).length;
      snapshots += (text.match(/^event: snapshot/gm) ?? []).length;
    }
  })().catch(() => {});
  return {
    get events() {
      return events;
    },
    get bytes() {
      return bytes;
    },
    /** The first, and one after each time it fell behind. */
    get snapshots() {
      return snapshots;
    },
    async stop() {
      abort.abort();
      // An aborted body read does not always end its loop: do not wait for it long.
      await Promise.race([done, new Promise((r) => setTimeout(r, 1_000))]);
    },
  };
}

async function stream(
  cluster: StubCluster,
  gamenet: GamenetProcess,
  minutes: number,
  rate: number,
): Promise<void> {
  await using browser = await Browser.launch();
  const page = await browser.open(`http://127.0.0.1:${gamenet.debugPort}/ui`);
  await waitLive(page);
  const readers = [true, true, true, false].map((read) => streamReader(gamenet, read));
  // The Kubernetes-None game servers: a broken conf shows in their row at once.
  const annotations = (k: string) =>
    (cluster.api.pod(k)?.metadata.annotations ?? {}) as Record<string, string>;
  const keys = cluster.gameServerKeys.filter((k) =>
    annotations(k)[NETWORK_TYPE_ANNOTATION] === "Kubernetes-None"
  );
  const confs = new Map(keys.map((k) => [k, annotations(k)[NETWORK_CONF_ANNOTATION]]));
  const samples: { s: number; rssMiB: number; pageMiB: number; events: number }[] = [];
  const t0 = performance.now();
  let next = 0;
  let changes = 0;
  let flip = 0;
  // One batch every 100 ms: `rate` a second, through the stub's watch.
  const ticker = setInterval(() => {
    const batch: string[] = [];
    for (let i = 0; i < rate / 10; i++) {
      batch.push(keys[next]);
      next = (next + 1) % keys.length;
      if (next === 0) flip++;
    }
    cluster.api.editPods(batch, (pod) => {
      const annotations = pod.metadata.annotations as Record<string, string>;
      const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
      annotations[NETWORK_CONF_ANNOTATION] = flip % 2 === 0 ? "[{broken" : confs.get(key)!;
    });
    changes += batch.length;
  }, 100);
  try {
    while (performance.now() - t0 < minutes * 60_000) {
      await new Promise((r) => setTimeout(r, 10_000));
      const s = (performance.now() - t0) / 1000;
      const row = {
        s: Math.round(s),
        rssMiB: sample(gamenet.pid).rssMiB,
        pageMiB: await pageHeapMiB(page),
        events: readers[0].events,
      };
      samples.push(row);
      log(`${row.s} s: ${changes} changes; ${JSON.stringify(row)}`);
    }
  } finally {
    clearInterval(ticker);
    for (const r of readers) await r.stop();
  }
  const window = (from: number, to: number) => samples.filter((x) => x.s > from && x.s <= to);
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const end = samples[samples.length - 1].s;
  const second = window(60, 120);
  const last = window(end - 60, end);
  const seconds = end;
  const depth = /^gamenet_workqueue_depth (\d+)/m.exec(await gamenet.metrics())?.[1];
  console.log(
    `stream over ${minutes} min at ${rate} changes/s (${changes} changes; a reader got ${
      readers[0].events
    } events, ${(readers[0].events / seconds).toFixed(2)}/s, ${
      readers[0].snapshots
    } of them snapshots, ${
      (readers[0].bytes / 2 ** 20).toFixed(1)
    } MiB; work queue at the end: ${depth} keys): ` +
      `gamenet VmRSS ${avg(second.map((x) => x.rssMiB)).toFixed(0)} MiB in minute 2, ${
        avg(last.map((x) => x.rssMiB)).toFixed(0)
      } MiB in the last; page JS heap ${avg(second.map((x) => x.pageMiB)).toFixed(1)} → ${
        avg(last.map((x) => x.pageMiB)).toFixed(1)
      } MiB`,
  );
  console.log(JSON.stringify(samples));
}

await ensureControlPlaneAssets();
await using cluster = await StubCluster.start(COPIES);
// deploy/'s flags, the stub's kubeconfig (as scale.ts with SCALE_KUBECONFIG=1), the fake cloud.
const { args, env } = cluster.cloudArgs;
const profile = Deno.env.get("UI_CPU_PROF");
await using gamenet = await GamenetProcess.start(cluster.cp, {
  kubeconfig: cluster.kubeconfig,
  denoFlags: profile ? ["--cpu-prof", `--cpu-prof-dir=${profile}`] : [],
  args: ["--leader-elect=true", "--workers=8", "--log-level=info", ...args],
  env,
});
await waitReadyz(gamenet.httpPort, 300_000);
await waitQuiet(gamenet.pid);
log(`gamenet ready and quiet: ${cluster.gameServerKeys.length} game servers`);
if (MODE === "stream") {
  await stream(cluster, gamenet, Number(Deno.args[2] ?? 10), Number(Deno.args[3] ?? 200));
} else {
  await render(gamenet, Number(Deno.args[2] ?? 5));
}
