/**
 * The frame of every `/ui` page: head, inline stylesheet, header, and the
 * live script when the page has one. Nothing is loaded from elsewhere.
 *
 * @example
 * ```tsx
 * c.html(<Layout title="gamenet"><main>…</main></Layout>);
 * ```
 * @module
 */

import type { Child } from "hono/jsx";
import { raw } from "hono/html";
import { UI_STYLES } from "./styles.ts";

/** Properties of {@linkcode Layout}. */
export interface LayoutProps {
  title: string;
  /** Attributes of `<body>` the script reads (`data-stream`, …). */
  body?: Record<string, string>;
  /** Inline script source, a constant (never built from data). */
  script?: string;
  children?: Child;
}

/** See the module documentation. */
export function Layout(props: LayoutProps) {
  return (
    <>
      {raw("<!DOCTYPE html>")}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <meta name="referrer" content="no-referrer" />
          <title>{props.title}</title>
          <style>{raw(UI_STYLES)}</style>
        </head>
        <body {...props.body}>
          <a class="skip" href="#content">Skip to content</a>
          <header>
            <h1>
              <a href="/ui">gamenet</a>
            </h1>
            <p class="muted" data-testid="live-status" role="status" aria-live="polite">
              {props.script ? "Static until the live updates connect." : "Static page."}
            </p>
            <a href="/allocations?format=table">/allocations</a>
          </header>
          <main id="content">{props.children}</main>
          {props.script ? <script>{raw(props.script)}</script> : null}
        </body>
      </html>
    </>
  );
}
