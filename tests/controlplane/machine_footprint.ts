/**
 * What a real node leaves on the machine, as a set of lines: network links
 * and namespaces, iptables chains and the number of rules in each, mounts,
 * node processes, the kernel settings kubelet, kube-proxy and CNI change,
 * CNI's IPAM state and kubelet's container-log links. Taken before a
 * {@linkcode RealNode} starts and after it stops, the difference is what it
 * left behind (nothing, when its `stop()` did its job).
 *
 * @example
 * ```ts
 * const before = await machineFootprint();
 * // … start and stop a RealNode …
 * const left = leftSince(before, await machineFootprint());
 * ```
 * @module
 */

/** Kernel settings a node's components write (kubelet's kernel defaults, forwarding). */
export const NODE_SYSCTLS = [
  "net.ipv4.ip_forward",
  "net.ipv6.conf.all.forwarding",
  "net.ipv4.conf.all.route_localnet",
  "vm.overcommit_memory",
  "vm.panic_on_oom",
  "kernel.panic",
  "kernel.panic_on_oops",
  "kernel.keys.root_maxkeys",
  "kernel.keys.root_maxbytes",
] as const;

/** The processes a node runs; any of them alive after `stop()` is a leftover. */
const NODE_COMMANDS = new Set([
  "containerd",
  "containerd-shim",
  "containerd-shim-runc-v2",
  "kubelet",
  "kube-proxy",
  "runc",
  "pause",
  "gameserver",
]);

/** Folders outside the node's own folder that node components write entries into. */
const SHARED_FOLDERS = ["/var/log/containers", "/var/lib/cni/networks", "/var/run/netns"];

/** Runs a command and returns its standard output; "" when it is missing or fails. */
export async function outputOf(cmd: string, args: string[]): Promise<string> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).output();
    return out.success ? new TextDecoder().decode(out.stdout) : "";
  } catch {
    return "";
  }
}

/** Reads a sysctl from /proc/sys; undefined where the kernel has none. */
export function readSysctl(name: string): string | undefined {
  try {
    return Deno.readTextFileSync(`/proc/sys/${name.replaceAll(".", "/")}`).trim();
  } catch {
    return undefined;
  }
}

/** Chains and per-chain rule counts from `iptables-save` output. */
function iptablesLines(family: string, save: string): string[] {
  const lines: string[] = [];
  const rules = new Map<string, number>();
  let table = "";
  for (const line of save.split("\n")) {
    if (line.startsWith("*")) table = line.slice(1);
    else if (line.startsWith(":")) {
      const chain = line.slice(1).split(" ")[0];
      lines.push(`chain ${family} ${table} ${chain}`);
      rules.set(`${table} ${chain}`, 0);
    } else if (line.startsWith("-A ")) {
      const key = `${table} ${line.split(" ")[1]}`;
      rules.set(key, (rules.get(key) ?? 0) + 1);
    }
  }
  for (const [key, n] of rules) lines.push(`rules ${family} ${key} = ${n}`);
  return lines;
}

async function entries(folder: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(folder)) names.push(`${folder}/${e.name}`);
  } catch {
    // absent: nothing in it
  }
  return names;
}

/** The machine's state as lines; see the module documentation. */
export async function machineFootprint(): Promise<Set<string>> {
  const lines: string[] = [];
  for (const line of (await outputOf("ip", ["-o", "link", "show"])).split("\n")) {
    const name = line.split(": ")[1]?.split("@")[0];
    if (name) lines.push(`link ${name}`);
  }
  for (const line of (await outputOf("ip", ["-o", "addr", "show"])).split("\n")) {
    const [, dev, , addr] = line.split(/\s+/);
    if (addr) lines.push(`address ${dev} ${addr}`);
  }
  lines.push(...iptablesLines("ipv4", await outputOf("iptables-save", [])));
  lines.push(...iptablesLines("ipv6", await outputOf("ip6tables-save", [])));
  for (const line of Deno.readTextFileSync("/proc/self/mountinfo").split("\n")) {
    const mountPoint = line.split(" ")[4];
    if (mountPoint) lines.push(`mount ${mountPoint}`);
  }
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const comm = Deno.readTextFileSync(`/proc/${e.name}/comm`).trim();
      if (NODE_COMMANDS.has(comm)) lines.push(`process ${comm} ${e.name}`);
    } catch {
      // exited meanwhile
    }
  }
  for (const name of NODE_SYSCTLS) lines.push(`sysctl ${name} = ${readSysctl(name)}`);
  for (const folder of SHARED_FOLDERS) {
    for (const entry of await entries(folder)) lines.push(`file ${entry}`);
  }
  return new Set(lines);
}

/** Lines of `after` that `before` lacks: what was made in between and not removed. */
export function leftSince(before: Set<string>, after: Set<string>): string[] {
  return [...after].filter((line) => !before.has(line)).sort();
}
