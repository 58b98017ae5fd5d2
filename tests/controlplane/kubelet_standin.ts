/**
 * Plays the kubelet for a control plane that has none: registers fake Nodes
 * (addresses, capacity, Ready, a heartbeat Lease so the node-lifecycle
 * controller keeps them Ready) and gives every Pod bound to one of them Pod
 * IP(s), `Running` and `Ready`; a Pod being deleted is removed for good, as
 * a kubelet does once its containers have stopped.
 *
 * @example
 * ```ts
 * await using kubelet = new KubeletStandIn(cp.client("admin"));
 * await kubelet.addNode({ name: "node-1" });
 * kubelet.start();
 * ```
 * @module
 */

import { KubeApiError, type KubeClient } from "../../controller/kube_client.ts";
import { type KubeObject, objectKey, Reflector } from "../../controller/reflector.ts";

/** A fake Node. */
export interface FakeNodeSpec {
  name: string;
  /** @default {"172.18.<n>.<n>"} */
  internalIP?: string;
  /** `null` for a node with no ExternalIP. @default {"203.0.<n>.<n>"} */
  externalIP?: string | null;
  /** Pod and node IP families. @default {"v4"} */
  ipFamilies?: "v4" | "v6" | "dual";
  labels?: Record<string, string>;
  /** @default {{cpu: "64", memory: "256Gi", pods: "250"}} */
  capacity?: Record<string, string>;
}

interface PodLike extends KubeObject {
  metadata: KubeObject["metadata"] & { deletionTimestamp?: string; uid?: string };
  spec?: { nodeName?: string; containers?: { name: string; image?: string }[] };
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string }[];
  };
}

interface NodeState {
  spec: FakeNodeSpec;
  index: number;
  addresses: { type: string; address: string }[];
  v4: boolean;
  v6: boolean;
}

/** Options of {@linkcode KubeletStandIn}. */
export interface KubeletStandInOptions {
  /** Pod status writes in flight at once. @default {8} */
  concurrency?: number;
  /** Node Lease renewal period. @default {10_000} */
  heartbeatMs?: number;
  log?: (line: string) => void;
}

