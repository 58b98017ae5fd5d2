/**
 * The metric names a PromQL expression reads, for checking dashboards and
 * alert rules against what `/metrics` exports. Not a parser: it removes
 * what cannot be a metric name (string literals, Grafana variables, label
 * matchers, ranges and durations, grouping label lists, numbers) and keeps
 * the identifiers that are neither functions nor keywords.
 *
 * @example
 * ```ts
 * metricNames('sum by (le) (rate(gamenet_webhook_duration_seconds_bucket{job=~"$job"}[5m]))');
 * // ["gamenet_webhook_duration_seconds_bucket"]
 * ```
 * @module
 */

/** Words of PromQL that are not metric names where they stand (operators, modifiers, literals). */
const KEYWORDS = new Set([
  "and",
  "or",
  "unless",
  "atan2",
  "bool",
  "offset",
  "inf",
  "nan",
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
]);

/** Keywords followed by a parenthesised list of label names. */
const LABEL_LISTS = /\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)/g;

/**
 * The metric names `expr` reads, each once, in order of first use.
 *
 * @example
 * ```ts
 * metricNames("max(gamenet_leader) or vector(0)"); // ["gamenet_leader"]
 * ```
 */
export function metricNames(expr: string): string[] {
  const text = expr
    // Strings first: they may hold anything, braces and names included.
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    // Grafana's variables: $job, ${job}, ${job:regex}, [[job]].
    .replace(/\$\{[^}]*\}|\$\w+|\[\[\w+\]\]/g, " ")
    .replace(/#[^\n]*/g, " ")
    .replace(/\{[^}]*\}/g, " ")
    // Ranges and subqueries: [5m], [1h:30s], [ ].
    .replace(/\[[^\]]*\]/g, " ")
    .replace(LABEL_LISTS, " ")
    .replace(/@\s*(?:start|end)\s*\(\s*\)/g, " ")
    // Numbers and durations: 0.9, 1e3, 0x1f, 5m, 1h30m.
    .replace(
      /(?<![\w:])(?:0x[0-9a-f]+|\d+(?:\.\d*)?(?:e[+-]?\d+)?|\.\d+(?:e[+-]?\d+)?)[a-z]*/gi,
      " ",
    );
  const names: string[] = [];
  for (const m of text.matchAll(/[A-Za-z_:][\w:]*/g)) {
    const word = m[0];
    const after = text.slice(m.index! + word.length);
    // A function call, or an aggregation whose grouping was removed above.
    if (/^\s*\(/.test(after)) continue;
    if (KEYWORDS.has(word.toLowerCase())) continue;
    if (!names.includes(word)) names.push(word);
  }
  return names;
}

/**
 * The names of `exprs` that are not in `known`, each with the expression
 * that reads it.
 *
 * @example
 * ```ts
 * unknownMetrics(["rate(nope_total[5m])"], new Set()); // ["nope_total in: rate(nope_total[5m])"]
 * ```
 */
export function unknownMetrics(exprs: Iterable<string>, known: ReadonlySet<string>): string[] {
  const unknown: string[] = [];
  for (const expr of exprs) {
    for (const name of metricNames(expr)) {
      if (!known.has(name)) unknown.push(`${name} in: ${expr.replace(/\s+/g, " ").trim()}`);
    }
  }
  return unknown;
}
