/**
 * `/ui/pods/:namespace/:name`: one game server, as gamenet sees it: its
 * network type, its `network-conf` as given, its `network-status` as
 * gamenet wrote it, the ports it holds per pool (from the allocators, as
 * `/allocations`), and the Events gamenet recorded about it lately. No
 * other annotation, label or field of the Pod is shown.
 *
 * @example
 * ```tsx
 * c.html(<PodPage namespace="games" name="gs-0" pod={pod} rows={rows} events={events} />);
 * ```
 * @module
 */

import type { RecentEvent } from "../../controller/recent_events.ts";
import {
  NETWORK_CONF_ANNOTATION,
  NETWORK_STATUS_ANNOTATION,
  NETWORK_TYPE_ANNOTATION,
  type Pod,
} from "../../providers/types.ts";
import type { AllocationView } from "../../providers/view.ts";
import { Layout } from "./layout.tsx";
import { rowState } from "./overview.ts";

/** Properties of {@linkcode PodPage}. */
export interface PodPageProps {
  namespace: string;
  name: string;
  /** The cached Pod; absent for an admission whose Pod is not seen yet. */
  pod?: Pod;
  /** Its rows of the allocations view. */
  rows: readonly AllocationView[];
  events: readonly RecentEvent[];
}

/** See the module documentation. */
export function PodPage({ namespace, name, pod, rows, events }: PodPageProps) {
  const annotations = pod?.metadata.annotations ?? {};
  const status = annotations[NETWORK_STATUS_ANNOTATION];
  return (
    <Layout title={`${namespace}/${name} · gamenet`}>
      <section class="card" data-testid="pod-detail" aria-labelledby="pod-h">
        <p>
          <a href="/ui">← All game servers</a>
        </p>
        <h2 id="pod-h">{`${namespace}/${name}`}</h2>
        <dl class="facts">
          <dt>Network type</dt>
          <dd data-testid="network-type">
            {annotations[NETWORK_TYPE_ANNOTATION] ?? rows[0]?.type ?? ""}
          </dd>
          <dt>State</dt>
          <dd data-testid="pod-state">{rows[0] ? rowState(rows[0]) : "not allocated"}</dd>
          <dt>Node</dt>
          <dd>{pod?.spec?.nodeName ?? rows.find((r) => r.node)?.node ?? ""}</dd>
          <dt>Address</dt>
          <dd>{rows.find((r) => r.address)?.address ?? ""}</dd>
          {pod ? null : (
            <>
              <dt>Pod</dt>
              <dd>not in gamenet's cache (admitted, not seen yet; or gone)</dd>
            </>
          )}
        </dl>
      </section>
      <section aria-labelledby="ports-h">
        <h2 id="ports-h">Ports per pool</h2>
        <table data-testid="pod-ports">
          <thead>
            <tr>
              <th scope="col">Pool</th>
              <th scope="col">Port</th>
              <th scope="col">Protocol</th>
              <th scope="col">Name</th>
              <th scope="col">Container port</th>
              <th scope="col">Held as</th>
            </tr>
          </thead>
          <tbody>
            {rows.flatMap((r) =>
              r.ports.map((p) => (
                <tr data-testid="port-row">
                  <td>{r.node ? `node ${r.node}` : r.lb ? `LB ${r.lb}` : r.type}</td>
                  <td>{p.port}</td>
                  <td>{p.protocol}</td>
                  <td>{p.name ?? ""}</td>
                  <td>{p.containerPort ?? ""}</td>
                  <td>{r.holding ?? "its Pod"}</td>
                </tr>
              ))
            )}
          </tbody>
        </table>
        {rows.every((r) => r.ports.length === 0) ? <p>No port held.</p> : null}
      </section>
      <section aria-labelledby="conf-h">
        <h2 id="conf-h">
          Network conf <code>{NETWORK_CONF_ANNOTATION}</code>, as given
        </h2>
        <pre data-testid="network-conf">{annotations[NETWORK_CONF_ANNOTATION] ?? "(none)"}</pre>
      </section>
      <section aria-labelledby="status-h">
        <h2 id="status-h">
          Network status <code>{NETWORK_STATUS_ANNOTATION}</code>, as gamenet wrote it
        </h2>
        <pre data-testid="network-status">{status ? pretty(status) : "(none yet)"}</pre>
      </section>
      <section aria-labelledby="events-h">
        <h2 id="events-h">Recent Events</h2>
        <table data-testid="pod-events">
          <thead>
            <tr>
              <th scope="col">Last seen</th>
              <th scope="col">Type</th>
              <th scope="col">Reason</th>
              <th scope="col">Message</th>
              <th scope="col">Count</th>
            </tr>
          </thead>
          <tbody>
            {[...events].reverse().map((e) => (
              <tr data-testid="event-row" data-type={e.type} data-reason={e.reason}>
                <td>{e.lastTimestamp}</td>
                <td>{e.type}</td>
                <td>{e.reason}</td>
                <td>{e.message}</td>
                <td>{e.count}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {events.length === 0 ? <p>gamenet recorded no Event about it lately.</p> : null}
      </section>
    </Layout>
  );
}

/** Indented when it parses; as written otherwise (it is shown, not trusted). */
function pretty(json: string): string {
  try {
    return JSON.stringify(JSON.parse(json), null, 2);
  } catch {
    return json;
  }
}
