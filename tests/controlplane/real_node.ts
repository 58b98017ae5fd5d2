/**
 * A real Kubernetes node on this machine, for the tests where a packet must
 * reach a game server: kubelet and kube-proxy (built from the same pinned
 * module as the control plane), containerd + runc, and CNI's `bridge`,
 * `host-local` and `portmap` plugins. Its addresses live on a bridge of its
 * own in 198.18.0.0/15 (RFC 2544's benchmarking range) and fd00::/8, so
 * nothing is sent off the machine: the node is 198.18.0.1 (and
 * fd00:198:18::1), its Pods get addresses from 198.18.0.16 on in
 * 198.18.0.0/24 (and fd00:198:18::/64), the node being their gateway.
 *
 * Everything it makes (containerd's root and state, kubelet's root and pod
 * logs, CNI's IPAM state) sits in one temp folder; `stop()` deletes its
 * Pods, runs `kube-proxy --cleanup`, removes containers, mounts, network
 * namespaces, iptables chains, the bridge and that folder, and puts back
 * the kernel settings the components changed. {@linkcode machineFootprint}
 * checks that. One node per machine at a time (the addresses are fixed).
 *
 * It needs root, cgroups, and Debian's `containerd`, `runc`,
 * `containernetworking-plugins` and `iptables`;
 * {@linkcode realNodeMissing} names what a machine lacks, for a skip message.
 *
 * @example
 * ```ts
 * await using cp = await ControlPlane.start();
 * await using node = await RealNode.start(cp);
 * console.log(node.name, node.addresses); // gamenet-node [ "198.18.0.1", … ]
 * ```
 * @module
 */

import { join } from "node:path";
import { existsSync } from "node:fs";
import type { KubeClient } from "../../controller/kube_client.ts";
import { type ControlPlane, freePort, NODE_USER } from "./control_plane.ts";
import { ensureNodeAssets, NODE_IMAGES, type NodeAssets } from "./assets.ts";
import { NODE_SYSCTLS, outputOf, readSysctl } from "./machine_footprint.ts";
import { type LoggedProcess, logTail, spawnLogged, stopLogged } from "./logged_process.ts";

/** The node's name: the one its identity's token is issued for. */
export const REAL_NODE_NAME = NODE_USER.slice("system:node:".length);
/** The node's IPv4 address (an InternalIP; the node has no ExternalIP). */
export const REAL_NODE_IPV4 = "198.18.0.1";
/** The node's IPv6 address, when the machine has IPv6. */
export const REAL_NODE_IPV6 = "fd00:198:18::1";
// One subnet per family for the node and its Pods, the node's address
// being the Pods' gateway: CNI's bridge plugin refuses a bridge that
// already carries another address of the family.
const NODE_CIDR_V4 = "198.18.0.0/24";
const NODE_CIDR_V6 = "fd00:198:18::/64";
const POD_RANGE_V4 = { subnet: NODE_CIDR_V4, gateway: REAL_NODE_IPV4, rangeStart: "198.18.0.16" };
const POD_RANGE_V6 = {
  subnet: NODE_CIDR_V6,
  gateway: REAL_NODE_IPV6,
  rangeStart: "fd00:198:18::16",
};
const CNI_BIN_DIR = "/usr/lib/cni";
const CNI_PLUGINS = ["bridge", "host-local", "portmap", "loopback"];
const COMMANDS = [
  "containerd",
  "containerd-shim-runc-v2",
  "runc",
  "ctr",
  "ip",
  "iptables",
  "iptables-save",
  "iptables-restore",
  "tar",
];
const IPTABLES_TABLES = ["filter", "nat", "mangle", "raw"];
/** Chains node components make; others a sweep leaves alone. */
const NODE_CHAIN = /^(KUBE-|CNI-)/;
const READY_TIMEOUT_MS = 120_000;
const DRAIN_TIMEOUT_MS = 60_000;

/** kube-apiserver's Service ranges for a dual-stack real node (IPv4 first, as the harness's default). */
export const DUAL_STACK_SERVICE_RANGE = "10.96.0.0/16,fd00:10:96::/112";

