/**
 * Reads `go test -bench` output: one entry per benchmark line, the
 * `-GOMAXPROCS` suffix dropped from the name and every "value unit" pair
 * (`ns/op`, `B/op`, custom metrics such as `heap-B`) kept. With `-count`,
 * a name comes back once per run.
 *
 * @example
 * ```ts
 * parseGoBench("BenchmarkPeerAlloc/a-2   \t 100\t 395.2 ns/op\t 16 B/op");
 * // [{ name: "PeerAlloc/a", iterations: 100, metrics: { "ns/op": 395.2, "B/op": 16 } }]
 * ```
 * @module
 */

/** One benchmark line. */
export interface GoBenchLine {
  name: string;
  iterations: number;
  metrics: Record<string, number>;
}

/** The benchmark lines of `output`; other lines are skipped. */
export function parseGoBench(output: string): GoBenchLine[] {
  const lines: GoBenchLine[] = [];
  for (const line of output.split("\n")) {
    const m = /^Benchmark(\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    const metrics: Record<string, number> = {};
    const fields = m[3].trim().split(/\s+/);
    for (let i = 0; i + 1 < fields.length; i += 2) metrics[fields[i + 1]] = Number(fields[i]);
    lines.push({ name: m[1], iterations: Number(m[2]), metrics });
  }
  return lines;
}

/** Median of the runs of `name` for `unit`, and the runs; undefined when absent. */
export function medianOf(
  lines: GoBenchLine[],
  name: string,
  unit: string,
): { value: number; runs: number[] } | undefined {
  const runs = lines.filter((l) => l.name === name && unit in l.metrics).map((l) =>
    l.metrics[unit]
  );
  if (runs.length === 0) return undefined;
  const sorted = [...runs].sort((a, b) => a - b);
  return { value: sorted[Math.floor((sorted.length - 1) / 2)], runs };
}
