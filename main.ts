/**
 * gamenet: gives every game-server Pod its own reachable address.
 *
 * The controller lands with issue 4; until then this entry point only
 * answers `--help` and `--version`, so the compile task has a real target.
 *
 * @module
 */

/** gamenet's version, printed by `--version`. */
export const VERSION = "0.1.0";

const USAGE =
  `gamenet ${VERSION}: one address per game-server Pod (host ports, Pod IP, cloud load balancers)

Usage: gamenet [--help] [--version]
`;

if (import.meta.main) {
  const args = Deno.args;
  if (args.includes("--version")) {
    console.log(VERSION);
  } else if (args.includes("--help") || args.length === 0) {
    console.log(USAGE);
  } else {
    console.error(`Unknown arguments: ${args.join(" ")}\n\n${USAGE}`);
    Deno.exit(2);
  }
}