/** Options of {@linkcode RealNode.start}. */
export interface RealNodeOptions {
  /** Give the node and its Pods IPv6 addresses too. @default {true when the machine has IPv6} */
  ipv6?: boolean;
  /** Keep the folder (logs, configs) after stop, for debugging. @default {$GAMENET_E2E_KEEP === "1"} */
  keepDir?: boolean;
  /** Progress lines. @default {() => {}} */
  log?: (line: string) => void;
}

type Proc = LoggedProcess;

function hasCommand(name: string): boolean {
  const path = Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin";
  return [...path.split(":"), "/usr/sbin", "/sbin"].some((dir) => existsSync(join(dir, name)));
}

/**
 * Whether a real node here is dual-stack (the machine has IPv6). A control
 * plane for it then gives Services both families:
 * {@linkcode DUAL_STACK_SERVICE_RANGE}.
 */
export function machineHasIpv6(): boolean {
  return readSysctl("net.ipv6.conf.all.disable_ipv6") === "0";
}

/**
 * What this machine lacks to run a real node, each as a sentence (empty
 * when nothing does): tests skip with these words, never silently.
 */
export function realNodeMissing(): string[] {
  const missing: string[] = [];
  if (Deno.build.os !== "linux") missing.push("a Linux machine");
  if (Deno.uid() !== 0) missing.push("root (it makes a bridge, iptables rules and containers)");
  const commands = COMMANDS.filter((c) => !hasCommand(c));
  if (commands.length > 0) {
    missing.push(
      `the commands ${commands.join(", ")} (Debian: apt-get install containerd runc iptables)`,
    );
  }
  const plugins = CNI_PLUGINS.filter((p) => !existsSync(join(CNI_BIN_DIR, p)));
  if (plugins.length > 0) {
    missing.push(
      `the CNI plugins ${
        plugins.join(", ")
      } in ${CNI_BIN_DIR} (Debian: apt-get install containernetworking-plugins)`,
    );
  }
  if (!existsSync("/sys/fs/cgroup")) missing.push("cgroups mounted at /sys/fs/cgroup");
  return missing;
}

