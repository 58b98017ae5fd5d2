/**
 * A real browser for the page's tests and benchmarks: Debian's `chromium`,
 * headless, driven over the DevTools protocol by `puppeteer-core` (which
 * downloads nothing). A missing browser fails the test with how to get
 * one; it does not skip, as the real node's tests do not.
 *
 * Screenshots go to `GAMENET_SCREENSHOTS` (default `.cache/screenshots`
 * in the repository), one file per name, overwritten by the next run.
 *
 * @example
 * ```ts
 * await using browser = await Browser.launch();
 * const page = await browser.open("http://127.0.0.1:8082/ui");
 * await browser.screenshot(page, "ui-overview");
 * ```
 * @module
 */

import puppeteer, { type Browser as Chromium, type Page } from "puppeteer-core";
import { join } from "node:path";
import { REPO_ROOT } from "../controlplane/assets.ts";

export type { Page } from "puppeteer-core";

/** Where Debian and most distributions put it, in the order tried. */
const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];

/** The browser's executable: `CHROMIUM_PATH`, or the first of {@linkcode CANDIDATES} present. */
export function findChromium(env = Deno.env.toObject()): string | undefined {
  const candidates = env.CHROMIUM_PATH ? [env.CHROMIUM_PATH] : CANDIDATES;
  return candidates.find((path) => {
    try {
      return Deno.statSync(path).isFile;
    } catch {
      return false;
    }
  });
}

/** A headless Chromium: see the module documentation. */
export class Browser implements AsyncDisposable {
  readonly #chromium: Chromium;
  /** Where {@linkcode screenshot} writes. */
  readonly screenshots: string;

  private constructor(chromium: Chromium, screenshots: string) {
    this.#chromium = chromium;
    this.screenshots = screenshots;
  }

  /** Starts the browser (about a second). */
  static async launch(): Promise<Browser> {
    const executablePath = findChromium();
    if (!executablePath) {
      throw new Error(
        "No Chromium found (set CHROMIUM_PATH, or `apt-get install chromium`): " +
          "the page's tests run in a real browser",
      );
    }
    const chromium = await puppeteer.launch({
      executablePath,
      headless: true,
      // As root in a container: no sandbox; a small /dev/shm: no shared memory.
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });
    const screenshots = Deno.env.get("GAMENET_SCREENSHOTS") ??
      join(REPO_ROOT, ".cache", "screenshots");
    await Deno.mkdir(screenshots, { recursive: true });
    return new Browser(chromium, screenshots);
  }

  /** A new tab at `url`, with a desktop-sized viewport, once the document has loaded. */
  async open(url: string, viewport = { width: 1400, height: 900 }): Promise<Page> {
    const page = await this.#chromium.newPage();
    await page.setViewport(viewport);
    await page.goto(url, { waitUntil: "domcontentloaded" });
    return page;
  }

  /** Saves the page as `<name>.png` in {@linkcode screenshots}; returns the path. */
  async screenshot(page: Page, name: string): Promise<string> {
    const path = join(this.screenshots, `${name}.png`);
    await page.screenshot({ path: path as `${string}.png`, fullPage: true });
    return path;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#chromium.close();
  }
}
