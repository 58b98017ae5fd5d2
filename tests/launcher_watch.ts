/**
 * Notices when the processes that started this one go away. `npx -y
 * deno@… task demo` puts npm, a shell and `deno task` between a terminal
 * and the demo: a terminal's Ctrl-C reaches the whole process group, but a
 * signal sent to npm alone does not reach the demo (npm ignores SIGINT and,
 * on SIGTERM, exits without its grandchildren), which would leave the
 * control plane running with no one to stop it. The demo therefore stops
 * when any of its ancestors exits. Linux only (`/proc`); elsewhere it
 * watches nothing.
 *
 * @example
 * ```ts
 * const watch = watchLaunchers(() => stop("its launcher exited"));
 * // ...
 * watch.stop();
 * ```
 * @module
 */

/** The parent pid of `pid`, or undefined when it is gone. */
export function parentOf(pid: number | "self"): number | undefined {
  // Deno asks for --allow-all to read /proc/self; its own answer needs nothing.
  if (pid === "self" || pid === Deno.pid) return Deno.ppid;
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

/** This process's ancestors, nearest first, up to (not including) init. */
export function ancestors(): { pid: number; parent: number }[] {
  const chain: { pid: number; parent: number }[] = [];
  let pid = parentOf("self");
  while (pid !== undefined && pid > 1 && chain.length < 64) {
    const parent = parentOf(pid);
    if (parent === undefined) break;
    chain.push({ pid, parent });
    pid = parent;
  }
  return chain;
}

/**
 * Calls `onGone` once, when one of this process's ancestors exits (or is
 * handed to another parent, which means its own parent exited).
 */
export function watchLaunchers(onGone: () => void, everyMs = 1_000): { stop(): void } {
  const chain = ancestors();
  const timer = setInterval(() => {
    if (chain.every(({ pid, parent }) => parentOf(pid) === parent)) return;
    clearInterval(timer);
    onGone();
  }, everyMs);
  Deno.unrefTimer(timer);
  return { stop: () => clearInterval(timer) };
}