async function must(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
  return new TextDecoder().decode(out.stdout);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A real node: see the module documentation. */
export class RealNode implements AsyncDisposable {
  /** The Node's name. */
  readonly name = REAL_NODE_NAME;
  /** The node's InternalIP(s): IPv4 first, then IPv6 when it has one. */
  readonly addresses: string[];
  /** The folder with configs, state and the components' logs. */
  readonly dir: string;
  readonly #assets: NodeAssets;
  readonly #admin: KubeClient;
  readonly #cp: ControlPlane;
  readonly #ipv6: boolean;
  readonly #bridge: string;
  readonly #keepDir: boolean;
  readonly #log: (line: string) => void;
  readonly #procs = new Map<string, Proc>();
  readonly #sysctls = new Map<string, string>();
  readonly #netnsBefore: Set<string>;
  readonly #chainsBefore: Set<string>;
  #stopped = false;

  private constructor(
    cp: ControlPlane,
    assets: NodeAssets,
    dir: string,
    options: RealNodeOptions,
    before: { netns: Set<string>; chains: Set<string> },
  ) {
    this.#cp = cp;
    this.#admin = cp.client("admin");
    this.#assets = assets;
    this.dir = dir;
    this.#ipv6 = options.ipv6 ?? machineHasIpv6();
    this.addresses = this.#ipv6 ? [REAL_NODE_IPV4, REAL_NODE_IPV6] : [REAL_NODE_IPV4];
    this.#bridge = `gnnode${
      Array.from(crypto.getRandomValues(new Uint8Array(2)), (b) => b.toString(16).padStart(2, "0"))
        .join("")
    }`;
    this.#keepDir = options.keepDir ?? Deno.env.get("GAMENET_E2E_KEEP") === "1";
    this.#log = options.log ?? (() => {});
    this.#netnsBefore = before.netns;
    this.#chainsBefore = before.chains;
    for (const name of NODE_SYSCTLS) {
      const value = readSysctl(name);
      if (value !== undefined) this.#sysctls.set(name, value);
    }
  }

  /**
   * Starts containerd, kubelet and kube-proxy for a node of `cp`, and
   * returns once the Node is Ready and schedulable. Throws, naming what is
   * missing, on a machine that cannot run one ({@linkcode realNodeMissing}).
   */
  static async start(cp: ControlPlane, options: RealNodeOptions = {}): Promise<RealNode> {
    const missing = realNodeMissing();
    if (missing.length > 0) {
      throw new Error(`A real node needs ${missing.join("; ")}`);
    }
    const taken = await outputOf("ip", ["-o", "addr", "show", "to", REAL_NODE_IPV4]);
    if (taken.trim()) {
      throw new Error(
        `${REAL_NODE_IPV4} is already on ${taken.split(/\s+/)[1]}: another real node runs, or ` +
          `one was left by a run that was killed (remove it: ip link del ${taken.split(/\s+/)[1]})`,
      );
    }
    const assets = await ensureNodeAssets();
    const dir = await Deno.makeTempDir({ prefix: "gamenet-node-" });
    const node = new RealNode(cp, assets, dir, options, {
      netns: await netnsNames(),
      chains: await nodeChains(),
    });
    try {
      await node.#start();
      return node;
    } catch (err) {
      const tails = [];
      for (const [name, proc] of node.#procs) {
        tails.push(`--- ${name}:\n${await logTail(proc.logFile, 40)}`);
      }
      await node.stop();
      throw new Error(
        `The real node did not start: ${(err as Error).message}\n${tails.join("\n")}`,
      );
    }
  }

  #path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  get #containerdSocket(): string {
    return this.#path("containerd", "containerd.sock");
  }

  async #start(): Promise<void> {
    const started = Date.now();
    await this.#makeBridge();
    await this.#writeCniConfig();
    await this.#startContainerd();
    await this.#importImages();
    await this.#bindNodeRole();
    await this.#startKubelet();
    await this.#waitReady();
    await this.#startKubeProxy();
    this.#log(
      `real node ${this.name} (${this.addresses.join(", ")}) Ready in ${
        ((Date.now() - started) / 1000).toFixed(1)
      } s; logs in ${this.dir}`,
    );
  }

  async #makeBridge(): Promise<void> {
    await must("ip", ["link", "add", this.#bridge, "type", "bridge"]);
    await must("ip", ["addr", "add", `${REAL_NODE_IPV4}/24`, "dev", this.#bridge]);
    if (this.#ipv6) {
      await must("ip", ["-6", "addr", "add", `${REAL_NODE_IPV6}/64`, "dev", this.#bridge, "nodad"]);
    }
    await must("ip", ["link", "set", this.#bridge, "up"]);
  }

  async #writeCniConfig(): Promise<void> {
    const ranges: unknown[] = [[POD_RANGE_V4]];
    const routes: unknown[] = [{ dst: "0.0.0.0/0" }];
    if (this.#ipv6) {
      ranges.push([POD_RANGE_V6]);
      routes.push({ dst: "::/0" });
    }
    await Deno.mkdir(this.#path("cni", "net.d"), { recursive: true });
    await Deno.writeTextFile(
      this.#path("cni", "net.d", "10-gamenet.conflist"),
      JSON.stringify(
        {
          cniVersion: "1.0.0",
          name: "gamenet-node",
          plugins: [
            {
              type: "bridge",
              bridge: this.#bridge,
              isGateway: true,
              // Nothing leaves the machine, so nothing needs masquerading.
              ipMasq: false,
              hairpinMode: true,
              ipam: {
                type: "host-local",
                dataDir: this.#path("cni", "ipam"),
                ranges,
                routes,
              },
            },
            { type: "portmap", capabilities: { portMappings: true }, snat: true },
          ],
        },
        null,
        2,
      ),
    );
  }

  async #spawn(name: string, binary: string, args: string[]): Promise<Proc> {
    const proc = await spawnLogged(binary, args, this.#path(`${name}.log`));
    this.#procs.set(name, proc);
    return proc;
  }

  async #waitFor(what: string, check: () => Promise<boolean>, proc?: Proc): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let exited = false;
    proc?.status.then(() => exited = true);
    while (Date.now() < deadline && !exited) {
      try {
        if (await check()) return;
      } catch {
        // not yet
      }
      await sleep(250);
    }
    throw new Error(`${what} ${exited ? "exited" : `not ready in ${READY_TIMEOUT_MS} ms`}`);
  }

  async #startContainerd(): Promise<void> {
    const root = this.#path("containerd");
    await Deno.mkdir(root, { recursive: true });
    const config = `version = 2
root = "${root}/root"
state = "${root}/state"
# Plugins that would write outside the node's folder or need other kernels.
disabled_plugins = [
  "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = "${this.#containerdSocket}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${NODE_IMAGES.pause}"
  # This VM refuses to lower oom_score_adj; runc then fails to start any
  # container ("can't get final child's PID from pipe").
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "${root}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${CNI_BIN_DIR}"
    conf_dir = "${this.#path("cni", "net.d")}"
`;
    await Deno.writeTextFile(join(root, "config.toml"), config);
    const proc = await this.#spawn("containerd", "containerd", [
      `--config=${join(root, "config.toml")}`,
    ]);
    await this.#waitFor(
      "containerd",
      async () => (await this.#ctr(["version"]).catch(() => "")).includes("Server"),
      proc,
    );
  }

  #ctr(args: string[]): Promise<string> {
    return must("ctr", ["--address", this.#containerdSocket, "--namespace", "k8s.io", ...args]);
  }

  async #importImages(): Promise<void> {
    for (const archive of [this.#assets.images.pause, this.#assets.images.gameServer]) {
      await this.#ctr(["images", "import", "--snapshotter=native", archive]);
    }
  }

  async #bindNodeRole(): Promise<void> {
    const body = {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: "gamenet-test:nodes" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "system:node" },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "system:nodes" }],
    };
    try {
      await this.#admin.request("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
        body,
      });
    } catch (err) {
      if ((err as { status?: number }).status !== 409) throw err;
    }
  }

  async #startKubelet(): Promise<void> {
    const root = this.#path("kubelet");
    await Deno.mkdir(root, { recursive: true });
    const config = {
      kind: "KubeletConfiguration",
      apiVersion: "kubelet.config.k8s.io/v1beta1",
      containerRuntimeEndpoint: `unix://${this.#containerdSocket}`,
      // The machine has cgroup v1 and no systemd; kubelet runs without QoS
      // cgroups and without node-allocatable enforcement there.
      failCgroupV1: false,
      cgroupDriver: "cgroupfs",
      cgroupsPerQOS: false,
      enforceNodeAllocatable: [],
      failSwapOn: false,
      evictionHard: {},
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      address: "127.0.0.1",
      port: freePort(),
      readOnlyPort: 0,
      healthzBindAddress: "127.0.0.1",
      healthzPort: freePort(),
      authentication: { anonymous: { enabled: false }, webhook: { enabled: false } },
      authorization: { mode: "AlwaysAllow" },
      podLogsDir: this.#path("pod-logs"),
      makeIPTablesUtilChains: false,
      nodeStatusUpdateFrequency: "5s",
      serializeImagePulls: false,
      resolvConf: "/etc/resolv.conf",
    };
    await Deno.writeTextFile(join(root, "config.json"), JSON.stringify(config, null, 2));
    await this.#spawn("kubelet", this.#assets.kubelet, [
      `--config=${join(root, "config.json")}`,
      `--kubeconfig=${this.#cp.kubeconfigPath("node")}`,
      `--root-dir=${root}`,
      `--cert-dir=${join(root, "pki")}`,
      `--hostname-override=${this.name}`,
      `--node-ip=${this.addresses.join(",")}`,
      "--v=1",
    ]);
  }

  async #waitReady(): Promise<void> {
    await this.#waitFor("kubelet (Node Ready)", async () => {
      const node = await this.#admin.request<{
        spec?: { taints?: { key: string }[] };
        status?: { conditions?: { type: string; status: string }[] };
      }>("GET", `/api/v1/nodes/${this.name}`);
      const ready = node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
      const tainted = node.spec?.taints?.some((t) => t.key.startsWith("node.kubernetes.io/"));
      return Boolean(ready) && !tainted;
    }, this.#procs.get("kubelet"));
  }

  #kubeProxyConfig(): string {
    return JSON.stringify({
      kind: "KubeProxyConfiguration",
      apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
      clientConnection: { kubeconfig: this.#cp.kubeconfigPath("kube-proxy") },
      hostnameOverride: this.name,
      mode: "iptables",
      bindAddress: "127.0.0.1",
      healthzBindAddress: `127.0.0.1:${freePort()}`,
      metricsBindAddress: `127.0.0.1:${freePort()}`,
      // Node ports answer on the node's bridge only, never on the machine's
      // other addresses.
      nodePortAddresses: this.#ipv6 ? [NODE_CIDR_V4, NODE_CIDR_V6] : [NODE_CIDR_V4],
      clusterCIDR: this.#ipv6 ? `${NODE_CIDR_V4},${NODE_CIDR_V6}` : NODE_CIDR_V4,
      detectLocalMode: "ClusterCIDR",
      // Leave the machine's conntrack table and OOM scores as they are.
      conntrack: {
        maxPerCore: 0,
        min: 0,
        tcpEstablishedTimeout: "0s",
        tcpCloseWaitTimeout: "0s",
      },
      oomScoreAdj: 0,
      iptables: { syncPeriod: "30s", minSyncPeriod: "0s" },
    });
  }

  async #startKubeProxy(): Promise<void> {
    const file = this.#path("kube-proxy.json");
    await Deno.writeTextFile(file, this.#kubeProxyConfig());
    const healthz = JSON.parse(await Deno.readTextFile(file)).healthzBindAddress;
    const proc = await this.#spawn("kube-proxy", this.#assets.kubeProxy, [
      `--config=${file}`,
      "--v=1",
    ]);
    await this.#waitFor("kube-proxy", async () => {
      const res = await fetch(`http://${healthz}/healthz`);
      await res.body?.cancel();
      return res.ok;
    }, proc);
  }

  /** The last lines a component (`containerd`, `kubelet`, `kube-proxy`) logged. */
  async logTail(component: string, lines = 40): Promise<string> {
    return await logTail(this.#path(`${component}.log`), lines);
  }

  async #stopProc(name: string): Promise<void> {
    const proc = this.#procs.get(name);
    if (!proc) return;
    this.#procs.delete(name);
    await stopLogged(proc, "SIGTERM");
  }

  /**
   * Cordons the node and deletes its Pods, then waits until kubelet has
   * stopped their containers (and CNI has released their addresses and
   * host ports). Replacements a workload makes stay Pending.
   */
  async #drain(): Promise<void> {
    const admin = this.#admin;
    await admin.request("PATCH", `/api/v1/nodes/${this.name}`, {
      body: { spec: { unschedulable: true } },
      contentType: "application/merge-patch+json",
    });
    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    while (Date.now() < deadline) {
      const pods = await admin.request<
        { items: { metadata: { namespace: string; name: string; deletionTimestamp?: string } }[] }
      >("GET", `/api/v1/pods?fieldSelector=spec.nodeName=${this.name}`);
      for (const pod of pods.items.filter((p) => !p.metadata.deletionTimestamp)) {
        await admin.request(
          "DELETE",
          `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`,
          { body: { gracePeriodSeconds: 1 } },
        ).catch(() => {});
      }
      const running = (await this.#ctr(["tasks", "ls"]).catch(() => ""))
        .split("\n").filter((l) => /\bRUNNING\b/.test(l));
      if (pods.items.length === 0 && running.length === 0) return;
      await sleep(500);
    }
    this.#log(`real node: Pods still there after ${DRAIN_TIMEOUT_MS} ms; removing them by force`);
  }

  /** Removes containers containerd still has (those kubelet did not get to). */
  async #removeContainers(): Promise<void> {
    const ids = (await this.#ctr(["containers", "ls", "-q"]).catch(() => "")).split("\n")
      .filter(Boolean);
    for (const id of ids) {
      await this.#ctr(["tasks", "kill", "--signal", "SIGKILL", id]).catch(() => {});
      await this.#ctr(["tasks", "delete", "--force", id]).catch(() => {});
      await this.#ctr(["containers", "delete", id]).catch(() => {});
    }
  }

  /** Kills runc shims of this node's containerd that outlived it. */
  async #killShims(): Promise<void> {
    for await (const e of Deno.readDir("/proc")) {
      if (!/^\d+$/.test(e.name)) continue;
      try {
        const cmdline = await Deno.readTextFile(`/proc/${e.name}/cmdline`);
        if (cmdline.includes(this.#containerdSocket) || cmdline.includes(this.dir)) {
          Deno.kill(Number(e.name), "SIGKILL");
        }
      } catch {
        // exited meanwhile
      }
    }
  }

  async #unmountAll(): Promise<void> {
    const mounts = Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
      .map((l) => l.split(" ")[4])
      .filter((m): m is string => Boolean(m) && m.startsWith(this.dir + "/"))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) await outputOf("umount", ["-l", m]);
  }

  /** Deletes iptables chains node components made and the rules that jump to them. */
  async #sweepChains(): Promise<void> {
    for (
      const [family, save, restore] of [
        ["ipv4", "iptables-save", "iptables-restore"],
        ["ipv6", "ip6tables-save", "ip6tables-restore"],
      ] as const
    ) {
      for (const table of IPTABLES_TABLES) {
        const dump = await outputOf(save, ["-t", table]);
        const made = dump.split("\n").filter((l) => l.startsWith(":"))
          .map((l) => l.slice(1).split(" ")[0])
          .filter((c) => NODE_CHAIN.test(c) && !this.#chainsBefore.has(`${family} ${table} ${c}`));
        if (made.length === 0) continue;
        const jumps = dump.split("\n").filter((l) =>
          l.startsWith("-A ") && !made.includes(l.split(" ")[1]) &&
          made.some((c) => l.includes(` -j ${c}`) || l.includes(` -g ${c}`))
        );
        const script = [
          `*${table}`,
          ...jumps.map((l) => `-D ${l.slice(3)}`),
          ...made.map((c) => `-F ${c}`),
          ...made.map((c) => `-X ${c}`),
          "COMMIT",
          "",
        ].join("\n");
        const child = new Deno.Command(restore, {
          args: ["--noflush"],
          stdin: "piped",
          stdout: "null",
          stderr: "piped",
        }).spawn();
        const writer = child.stdin.getWriter();
        await writer.write(new TextEncoder().encode(script));
        await writer.close();
        const out = await child.output();
        if (!out.success) {
          this.#log(
            `real node: ${restore} (${table}): ${new TextDecoder().decode(out.stderr).trim()}`,
          );
        }
        this.#log(`real node: removed ${made.length} ${family} ${table} chain(s) left behind`);
      }
    }
  }

  /**
   * Deletes the node's Pods and the Node, stops its components and removes
   * everything it made on the machine. Idempotent.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const step = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (err) {
        this.#log(`real node: ${what}: ${(err as Error).message}`);
      }
    };
    if (this.#procs.has("kubelet")) await step("drain", () => this.#drain());
    await this.#stopProc("kube-proxy");
    await step("kube-proxy --cleanup", async () => {
      const file = this.#path("kube-proxy.json");
      if (existsSync(file)) {
        await outputOf(this.#assets.kubeProxy, [`--config=${file}`, "--cleanup", "--v=0"]);
      }
    });
    await this.#stopProc("kubelet");
    await step("Node delete", () => this.#admin.request("DELETE", `/api/v1/nodes/${this.name}`));
    if (this.#procs.has("containerd")) await step("containers", () => this.#removeContainers());
    await this.#stopProc("containerd");
    await step("shims", () => this.#killShims());
    await step("mounts", () => this.#unmountAll());
    for (const ns of await netnsNames()) {
      if (!this.#netnsBefore.has(ns)) await outputOf("ip", ["netns", "delete", ns]);
    }
    await step("iptables", () => this.#sweepChains());
    await outputOf("ip", ["link", "delete", this.#bridge]);
    for (const [name, value] of this.#sysctls) {
      if (readSysctl(name) !== value) {
        await step(`sysctl ${name}`, () => must("sysctl", ["-qw", `${name}=${value}`]));
      }
    }
    await step("container log links", async () => {
      for await (const e of Deno.readDir("/var/log/containers")) {
        const target = await Deno.readLink(`/var/log/containers/${e.name}`).catch(() => "");
        if (target.startsWith(this.dir)) await Deno.remove(`/var/log/containers/${e.name}`);
      }
    });
    if (!this.#keepDir) await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

async function netnsNames(): Promise<Set<string>> {
  const out = await outputOf("ip", ["netns", "list"]);
  return new Set(out.split("\n").map((l) => l.split(" ")[0]).filter(Boolean));
}

async function nodeChains(): Promise<Set<string>> {
  const chains = new Set<string>();
  for (const [family, save] of [["ipv4", "iptables-save"], ["ipv6", "ip6tables-save"]]) {
    let table = "";
    for (const line of (await outputOf(save, [])).split("\n")) {
      if (line.startsWith("*")) table = line.slice(1);
      else if (line.startsWith(":")) {
        chains.add(`${family} ${table} ${line.slice(1).split(" ")[0]}`);
      }
    }
  }
  return chains;
}
