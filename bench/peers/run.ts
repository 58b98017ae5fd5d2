/**
 * Runs Agones' and OpenKruiseGame's real port allocators next to gamenet's
 * on the same states (`states.ts`) and prints one table with both sides and
 * the ratio. Not part of CI: it needs a checkout of each peer and Go.
 *
 * Their Go modules are built from checkouts whose paths are given in
 * `AGONES_SRC` and `KRUISE_GAME_SRC`, at the commits pinned below (another
 * commit is measured, with a warning). For each, the script places an
 * in-package benchmark (`*_bench_test.go.txt` here, and the shared
 * `peer_states_test.go.txt`) into the checkout, runs `go test -bench` there,
 * removes the placed files, and reads the output. Agones vendors its
 * dependencies (`-mod=vendor`, offline); OpenKruiseGame's come from the Go
 * module proxy (`GOFLAGS=-mod=mod`). A peer whose checkout is missing is
 * skipped with how to get it; gamenet's side always runs.
 *
 * The sides run one after the other (Agones, OpenKruiseGame, gamenet):
 * on a shared machine, run it more than once.
 *
 * ```sh
 * git clone https://github.com/googleforgames/agones /tmp/agones && git -C /tmp/agones checkout b19d5fe780b0d08f9e4cc0403c962acdcae199a8
 * git clone https://github.com/openkruise/kruise-game /tmp/kruise-game && git -C /tmp/kruise-game checkout d76ace2148a55e621882c9e64c5a1b2438b55c6e
 * AGONES_SRC=/tmp/agones KRUISE_GAME_SRC=/tmp/kruise-game \
 *   deno run --allow-all bench/peers/run.ts
 * ```
 * @module
 */

import { type GoBenchLine, medianOf, parseGoBench } from "./go_bench_output.ts";
import { measureGamenet, type SideResult } from "./gamenet_side.ts";
import { STATES } from "./states.ts";

/** A peer: where its checkout is named, what is pinned, what is placed where, how it is built. */
interface Peer {
  name: string;
  env: string;
  url: string;
  commit: string;
  /** Package directory in the checkout, and its Go package name. */
  dir: string;
  pkg: string;
  template: string;
  goflags: string[];
  goenv: Record<string, string>;
  /** Why its figures come out as they do, shown when it is skipped. */
  note: string;
}

const PEERS: Peer[] = [
  {
    name: "Agones",
    env: "AGONES_SRC",
    url: "https://github.com/googleforgames/agones",
    commit: "b19d5fe780b0d08f9e4cc0403c962acdcae199a8",
    dir: "pkg/portallocator",
    pkg: "portallocator",
    template: "agones_portallocator_bench_test.go.txt",
    goflags: ["-mod=vendor"],
    goenv: {},
    note: "vendored dependencies: builds offline",
  },
  {
    name: "OpenKruiseGame",
    env: "KRUISE_GAME_SRC",
    url: "https://github.com/openkruise/kruise-game",
    commit: "d76ace2148a55e621882c9e64c5a1b2438b55c6e",
    dir: "cloudprovider/kubernetes",
    pkg: "kubernetes",
    template: "kruise_game_hostport_bench_test.go.txt",
    goflags: [],
    goenv: { GOFLAGS: "-mod=mod" },
    note: "dependencies from the Go module proxy",
  },
];

const here = new URL(".", import.meta.url).pathname;
const decoder = new TextDecoder();

async function git(dir: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("git", { args: ["-C", dir, ...args] }).output();
  return decoder.decode(out.stdout).trim();
}

