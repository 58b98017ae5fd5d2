/**
 * The `/ui` overview as HTML: what needs attention, the counts, every pool
 * as a cell coloured by use, and a page of game servers with the filter
 * form. Complete without JavaScript; the live script (`live_script.ts`)
 * finds its elements by the `data-testid`, `data-id` and `data-f`
 * attributes written here, and builds attention items the same way.
 *
 * @example
 * ```tsx
 * c.html(<OverviewPage overview={buildOverview(view, query)} query={query} stream="/allocations/stream" />);
 * ```
 * @module
 */

import type { StreamPool, StreamRow } from "../allocations_feed.ts";
import { Layout } from "./layout.tsx";
import { LIVE_SCRIPT } from "./live_script.ts";
import {
  ATTENTION_LIMIT,
  ATTENTION_USE,
  type Overview,
  podHref,
  type PoolGroup,
  poolUse,
  portsText,
  rowState,
  useBand,
} from "./overview.ts";
import { overviewHref, type OverviewQuery, type Sort } from "./overview_query.ts";

/** Properties of {@linkcode OverviewPage}. */
export interface OverviewPageProps {
  overview: Overview;
  query: OverviewQuery;
  /** Where the live script subscribes; no script without it. */
  stream?: string;
  generatedAt: string;
}

/** The states offered by the state filter, besides those seen. */
const KNOWN_STATES = [
  "Ready",
  "NotReady",
  "Waiting",
  "admission",
  "unmanaged",
  "parked",
  "unknown",
];

/** See the module documentation. */
export function OverviewPage({ overview, query, stream, generatedAt }: OverviewPageProps) {
  const body: Record<string, string> = {
    "data-threshold": String(ATTENTION_USE),
    "data-limit": String(ATTENTION_LIMIT),
    "data-generated-at": generatedAt,
  };
  if (stream) body["data-stream"] = stream;
  return (
    <Layout title="gamenet" body={body} script={stream ? LIVE_SCRIPT : undefined}>
      <Attention overview={overview} query={query} />
      <Summary overview={overview} />
      <Pools overview={overview} query={query} />
      <Servers overview={overview} query={query} />
    </Layout>
  );
}

