/**
 * The dashboard and the alerts as the chart renders them (`helm template`,
 * no cluster): the same files, and PromQL that names only metrics gamenet
 * exports.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ensureHelm, type Obj, renderChart } from "./manifests.ts";
import { unknownMetrics } from "../promql_names.ts";
import {
  DASHBOARD_FILE,
  dashboardExpressions,
  exportedMetricNames,
  readRule,
  ruleExpressions,
  RUNBOOK_BASE_URL,
} from "../monitoring.ts";

const WITH_OPERATOR = ["--api-versions", "monitoring.coreos.com/v1/PrometheusRule"];

const find = (objects: Obj[], kind: string) => objects.filter((o) => o.kind === kind);

Deno.test("helm template renders the dashboard ConfigMap and the PrometheusRule from the chart's files", async (t) => {
  const helm = await ensureHelm();
  const known = await exportedMetricNames();

  await t.step(
    "where the Prometheus Operator is served, both, naming only exported metrics",
    async () => {
      const objects = await renderChart(helm, WITH_OPERATOR);
      const [dashboard] = find(objects, "ConfigMap").filter((o) =>
        o.metadata.name === "gamenet-dashboard"
      );
      assert.ok(dashboard, "no dashboard ConfigMap");
      assert.equal(dashboard.metadata.labels.grafana_dashboard, "1");
      const json = dashboard.data["gamenet-dashboard.json"];
      assert.equal(json, await Deno.readTextFile(DASHBOARD_FILE));
      assert.deepEqual(unknownMetrics(dashboardExpressions(JSON.parse(json)), known), []);

      const [rule] = find(objects, "PrometheusRule");
      assert.ok(rule, "no PrometheusRule");
      assert.equal(rule.metadata.namespace, "gamenet-system");
      assert.deepEqual(rule.spec, (await readRule()).spec);
      assert.deepEqual(unknownMetrics(ruleExpressions(rule), known), []);
    },
  );

  await t.step("without the Prometheus Operator, no PrometheusRule unless asked for", async () => {
    assert.deepEqual(find(await renderChart(helm), "PrometheusRule"), []);
    const forced = await renderChart(helm, ["--set", "prometheusRule.enabled=true"]);
    assert.equal(find(forced, "PrometheusRule").length, 1);
    const off = await renderChart(helm, [
      ...WITH_OPERATOR,
      "--set",
      "prometheusRule.enabled=false",
    ]);
    assert.deepEqual(find(off, "PrometheusRule"), []);
  });

  await t.step(
    "values: the rule's labels and runbook base, the dashboard off or elsewhere",
    async () => {
      const objects = await renderChart(helm, [
        ...WITH_OPERATOR,
        "--set",
        "prometheusRule.labels.release=kube-prometheus-stack",
        "--set",
        "prometheusRule.runbookBaseUrl=https://wiki.example/gamenet",
        "--set",
        "grafana.dashboard.namespace=monitoring",
      ]);
      const [rule] = find(objects, "PrometheusRule");
      assert.equal(rule.metadata.labels.release, "kube-prometheus-stack");
      for (const r of rule.spec.groups.flatMap((g: Obj) => g.rules)) {
        assert.match(r.annotations.runbook_url, /^https:\/\/wiki\.example\/gamenet#gamenet/);
        assert.ok(!r.annotations.runbook_url.startsWith(RUNBOOK_BASE_URL));
      }
      const dashboard = find(objects, "ConfigMap").find((o) =>
        o.metadata.name === "gamenet-dashboard"
      );
      assert.equal(dashboard?.metadata.namespace, "monitoring");
      const off = await renderChart(helm, ["--set", "grafana.dashboard.enabled=false"]);
      assert.ok(!find(off, "ConfigMap").some((o) => o.metadata.name === "gamenet-dashboard"));
    },
  );
});
