/**
 * The `/ui` pages' stylesheet, inlined in every page: nothing is fetched,
 * so the binary alone serves the page. Colours of a pool's use go from
 * `u0` (under 50 %) to `u4` (exhausted); the text always says the numbers,
 * so colour is never the only signal.
 *
 * @example
 * ```tsx
 * <style>{raw(UI_STYLES)}</style>
 * ```
 * @module
 */

/** See the module documentation. */
export const UI_STYLES = `
:root { color-scheme: light dark; --fg: #1d2330; --muted: #5b6475; --bg: #fbfbfd; --card: #fff;
  --line: #d9dce3; --link: #0b57d0; --focus: #f59e0b;
  --u0: #2e7d32; --u1: #7cb342; --u2: #f9a825; --u3: #ef6c00; --u4: #c62828; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6e8ee; --muted: #a3abbc; --bg: #12151b; --card: #1b1f27; --line: #2f3542;
    --link: #8ab4f8; }
}
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--link); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible {
  outline: 3px solid var(--focus); outline-offset: 2px; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 8px; top: 8px; background: var(--card); padding: 4px 8px; z-index: 1; }
header { display: flex; gap: 16px; align-items: baseline; flex-wrap: wrap; padding: 12px 20px;
  border-bottom: 1px solid var(--line); background: var(--card); }
header h1 { margin: 0; font-size: 20px; }
main { padding: 12px 20px 40px; display: grid; gap: 20px; }
section > h2 { font-size: 17px; margin: 0 0 8px; }
.muted { color: var(--muted); }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 12px 16px; }
#attention ul { margin: 0; padding-left: 20px; }
#attention li { margin: 2px 0; }
.why b { font-weight: 600; }
.summary { display: flex; flex-wrap: wrap; gap: 8px 24px; margin: 0; }
.summary div { display: flex; gap: 6px; }
.summary dt { color: var(--muted); }
.summary dd { margin: 0; font-weight: 600; }
.group h3 { font-size: 14px; margin: 12px 0 6px; }
.gsum { margin: 0 0 6px; }
.band { white-space: nowrap; margin-right: 8px; }
.band::before { content: ""; display: inline-block; width: 10px; height: 10px; margin-right: 3px;
  border-radius: 2px; background: var(--b); vertical-align: -1px; }
.cells { list-style: none; margin: 0; padding: 0; display: grid; gap: 6px;
  grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); }
/* A pool cell: the band's colour on the left and as a bar of --w (its use) along the bottom. */
.c { border: 1px solid var(--line); border-left: 6px solid var(--b); border-radius: 4px;
  padding: 3px 6px 6px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap;
  background: linear-gradient(var(--b), var(--b)) no-repeat left bottom / var(--w, 0) 4px, var(--card); }
.c small { font-size: 12px; color: var(--muted); }
.u0 { --b: var(--u0); } .u1 { --b: var(--u1); } .u2 { --b: var(--u2); } .u3 { --b: var(--u3); }
.u4 { --b: var(--u4); }
.gone { opacity: .5; text-decoration: line-through; }
form.filters { display: flex; flex-wrap: wrap; gap: 8px 12px; align-items: end; margin-bottom: 10px; }
form.filters label { display: grid; gap: 2px; font-size: 12px; color: var(--muted); }
input, select, button { font: inherit; padding: 3px 6px; }
table { border-collapse: collapse; width: 100%; background: var(--card); }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; white-space: nowrap; }
.state { font-weight: 600; }
.s-Ready { color: var(--u0); } .s-NotReady { color: var(--u4); } .s-Waiting { color: var(--u3); }
.pager { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 10px; }
.pager [aria-current] { font-weight: 700; text-decoration: none; color: var(--fg); }
pre { background: var(--card); border: 1px solid var(--line); padding: 8px; overflow: auto;
  white-space: pre-wrap; word-break: break-word; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
`;