function Attention({ overview, query }: { overview: Overview; query: OverviewQuery }) {
  const a = overview.attention;
  const count = a.totals.servers + a.totals.pools + a.totals.admissions;
  return (
    <section id="attention" class="card" data-testid="attention" aria-labelledby="attention-h">
      <h2 id="attention-h">
        Needs attention (<span data-count="attention">{count + a.conflicts.length}</span>)
      </h2>
      <p data-testid="attention-none" hidden={count + a.conflicts.length > 0}>
        Nothing needs attention.
      </p>
      <ul data-testid="attention-list">
        {a.servers.map((r) => <ServerItem key={r.id} row={r} />)}
        {a.totals.servers > a.servers.length
          ? (
            <MoreItem
              n={a.totals.servers - a.servers.length}
              what="game servers NotReady or Waiting"
              href={overviewHref(query, { state: ["NotReady", "Waiting"], page: 1 })}
            />
          )
          : null}
        {a.pools.map((p) => <PoolItem key={p.id} pool={p} />)}
        {a.totals.pools > a.pools.length
          ? <MoreItem n={a.totals.pools - a.pools.length} what="full pools" />
          : null}
        {a.admissions.map((r) => <AdmissionItem key={r.id} row={r} />)}
        {a.totals.admissions > a.admissions.length
          ? (
            <MoreItem
              n={a.totals.admissions - a.admissions.length}
              what="admissions without a Pod"
              href={overviewHref(query, { state: ["admission"], page: 1 })}
            />
          )
          : null}
      </ul>
      {a.conflicts.length > 0
        ? (
          <>
            <h3>Restore conflicts (at this leader's start)</h3>
            <ul data-testid="restore-conflicts">
              {a.conflicts.map((c) => (
                <li data-testid="attention-item" data-kind="conflict">{c.message}</li>
              ))}
            </ul>
          </>
        )
        : null}
    </section>
  );
}

function ServerItem({ row }: { row: StreamRow }) {
  const name = `${row.namespace}/${row.pod}`;
  return (
    <li
      data-testid="attention-item"
      data-kind="server"
      data-id={row.id}
      data-pod={name}
      data-state={row.state}
    >
      <a href={podHref(row.namespace, row.pod)}>{name}</a>{" "}
      <State state={row.state ?? ""} row={row} />
    </li>
  );
}

function PoolItem({ pool }: { pool: StreamPool }) {
  return (
    <li data-testid="attention-item" data-kind="pool" data-id={pool.id}>
      <a href={poolHref(pool)}>{`${pool.kind} ${pool.key}`}</a> <span>{poolTitle(pool)}</span>{" "}
      <b>{pool.free === 0 ? "exhausted" : `${Math.floor(poolUse(pool) * 100)} % used`}</b>{" "}
      <span class="muted">{poolNumbers(pool)}</span>
    </li>
  );
}

function AdmissionItem({ row }: { row: StreamRow }) {
  return (
    <li data-testid="attention-item" data-kind="admission" data-id={row.id}>
      <span>{`${row.namespace}/${row.pod}`}</span>{" "}
      {`admitted, holds ${portsText(row.ports) || "no port"}${
        row.node ? ` on ${row.node}` : row.lb ? ` on ${row.lb}` : ""
      }; its Pod is not seen yet`}
    </li>
  );
}

function MoreItem({ n, what, href }: { n: number; what: string; href?: string }) {
  const text = `and ${n} more ${what}`;
  return <li data-kind="more">{href ? <a href={href}>{text}</a> : text}</li>;
}

function Summary({ overview }: { overview: Overview }) {
  const states = [...new Set(["Ready", "NotReady", "Waiting", ...Object.keys(overview.states)])];
  // Bands 3 and 4 are the pools at ATTENTION_USE or more.
  const full = overview.poolGroups.reduce((n, g) => n + g.summary.bands[3] + g.summary.bands[4], 0);
  return (
    <section class="card" data-testid="summary" aria-label="Counts">
      <dl class="summary">
        <div>
          <dt>Game servers</dt>
          <dd data-count="total">{overview.total}</dd>
        </div>
        {states.map((s) => (
          <div>
            <dt>{s}</dt>
            <dd data-count={`state:${s}`}>{overview.states[s] ?? 0}</dd>
          </div>
        ))}
        <div>
          <dt>Pools</dt>
          <dd data-count="pools">
            {overview.poolGroups.reduce((n, g) => n + g.summary.pools, 0)}
          </dd>
        </div>
        <div>
          <dt>Pools ≥ {Math.round(ATTENTION_USE * 100)} %</dt>
          <dd data-count="pools-full">{full}</dd>
        </div>
      </dl>
    </section>
  );
}

function Pools({ overview, query }: { overview: Overview; query: OverviewQuery }) {
  return (
    <section id="pools" data-testid="pools" aria-labelledby="pools-h">
      <h2 id="pools-h">Pools</h2>
      {overview.poolGroups.length === 0
        ? <p class="muted">No pools: no network type of this gamenet allocates ports.</p>
        : (
          <p class="muted">
            A cell is a node's range or a load balancer's protocol: its use in colour and as a bar,
            then <i>used / free / delayed</i> ports; the fullest come first.
          </p>
        )}
      {overview.poolGroups.map((g) => <Group key={g.title} group={g} query={query} />)}
    </section>
  );
}

/** The bands from fullest to emptiest, as a group's header counts them. */
const BANDS = [
  { band: 4, text: "exhausted" },
  { band: 3, text: `≥ ${Math.round(ATTENTION_USE * 100)} %` },
  { band: 2, text: `75-${Math.round(ATTENTION_USE * 100)} %` },
  { band: 1, text: "50-75 %" },
  { band: 0, text: "< 50 %" },
] as const;

function Group({ group: g, query }: { group: PoolGroup; query: OverviewQuery }) {
  const s = g.summary;
  const hidden = s.pools - g.pools.length;
  return (
    <section class="group" data-testid="pool-group" data-group={g.title}>
      <h3>{g.title}</h3>
      <p class="gsum" data-testid="pool-group-summary">
        <b data-g="pools">{s.pools}</b> pools: <b data-g="used">{s.used}</b> used ·{" "}
        <b data-g="free">{s.free}</b> free · <b data-g="delayed">{s.delayed}</b> delayed ·{" "}
        {BANDS.map(({ band, text }) => (
          <span class={`band u${band}`}>
            <b data-g={`b${band}`}>{s.bands[band]}</b> {text}
          </span>
        ))}
      </p>
      <ul class="cells">{g.pools.map((p) => <PoolCell key={p.id} pool={p} />)}</ul>
      {g.whole
        ? <GroupPager group={g} query={query} />
        : hidden > 0
        ? (
          <p data-testid="pool-group-more">
            {`The ${g.pools.length} fullest of ${s.pools} shown. `}
            <a href={`${overviewHref(query, { pools: g.title, poolsPage: 1 })}#pools`}>
              {`All ${s.pools} pools of ${g.title}`}
            </a>
          </p>
        )
        : null}
    </section>
  );
}

/** A group shown whole: its pages, and the way back to the fullest alone. */
function GroupPager({ group: g, query }: { group: PoolGroup; query: OverviewQuery }) {
  const link = (p: number, text: string, rel?: string) => (
    <a
      data-testid="pools-page-link"
      href={`${overviewHref(query, { poolsPage: p })}#pools`}
      rel={rel}
      aria-current={p === g.page && !rel ? "page" : undefined}
    >
      {text}
    </a>
  );
  const numbers = new Set<number>([1, g.pages]);
  for (let p = Math.max(1, g.page - 3); p <= Math.min(g.pages, g.page + 3); p++) numbers.add(p);
  const pages = [...numbers].sort((a, b) => a - b);
  return (
    <nav class="pager" data-testid="pools-pager" aria-label={`Pages of ${g.title}`}>
      <span>
        {g.pages > 1
          ? `All ${g.summary.pools} pools, page ${g.page} of ${g.pages}:`
          : `All ${g.summary.pools} pools shown.`}
      </span>
      {g.pages > 1 && g.page > 1 ? link(g.page - 1, "← Previous", "prev") : null}
      {g.pages > 1 ? pages.map((p) => link(p, String(p))) : null}
      {g.page < g.pages ? link(g.page + 1, "Next →", "next") : null}
      <a href={`${overviewHref(query, { pools: undefined, poolsPage: 1 })}#pools`}>
        Only the fullest
      </a>
    </nav>
  );
}

/**
 * One pool in few bytes (a page may hold hundreds): the band's colour, the
 * use as a bar drawn from `--w`, the key as a link whose title says the
 * numbers in words for a pointer and a screen reader, and the numbers
 * compact for the eye.
 */
function PoolCell({ pool }: { pool: StreamPool }) {
  return (
    <li
      class={`c u${useBand(pool)}`}
      style={`--w:${Math.round(poolUse(pool) * 100)}%`}
      data-testid="pool-cell"
      data-pool-id={pool.id}
    >
      <a href={poolHref(pool)} title={poolNumbers(pool)}>{pool.key}</a>{" "}
      <small aria-hidden="true">{`${pool.used}/${pool.free}/${pool.delayed}`}</small>
    </li>
  );
}

function poolTitle(pool: StreamPool): string {
  return `${pool.type ?? ""} ${pool.range}${pool.protocol ? `/${pool.protocol}` : ""}`.trim();
}

function poolNumbers(pool: StreamPool): string {
  return `${pool.used} used, ${pool.free} free, ${pool.delayed} delayed`;
}

function poolHref(pool: StreamPool): string {
  return `/ui?${pool.kind === "node" ? "node" : "lb"}=${encodeURIComponent(pool.key)}`;
}

const COLUMNS: { title: string; sort?: Sort }[] = [
  { title: "Namespace" },
  { title: "Pod", sort: "name" },
  { title: "Type", sort: "type" },
  { title: "Node / LB", sort: "node" },
  { title: "Address", sort: "address" },
  { title: "Ports" },
  { title: "State", sort: "state" },
];

function Servers({ overview, query }: { overview: Overview; query: OverviewQuery }) {
  const states = [...new Set([...KNOWN_STATES, ...Object.keys(overview.states)])];
  const f = query.filters;
  return (
    <section id="servers" data-testid="servers" aria-labelledby="servers-h">
      <h2 id="servers-h">Game servers</h2>
      <form class="filters" method="get" action="/ui" data-testid="filter-form">
        <TextFilter name="namespace" label="Namespace" value={f.namespace} />
        <TextFilter name="pod" label="Pod" value={f.pod} />
        <TextFilter name="node" label="Node" value={f.node} />
        <TextFilter name="lb" label="Load balancer" value={f.lb} />
        <SelectFilter name="type" label="Type" options={overview.types} value={f.type} />
        <SelectFilter name="state" label="State" options={states} value={query.state} />
        <label>
          Sort by
          <select name="sort">
            {COLUMNS.filter((c) => c.sort).map((c) => (
              <option value={c.sort} selected={query.sort === c.sort}>{c.title}</option>
            ))}
          </select>
        </label>
        {query.pools ? <input type="hidden" name="pools" value={query.pools} /> : null}
        <button type="submit">Apply</button>
        <a href="/ui">Clear</a>
      </form>
      <p data-testid="matching">
        {`${overview.matching} of ${overview.total} game servers`}
        {overview.pages > 1 ? ` · page ${overview.page} of ${overview.pages}` : ""}
      </p>
      <p data-testid="live-notice" hidden></p>
      <table>
        <thead>
          <tr>
            {COLUMNS.map((c) => (
              <th scope="col" aria-sort={c.sort && c.sort === query.sort ? "ascending" : undefined}>
                {c.sort
                  ? <a href={overviewHref(query, { sort: c.sort, page: 1 })}>{c.title}</a>
                  : c.title}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {overview.rows.map((r) => <ServerRow key={r.id} row={r} />)}
        </tbody>
      </table>
      {overview.rows.length === 0 ? <p>No game server matches.</p> : null}
      <Pager overview={overview} query={query} />
    </section>
  );
}

function TextFilter(props: { name: string; label: string; value?: string[] }) {
  return (
    <label>
      {props.label}
      <input type="text" name={props.name} value={props.value?.[0] ?? ""} />
    </label>
  );
}

function SelectFilter(props: { name: string; label: string; options: string[]; value?: string[] }) {
  const options = [...new Set([...props.options, ...(props.value ?? [])])];
  return (
    <label>
      {props.label}
      <select name={props.name}>
        <option value="">any</option>
        {options.map((o) => <Choice key={o} value={o} selected={props.value?.includes(o)} />)}
      </select>
    </label>
  );
}

/** An option of a filter (its own component: a key on an `<option>` would be rendered). */
function Choice(props: { value: string; selected?: boolean }) {
  return <option value={props.value} selected={props.selected}>{props.value}</option>;
}

function ServerRow({ row }: { row: StreamRow }) {
  const state = rowState(row);
  return (
    <tr
      data-testid="server-row"
      data-id={row.id}
      data-pod={`${row.namespace}/${row.pod}`}
      data-state={state}
    >
      <td>{row.namespace}</td>
      <td>{row.pod ? <a href={podHref(row.namespace, row.pod)}>{row.pod}</a> : "(none)"}</td>
      <td>{row.type}</td>
      <td data-f="where">{row.node ?? row.lb ?? ""}</td>
      <td data-f="address">{row.address ?? ""}</td>
      <td data-f="ports">{portsText(row.ports)}</td>
      <td data-f="state">
        <State state={state} row={row} />
      </td>
    </tr>
  );
}

/** A state and, when gamenet warned about the row, why: the reason in bold, then the message. */
function State({ state, row }: { state: string; row: StreamRow }) {
  return (
    <>
      <span class={`state s-${state}`}>{state}</span>
      {row.reason
        ? (
          <>
            {" "}
            <span class="why">
              <b>{row.reason}</b> {row.message}
            </span>
          </>
        )
        : null}
    </>
  );
}

/** First, previous, a window of pages around this one, next, last. */
function Pager({ overview, query }: { overview: Overview; query: OverviewQuery }) {
  if (overview.pages <= 1) return null;
  const { page, pages } = overview;
  const numbers = new Set<number>([1, pages]);
  for (let p = Math.max(1, page - 3); p <= Math.min(pages, page + 3); p++) numbers.add(p);
  const link = (p: number, text: string, rel?: string) => (
    <a
      data-testid="page-link"
      href={overviewHref(query, { page: p })}
      rel={rel}
      aria-current={p === page && !rel ? "page" : undefined}
    >
      {text}
    </a>
  );
  return (
    <nav class="pager" data-testid="pager" aria-label="Pages">
      {page > 1 ? link(page - 1, "← Previous", "prev") : null}
      {[...numbers].sort((a, b) => a - b).map((p) => link(p, String(p)))}
      {page < pages ? link(page + 1, "Next →", "next") : null}
    </nav>
  );
}
