import assert from "node:assert/strict";
import { join } from "node:path";
import { REPO_ROOT } from "./controlplane/assets.ts";
import { metricNames, unknownMetrics } from "./promql_names.ts";
import {
  annotationProblems,
  dashboardExpressions,
  dashboardPanels,
  exportedMetricNames,
  readDashboard,
  readRule,
  ruleExpressions,
  ruleList,
} from "./monitoring.ts";

const readme = () => Deno.readTextFile(join(REPO_ROOT, "README.md"));

Deno.test("exportedMetricNames() has gamenet's metrics as Prometheus sees them", async () => {
  const known = await exportedMetricNames();
  for (
    const name of [
      "gamenet_leader",
      "gamenet_pool_used_ports",
      "gamenet_errors_total",
      "gamenet_webhook_duration_seconds_bucket",
      "gamenet_webhook_duration_seconds_count",
      "gamenet_cloud_request_duration_seconds_sum",
      "process_cpu_seconds_total",
    ]
  ) {
    assert.ok(known.has(name), name);
  }
  assert.ok(!known.has("gamenet_webhook_duration_seconds"), "a histogram's own name is no series");
});

Deno.test("the dashboard's PromQL names only metrics gamenet exports", async () => {
  const exprs = dashboardExpressions(await readDashboard());
  assert.ok(exprs.length >= 20, `${exprs.length} expressions`);
  assert.deepEqual(unknownMetrics(exprs, await exportedMetricNames()), []);
});

Deno.test("the alert rules' PromQL names only metrics gamenet exports", async () => {
  const exprs = ruleExpressions(await readRule());
  assert.ok(exprs.length >= 8, `${exprs.length} expressions`);
  assert.deepEqual(unknownMetrics(exprs, await exportedMetricNames()), []);
});

Deno.test("the check fails on a metric gamenet does not export", async () => {
  const dashboard = await readDashboard();
  const panel = dashboardPanels(dashboard).find((p) => p.targets?.length)!;
  panel.targets[0].expr = "sum(gamenet_pool_free_port)";
  assert.deepEqual(unknownMetrics(dashboardExpressions(dashboard), await exportedMetricNames()), [
    "gamenet_pool_free_port in: sum(gamenet_pool_free_port)",
  ]);
});

Deno.test("the dashboard picks its Prometheus data source and draws every part of gamenet", async () => {
  const dashboard = await readDashboard();
  assert.ok(dashboard.schemaVersion >= 39);
  const variables = dashboard.templating.list;
  assert.ok(
    variables.some((v: { name: string; type: string; query: string }) =>
      v.name === "datasource" && v.type === "datasource" && v.query === "prometheus"
    ),
  );
  const panels = dashboardPanels(dashboard).filter((p) => p.type !== "row");
  for (const p of panels) {
    assert.equal(p.datasource?.uid, "${datasource}", `${p.title}: data source`);
    assert.ok(p.targets?.length > 0, `${p.title}: no query`);
  }
  assert.equal(new Set(panels.map((p) => p.id)).size, panels.length, "panel ids are unique");
  const read = new Set(dashboardExpressions(dashboard).flatMap(metricNames));
  for (
    const name of [
      "gamenet_pool_used_ports",
      "gamenet_pool_free_ports",
      "gamenet_webhook_duration_seconds_count",
      "gamenet_webhook_duration_seconds_bucket",
      "gamenet_reconcile_duration_seconds_count",
      "gamenet_reconcile_duration_seconds_bucket",
      "gamenet_game_servers",
      "gamenet_cloud_requests_total",
      "gamenet_watch_restarts_total",
      "gamenet_leader",
    ]
  ) {
    assert.ok(read.has(name), `no panel reads ${name}`);
  }
});

Deno.test("every alert has a summary, a description and a runbook in README.md", async () => {
  const rule = await readRule();
  assert.equal(rule.apiVersion, "monitoring.coreos.com/v1");
  assert.equal(rule.kind, "PrometheusRule");
  const alerts = ruleList(rule).map((r) => r.alert);
  for (
    const alert of [
      "GamenetHostPortRangeNearlyFull",
      "GamenetLoadBalancerNearlyFull",
      "GamenetPortsExhausted",
      "GamenetGameServersNotReady",
      "GamenetNoLeader",
      "GamenetAdmissionErrors",
      "GamenetCloudThrottled",
    ]
  ) {
    assert.ok(alerts.includes(alert), alert);
  }
  assert.match(
    ruleList(rule).find((r) => r.alert === "GamenetGameServersNotReady")?.for,
    /^\d+m$/,
  );
  assert.deepEqual(annotationProblems(rule, await readme()), []);
});

Deno.test("annotationProblems() names a missing annotation and a runbook README lacks", () => {
  const rule = {
    spec: {
      groups: [{
        rules: [{
          alert: "A",
          annotations: {
            summary: "s",
            runbook_url: "https://github.com/gamenet/gamenet/blob/main/README.md#nowhere",
          },
        }],
      }],
    },
  };
  assert.deepEqual(annotationProblems(rule, "## Somewhere\n"), [
    "A: no description",
    "A: runbook_url https://github.com/gamenet/gamenet/blob/main/README.md#nowhere " +
    "is not a heading of https://github.com/gamenet/gamenet/blob/main/README.md",
  ]);
});
