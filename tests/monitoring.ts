/**
 * What gamenet ships for monitoring, read for tests: the Grafana
 * dashboard's and the alert rules' PromQL, and the metric names a real
 * `/metrics` registry exports, as Prometheus sees them (a histogram as its
 * `_bucket`, `_sum` and `_count` series).
 *
 * @example
 * ```ts
 * const known = await exportedMetricNames();
 * unknownMetrics(dashboardExpressions(await readDashboard()), known); // []
 * ```
 * @module
 */

import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { REPO_ROOT } from "./controlplane/assets.ts";
import { createMetrics } from "../api/metrics.ts";

/** The chart's files: the one copy of the dashboard and the rules. */
export const MONITORING_FILES = join(REPO_ROOT, "deploy", "helm", "gamenet", "files");
/** The Grafana dashboard. */
export const DASHBOARD_FILE = join(MONITORING_FILES, "gamenet-dashboard.json");
/** The PrometheusRule. */
export const RULE_FILE = join(MONITORING_FILES, "prometheus-rule.yaml");
/** Where the shipped runbook URLs point; the chart may point them elsewhere. */
export const RUNBOOK_BASE_URL = "https://github.com/gamenet/gamenet/blob/main/README.md";

// deno-lint-ignore no-explicit-any
export type Json = Record<string, any>;

/** Every series name gamenet's `/metrics` can answer, from a real registry. */
export async function exportedMetricNames(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const m of await createMetrics().registry.getMetricsAsJSON()) {
    // prom-client's typings say an enum; the value is its text.
    const type = String(m.type);
    const suffixes = type === "histogram"
      ? ["_bucket", "_sum", "_count"]
      : type === "summary"
      ? ["", "_sum", "_count"]
      : [""];
    for (const s of suffixes) names.add(`${m.name}${s}`);
  }
  return names;
}

/** The panels of a dashboard, those inside rows included. */
export function dashboardPanels(dashboard: Json): Json[] {
  return (dashboard.panels ?? []).flatMap((p: Json) => [p, ...dashboardPanels(p)]);
}

/** Every `targets[].expr` of a dashboard, and its template variables' queries. */
export function dashboardExpressions(dashboard: Json): string[] {
  const exprs: string[] = dashboardPanels(dashboard).flatMap((p) =>
    (p.targets ?? []).map((t: Json) => t.expr)
  );
  for (const v of dashboard.templating?.list ?? []) {
    if (v.type !== "query") continue;
    const query: string = typeof v.query === "string" ? v.query : v.query.query;
    // label_values(metric, label): the metric is what must exist.
    exprs.push(query.replace(/^label_values\((.*),\s*\w+\)$/, "$1"));
  }
  return exprs;
}

/** The alerting and recording rules of a PrometheusRule. */
export function ruleList(rule: Json): Json[] {
  return rule.spec.groups.flatMap((g: Json) => g.rules);
}

/** Every `expr` of a PrometheusRule. */
export function ruleExpressions(rule: Json): string[] {
  return ruleList(rule).map((r) => String(r.expr));
}

/** The dashboard as shipped. */
export async function readDashboard(): Promise<Json> {
  return JSON.parse(await Deno.readTextFile(DASHBOARD_FILE));
}

/** The PrometheusRule as shipped. */
export async function readRule(): Promise<Json> {
  return parseYaml(await Deno.readTextFile(RULE_FILE));
}

/** GitHub's anchor of a Markdown heading. */
export function headingAnchor(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\w\- ]/g, "").replace(/ /g, "-");
}

/**
 * What is wrong with the alerts' annotations: each needs a `summary`, a
 * `description` and a `runbook_url` to an anchor of README.md.
 */
export function annotationProblems(rule: Json, readme: string, base = RUNBOOK_BASE_URL): string[] {
  const anchors = new Set(
    [...readme.matchAll(/^#{1,6} (.*)$/gm)].map((m) => headingAnchor(m[1])),
  );
  const problems: string[] = [];
  for (const r of ruleList(rule)) {
    if (!r.alert) continue;
    const a = r.annotations ?? {};
    for (const key of ["summary", "description", "runbook_url"]) {
      if (!String(a[key] ?? "").trim()) problems.push(`${r.alert}: no ${key}`);
    }
    const url = String(a.runbook_url ?? "");
    const anchor = url.startsWith(`${base}#`) ? url.slice(base.length + 1) : undefined;
    if (url && (!anchor || !anchors.has(anchor))) {
      problems.push(`${r.alert}: runbook_url ${url} is not a heading of ${base}`);
    }
  }
  return problems;
}
