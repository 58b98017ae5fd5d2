/**
 * The states of the peer comparison, shared by gamenet's side
 * (`gamenet_side.ts`) and the peers' Go benchmarks (which read them as JSON
 * from `$PEERS_STATES`), and the ports each node uses in them, filled as
 * `bench/fill.ts` fills gamenet's own benches (the Go side repeats the same
 * seeded shuffle, so all three allocators see the same ports used).
 *
 * The grid covers each axis once rather than every combination, so that a
 * run takes minutes: 1 node at 1,001 and 64,512 ports, and 1,000 nodes, at
 * 50 / 90 / 99.9 %; 5,000 and 20,000 nodes at 90 %; "uniform" (every node
 * equally used) and "fullest" (nodes filled one after the other: what
 * Agones' first-fit walk leaves behind, and the order its `syncAll` sorts
 * nodes in) from 1,000 nodes up; a restore of 100,000 owners; memory at
 * two equal states.
 *
 * ```sh
 * deno run bench/peers/states.ts   # prints the grid as JSON
 * ```
 * @module
 */

import { shuffled } from "../fill.ts";

/** One state. */
export interface PeerState {
  /** Also the Go sub-benchmark's name. */
  id: string;
  /** `alloc`: one port allocated and released; `restore`: rebuilt from owners; `memory`: heap at this state. */
  kind: "alloc" | "restore" | "memory";
  nodes: number;
  min: number;
  max: number;
  /** Share of all the nodes' ports used. */
  occupancy: number;
  /** See {@linkcode usedPorts}. */
  fill: "uniform" | "fullest" | "empty";
  /** `restore`: owners of two ports each. */
  owners: number;
  /** What a reader of the table is told. */
  label: string;
}

const n = (x: number) => x.toLocaleString("en");

function alloc(
  nodes: number,
  min: number,
  max: number,
  pct: number,
  fill: "uniform" | "fullest",
): PeerState {
  const size = max - min + 1;
  return {
    id: `alloc-n${nodes}-p${size}-o${pct}-${fill}`,
    kind: "alloc",
    nodes,
    min,
    max,
    occupancy: pct / 100,
    fill,
    owners: 0,
    label: `${n(nodes)} node${nodes > 1 ? "s" : ""} × ${n(size)} ports, ${pct} %${
      nodes > 1 ? `, ${fill === "fullest" ? "fullest first" : "uniform"}` : ""
    }`,
  };
}

/** The grid. */
export const STATES: PeerState[] = [
  ...[50, 90, 99.9].map((o) => alloc(1, 7000, 8000, o, "uniform")),
  ...[50, 90, 99.9].map((o) => alloc(1, 1024, 65535, o, "uniform")),
  ...[50, 90, 99.9].map((o) => alloc(1_000, 7000, 8000, o, "uniform")),
  ...[50, 90, 99.9].map((o) => alloc(1_000, 7000, 8000, o, "fullest")),
  alloc(5_000, 7000, 8000, 90, "uniform"),
  alloc(5_000, 7000, 8000, 90, "fullest"),
  alloc(20_000, 7000, 8000, 90, "uniform"),
  alloc(20_000, 7000, 8000, 90, "fullest"),
  {
    id: "restore-o100000-n2000-p1001",
    kind: "restore",
    nodes: 2_000,
    min: 7000,
    max: 8000,
    occupancy: 0.1,
    fill: "empty",
    owners: 100_000,
    label: "restore of 100,000 owners × 2 ports on 2,000 nodes × 1,001 ports",
  },
  {
    id: "memory-n1000-p1001-o90-owners",
    kind: "memory",
    nodes: 1_000,
    min: 7000,
    max: 8000,
    occupancy: 0.9,
    fill: "uniform",
    owners: 0,
    label: "memory: 1,000 nodes × 1,001 ports, 90 %, 900,000 owners of 1 port",
  },
  {
    id: "memory-n10000-p1001-empty",
    kind: "memory",
    nodes: 10_000,
    min: 7000,
    max: 8000,
    occupancy: 0,
    fill: "empty",
    owners: 0,
    label: "memory: 10,000 empty nodes × 1,001 ports",
  },
];

/**
 * The ports used on node `node` (0-based): "uniform" uses the same share
 * of every node, "fullest" fills nodes in order (full ones, one partial,
 * empty ones), "empty" none; which ports, a shuffle seeded by the node.
 *
 * @example
 * ```ts
 * usedPorts(STATES[0], 0).length; // 500: half of 7000-8000
 * ```
 */
export function usedPorts(s: PeerState, node: number): number[] {
  const size = s.max - s.min + 1;
  let count = 0;
  if (s.fill === "uniform") count = Math.floor(size * s.occupancy);
  else if (s.fill === "fullest") {
    const total = Math.floor(s.nodes * size * s.occupancy);
    count = Math.max(0, Math.min(size, total - node * size));
  }
  return count === 0 ? [] : shuffled(s.min, s.max, node + 1).slice(0, count);
}

if (import.meta.main) console.log(JSON.stringify(STATES, null, 2));