/** Runs `go` in `cwd`, echoing its output, and returns it. */
async function go(cwd: string, args: string[], env: Record<string, string>): Promise<string> {
  console.error(`$ (cd ${cwd} && go ${args.join(" ")})`);
  const out = await new Deno.Command(Deno.env.get("GO") ?? "go", {
    args,
    cwd,
    env,
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const text = decoder.decode(out.stdout);
  console.error(text);
  if (!out.success) throw new Error(`go ${args.join(" ")} failed in ${cwd}`);
  return text;
}

/** The peer's benchmark lines, or undefined when its checkout is missing. */
async function runPeer(peer: Peer, statesFile: string): Promise<GoBenchLine[] | undefined> {
  const src = Deno.env.get(peer.env);
  if (!src || !(await Deno.stat(`${src}/${peer.dir}`).catch(() => null))) {
    console.error(
      `${peer.name}: skipped. Set ${peer.env} to a checkout of ${peer.url} at ${peer.commit}:\n` +
        `  git clone ${peer.url} <dir> && git -C <dir> checkout ${peer.commit}\n` +
        `  ${peer.env}=<dir> deno run --allow-all bench/peers/run.ts`,
    );
    return undefined;
  }
  const head = await git(src, "rev-parse", "HEAD");
  console.error(`${peer.name}: ${src} at ${head} (${peer.note})`);
  if (head !== peer.commit) {
    console.error(`WARNING: ${peer.name} is pinned at ${peer.commit}, the checkout is at ${head}`);
  }
  const dir = `${src}/${peer.dir}`;
  const placed = [`${dir}/gamenet_peer_states_test.go`, `${dir}/gamenet_peer_bench_test.go`];
  const states = await Deno.readTextFile(`${here}peer_states_test.go.txt`);
  await Deno.writeTextFile(placed[0], states.replace("__PACKAGE__", peer.pkg));
  await Deno.copyFile(`${here}${peer.template}`, placed[1]);
  try {
    const env = { ...peer.goenv, PEERS_STATES: statesFile };
    const common = [...peer.goflags, "-run", "^$", "-timeout", "60m"];
    const timed = await go(src, [
      "test",
      ...common,
      "-bench",
      "^BenchmarkPeer(Alloc|Restore)$",
      "-benchmem",
      "-count",
      "3",
      "-benchtime",
      "0.5s",
      `./${peer.dir}/`,
    ], env);
    const memory = await go(src, [
      "test",
      ...common,
      "-bench",
      "^BenchmarkPeerMemory$",
      "-benchtime",
      "1x",
      `./${peer.dir}/`,
    ], env);
    return parseGoBench(timed + memory);
  } finally {
    for (const f of placed) await Deno.remove(f).catch(() => {});
  }
}

function time(ns: number | undefined): string {
  if (ns === undefined) return "—";
  if (ns < 1e3) return `${ns.toFixed(0)} ns`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(ns < 1e4 ? 2 : 1)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(ns < 1e7 ? 2 : 1)} ms`;
  return `${(ns / 1e9).toFixed(2)} s`;
}

function mib(b: number | undefined): string {
  if (b === undefined) return "—";
  return b < 2 ** 20 ? `${(b / 1024).toFixed(1)} KiB` : `${(b / 2 ** 20).toFixed(2)} MiB`;
}

function ratio(peer: number | undefined, ours: number | undefined): string {
  if (peer === undefined || ours === undefined) return "—";
  const r = peer / ours;
  if (r < 0.1) return `${r.toPrecision(1)}×`;
  return `${r >= 100 ? Math.round(r).toLocaleString("en") : r.toFixed(r >= 10 ? 0 : 1)}×`;
}

if (import.meta.main) {
  const statesFile = await Deno.makeTempFile({ prefix: "gamenet-peer-states-", suffix: ".json" });
  await Deno.writeTextFile(statesFile, JSON.stringify(STATES));
  const peers: (GoBenchLine[] | undefined)[] = [];
  try {
    for (const peer of PEERS) peers.push(await runPeer(peer, statesFile));
  } finally {
    await Deno.remove(statesFile);
  }
  console.error("gamenet: bench/peers/gamenet_side.ts");
  const ours: SideResult[] = await measureGamenet(STATES, (r) => console.error(JSON.stringify(r)));

  const [agones, okg] = peers;
  const peerValue = (lines: GoBenchLine[] | undefined, id: string, kind: string) => {
    if (!lines) return undefined;
    const bench = kind === "alloc"
      ? "PeerAlloc"
      : kind === "restore"
      ? "PeerRestore"
      : "PeerMemory";
    return medianOf(lines, `${bench}/${id}`, kind === "memory" ? "heap-B" : "ns/op")?.value;
  };
  console.log(
    "| state | Agones | OpenKruiseGame | gamenet | Agones ÷ gamenet | OpenKruiseGame ÷ gamenet |",
  );
  console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
  for (const s of STATES) {
    const a = peerValue(agones, s.id, s.kind);
    const o = peerValue(okg, s.id, s.kind);
    for (const r of ours.filter((r) => r.id === s.id)) {
      const g = s.kind === "memory" ? r.bytes : r.ns;
      const show = s.kind === "memory" ? mib : time;
      const label = r.what === "PortPool" ? `${s.label} (gamenet: PortPool)` : s.label;
      console.log(
        `| ${label} | ${show(a)} | ${show(o)} | ${show(g)} | ${ratio(a, g)} | ${ratio(o, g)} |`,
      );
    }
  }
}