function microTime(d = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/** The kubelet stand-in: see the module documentation. */
export class KubeletStandIn implements AsyncDisposable {
  readonly #client: KubeClient;
  readonly #nodes = new Map<string, NodeState>();
  readonly #podIPs = new Map<string, string[]>();
  readonly #pending = new Set<string>();
  readonly #inFlight = new Set<string>();
  readonly #concurrency: number;
  readonly #heartbeatMs: number;
  readonly #log: (line: string) => void;
  #pods?: Reflector<PodLike>;
  #heartbeat?: ReturnType<typeof setInterval>;
  #nextNodeIndex = 1;
  #nextPodIndex = 1;
  #idle: (() => void)[] = [];

  constructor(client: KubeClient, options: KubeletStandInOptions = {}) {
    this.#client = client;
    this.#concurrency = options.concurrency ?? 8;
    this.#heartbeatMs = options.heartbeatMs ?? 10_000;
    this.#log = options.log ?? (() => {});
  }

  /** Names of the registered nodes. */
  get nodeNames(): string[] {
    return [...this.#nodes.keys()];
  }

  /** The addresses a node was registered with. */
  nodeAddresses(name: string): { type: string; address: string }[] {
    return this.#nodes.get(name)?.addresses ?? [];
  }

  /** Registers a Ready node. */
  async addNode(spec: FakeNodeSpec): Promise<void> {
    const n = this.#nextNodeIndex++;
    const families = spec.ipFamilies ?? "v4";
    const v4 = families !== "v6";
    const v6 = families !== "v4";
    const hi = Math.floor(n / 250);
    const lo = (n % 250) + 1;
    const addresses: { type: string; address: string }[] = [];
    if (v4) {
      addresses.push({ type: "InternalIP", address: spec.internalIP ?? `172.18.${hi}.${lo}` });
    }
    if (v6) addresses.push({ type: "InternalIP", address: `fd00:18::${n.toString(16)}` });
    if (spec.externalIP !== null) {
      if (v4) {
        addresses.push({ type: "ExternalIP", address: spec.externalIP ?? `203.0.${hi}.${lo}` });
      }
      if (v6) addresses.push({ type: "ExternalIP", address: `2001:db8::${n.toString(16)}` });
    }
    addresses.push({ type: "Hostname", address: spec.name });
    const state: NodeState = { spec, index: n, addresses, v4, v6 };
    const now = new Date().toISOString();
    const condition = (type: string, status: string, reason: string) => ({
      type,
      status,
      reason,
      message: "kubelet stand-in",
      lastHeartbeatTime: now,
      lastTransitionTime: now,
    });
    const status = {
      capacity: spec.capacity ?? { cpu: "64", memory: "256Gi", pods: "250" },
      allocatable: spec.capacity ?? { cpu: "64", memory: "256Gi", pods: "250" },
      addresses,
      conditions: [
        condition("Ready", "True", "KubeletReady"),
        condition("MemoryPressure", "False", "KubeletHasSufficientMemory"),
        condition("DiskPressure", "False", "KubeletHasNoDiskPressure"),
        condition("PIDPressure", "False", "KubeletHasSufficientPID"),
      ],
      nodeInfo: {
        kubeletVersion: "v1.35.4",
        operatingSystem: "linux",
        architecture: "amd64",
        containerRuntimeVersion: "fake://1.0",
        kernelVersion: "6.1.0",
        osImage: "gamenet kubelet stand-in",
        kubeProxyVersion: "",
        machineID: "",
        systemUUID: "",
        bootID: "",
      },
    };
    // Known before the API server has the node: the scheduler may bind a
    // waiting Pod to it the moment it is Ready, and that Pod's watch event
    // would otherwise find no node here and be dropped for good.
    this.#nodes.set(spec.name, state);
    await this.#client.request("POST", "/api/v1/nodes", {
      body: {
        apiVersion: "v1",
        kind: "Node",
        metadata: {
          name: spec.name,
          labels: {
            "kubernetes.io/hostname": spec.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            ...spec.labels,
          },
        },
        spec: {},
        status,
      },
    });
    // Status sent on create is not kept for every field; set it explicitly.
    await this.#client.request("PATCH", `/api/v1/nodes/${spec.name}/status`, {
      body: { status },
      contentType: "application/merge-patch+json",
    });
    await this.#renewLease(spec.name);
  }

  /** Registers `count` nodes named `${prefix}-1` … */
  async addNodes(
    count: number,
    options: Omit<FakeNodeSpec, "name"> & { prefix?: string } = {},
  ): Promise<string[]> {
    const names: string[] = [];
    for (let i = 1; i <= count; i++) {
      const name = `${options.prefix ?? "node"}-${i}`;
      await this.addNode({ ...options, name });
      names.push(name);
    }
    return names;
  }

  /** Deletes a node (its Pods are then garbage-collected by the controller-manager). */
  async removeNode(name: string): Promise<void> {
    this.#nodes.delete(name);
    await this.#client.request("DELETE", `/api/v1/nodes/${name}`).catch(ignoreNotFound);
    await this.#client.request(
      "DELETE",
      `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${name}`,
    )
      .catch(ignoreNotFound);
  }

  async #renewLease(name: string): Promise<void> {
    const path = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${name}`;
    const spec = { holderIdentity: name, leaseDurationSeconds: 40, renewTime: microTime() };
    try {
      await this.#client.request("PATCH", path, {
        body: { spec },
        contentType: "application/merge-patch+json",
      });
    } catch (err) {
      if (!(err instanceof KubeApiError) || err.status !== 404) throw err;
      await this.#client.request(
        "POST",
        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
        {
          body: { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name }, spec },
        },
      );
    }
  }

  /** Starts watching Pods and heartbeating nodes. */
  start(): void {
    if (this.#pods) return;
    this.#pods = new Reflector<PodLike>(this.#client, {
      path: "/api/v1/pods",
      fieldSelector: "spec.nodeName!=",
      log: this.#log,
    }, {
      onAdd: (pod) => this.#enqueue(objectKey(pod)),
      onUpdate: (_old, pod) => this.#enqueue(objectKey(pod)),
      onDelete: (pod) => this.#podIPs.delete(pod.metadata.uid ?? ""),
    });
    this.#pods.start();
    this.#heartbeat = setInterval(() => {
      for (const name of this.#nodes.keys()) {
        this.#renewLease(name).catch((err) => this.#log(`lease ${name}: ${err.message}`));
      }
    }, this.#heartbeatMs);
  }

  /** Resolves when every Pod seen so far has been handled. */
  async idle(): Promise<void> {
    await this.#pods?.synced;
    if (this.#pending.size === 0 && this.#inFlight.size === 0) return;
    await new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  #enqueue(key: string): void {
    this.#pending.add(key);
    this.#pump();
  }

  #pump(): void {
    for (const key of this.#pending) {
      if (this.#inFlight.size >= this.#concurrency) return;
      if (this.#inFlight.has(key)) continue;
      this.#pending.delete(key);
      this.#inFlight.add(key);
      this.#handle(key)
        .catch((err) => {
          this.#log(`pod ${key}: ${err.message}`);
          if (!(err instanceof KubeApiError && err.status === 404)) {
            setTimeout(() => this.#enqueue(key), 500);
          }
        })
        .finally(() => {
          this.#inFlight.delete(key);
          this.#pump();
          if (this.#pending.size === 0 && this.#inFlight.size === 0) {
            for (const resolve of this.#idle.splice(0)) resolve();
          }
        });
    }
  }

  async #handle(key: string): Promise<void> {
    const pod = this.#pods?.get(key);
    if (!pod) return;
    const node = this.#nodes.get(pod.spec?.nodeName ?? "");
    if (!node) return;
    const { namespace, name, uid } = pod.metadata;
    const path = `/api/v1/namespaces/${namespace}/pods/${name}`;
    if (pod.metadata.deletionTimestamp) {
      await this.#client.request("DELETE", path, {
        body: { gracePeriodSeconds: 0, preconditions: { uid } },
      }).catch(ignoreGone);
      return;
    }
    const ready = pod.status?.phase === "Running" && pod.status.podIP &&
      pod.status.conditions?.some((c) => c.type === "Ready" && c.status === "True");
    if (ready) return;
    let ips = this.#podIPs.get(uid!);
    if (!ips) {
      const n = this.#nextPodIndex++;
      ips = [];
      if (node.v4) ips.push(`10.${128 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`);
      if (node.v6) ips.push(`fd00:10::${n.toString(16)}`);
      this.#podIPs.set(uid!, ips);
    }
    const hostIPs = node.addresses.filter((a) => a.type === "InternalIP").map((a) => a.address);
    const now = new Date().toISOString();
    const cond = (type: string) => ({ type, status: "True", lastTransitionTime: now });
    await this.#client.request("PATCH", `${path}/status`, {
      contentType: "application/merge-patch+json",
      body: {
        metadata: { uid },
        status: {
          phase: "Running",
          podIP: ips[0],
          podIPs: ips.map((ip) => ({ ip })),
          hostIP: hostIPs[0],
          hostIPs: hostIPs.map((ip) => ({ ip })),
          startTime: now,
          conditions: [
            "PodReadyToStartContainers",
            "Initialized",
            "ContainersReady",
            "Ready",
            "PodScheduled",
          ]
            .map(cond),
          containerStatuses: (pod.spec?.containers ?? []).map((c) => ({
            name: c.name,
            image: c.image ?? "",
            imageID: "",
            ready: true,
            started: true,
            restartCount: 0,
            state: { running: { startedAt: now } },
          })),
        },
      },
    });
  }

  /** Stops watching and heartbeating (nodes stay registered). */
  async stop(): Promise<void> {
    clearInterval(this.#heartbeat);
    await this.#pods?.stop();
    this.#pods = undefined;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

function ignoreNotFound(err: unknown): void {
  if (!(err instanceof KubeApiError && err.status === 404)) throw err;
}

function ignoreGone(err: unknown): void {
  // 404: already gone; 409: the UID precondition failed, a new Pod has the name.
  if (!(err instanceof KubeApiError && (err.status === 404 || err.status === 409))) throw err;
}
