import assert from "node:assert/strict";
import { metricNames, unknownMetrics } from "./promql_names.ts";

Deno.test("metricNames() finds the names of selectors, and not functions or aggregations", () => {
  assert.deepEqual(metricNames("gamenet_leader"), ["gamenet_leader"]);
  assert.deepEqual(
    metricNames(
      "histogram_quantile(0.99, sum by (le) (rate(gamenet_webhook_duration_seconds_bucket[5m])))",
    ),
    ["gamenet_webhook_duration_seconds_bucket"],
  );
  assert.deepEqual(
    metricNames('topk(10, sum(rate(a_total[1h:30s])) / sum (b)) + count_values("v", c)'),
    ["a_total", "b", "c"],
  );
  assert.deepEqual(metricNames("sum(x) without (instance, pod)"), ["x"]);
});

Deno.test("metricNames() skips label matchers, strings, durations, numbers and variables", () => {
  assert.deepEqual(
    metricNames(
      'sum by (kind, range) (rate(errors_total{job=~"$job", kind!="a{b}", code=~\'Req.*\'}' +
        "[$__rate_interval])) > 0.9e1 offset 5m",
    ),
    ["errors_total"],
  );
  assert.deepEqual(metricNames('up{job="${job:regex}"} * 1.5 - 0x1f + [[old]] + inf'), ["up"]);
  assert.deepEqual(metricNames("a @ start() + b @ 1609746000"), ["a", "b"]);
});

Deno.test("metricNames() skips set and vector-matching keywords and their label lists", () => {
  assert.deepEqual(
    metricNames(
      "a and b or c unless d > bool 1 + on (x) group_left (y) e * ignoring (z) group_right f",
    ),
    ["a", "b", "c", "d", "e", "f"],
  );
  assert.deepEqual(metricNames("(max(gamenet_leader) or vector(0)) < 1"), ["gamenet_leader"]);
  assert.deepEqual(metricNames("a_total:rate5m # a recording rule's name\n"), ["a_total:rate5m"]);
});

Deno.test("unknownMetrics() names each unknown metric with its expression", () => {
  const known = new Set(["gamenet_leader", "gamenet_errors_total"]);
  assert.deepEqual(
    unknownMetrics(["max(gamenet_leader)", "rate(gamenet_errors_total[5m])"], known),
    [],
  );
  assert.deepEqual(
    unknownMetrics(["gamenet_leader + gamenet_ledaer", 'sum(gamenet_nope{a="gamenet_x"})'], known),
    [
      "gamenet_ledaer in: gamenet_leader + gamenet_ledaer",
      'gamenet_nope in: sum(gamenet_nope{a="gamenet_x"})',
    ],
  );
});
