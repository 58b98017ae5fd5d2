/**
 * Progress lines of the benchmarks: on stderr, prefixed by the time of day,
 * so that stdout carries only the results.
 *
 * @example
 * ```ts
 * import { log } from "./log.ts";
 * log("1000 nodes in 5 s"); // 02:51:55 1000 nodes in 5 s
 * ```
 * @module
 */

/** Writes `line` to stderr after the UTC time of day (`HH:MM:SS`). */
export function log(line: string): void {
  console.error(`${new Date().toISOString().slice(11, 19)} ${line}`);
}
