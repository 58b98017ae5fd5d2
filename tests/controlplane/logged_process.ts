/**
 * A component of the test cluster as a child process whose standard output
 * and error go to one log file, stopped with a signal and, when it does
 * not exit in time, SIGKILL. Shared by the control plane and the real node.
 *
 * @example
 * ```ts
 * const etcd = await spawnLogged("etcd", ["--data-dir=/tmp/x"], "/tmp/etcd.log");
 * await stopLogged(etcd, "SIGTERM");
 * ```
 * @module
 */

/** A running component. */
export interface LoggedProcess {
  child: Deno.ChildProcess;
  logFile: string;
  /** Resolves once it exited and its output is in the log file. */
  status: Promise<Deno.CommandStatus>;
}

/** Starts `binary` with `args`, both output streams appended to `logFile`. */
export async function spawnLogged(
  binary: string,
  args: string[],
  logFile: string,
): Promise<LoggedProcess> {
  const log = await Deno.open(logFile, { create: true, append: true, write: true });
  const child = new Deno.Command(binary, { args, stdin: "null", stdout: "piped", stderr: "piped" })
    .spawn();
  const copy = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) await log.write(chunk);
  };
  // The copies end when the process does.
  const copies = Promise.all([copy(child.stdout), copy(child.stderr)]).catch(() => {});
  const status = child.status.then(async (s) => {
    await copies;
    log.close();
    return s;
  });
  return { child, logFile, status };
}

/** Sends `signal`, then SIGKILL after `graceMs`; resolves once it exited. */
export async function stopLogged(
  proc: LoggedProcess,
  signal: Deno.Signal,
  graceMs = 10_000,
): Promise<void> {
  const kill = (s: Deno.Signal) => {
    try {
      proc.child.kill(s);
    } catch {
      // already gone
    }
  };
  kill(signal);
  const killer = setTimeout(() => kill("SIGKILL"), graceMs);
  await proc.status;
  clearTimeout(killer);
}

/** The last `lines` lines of a log file ("" when there is none). */
export async function logTail(file: string, lines = 30): Promise<string> {
  try {
    return (await Deno.readTextFile(file)).trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}
