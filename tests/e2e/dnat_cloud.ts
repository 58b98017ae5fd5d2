/**
 * Plays Alibaba Cloud's network controller (ACK with Terway) for the
 * AlibabaCloud-NATGW end-to-end test: it polls the Pods of one namespace,
 * and for each Pod carrying `k8s.aliyun.com/pod-dnat` that has an IP it
 * creates, after a delay, a `PodDNAT` (`alibabacloud.com/v1beta1`, same
 * namespace and name) and writes `status.entries` through the status
 * subresource: one entry per port of `k8s.aliyun.com/pod-dnat-expose-port`,
 * on one NAT IP, external ports from a counter. A per-Pod policy makes it
 * answer late or never.
 *
 * @example
 * ```ts
 * await using cloud = new FakeDnatCloud(admin, { namespace: "ns" });
 * cloud.start();
 * ```
 * @module
 */

import { KubeApiError, type KubeClient } from "../../controller/kube_client.ts";
import type { Pod } from "../../providers/types.ts";

/** One `status.entries[]` of a PodDNAT: every field a string, as Alibaba writes it. */
export interface DnatEntry {
  externalIP: string;
  externalPort: string;
  internalIP: string;
  internalPort: string;
  forwardEntryId: string;
  ipProtocol: string;
}

/** What the cloud does for one Pod: answer after `delayMs`, or never. */
export type DnatPolicy = { delayMs: number } | "never";

/** Options of {@linkcode FakeDnatCloud}. */
export interface FakeDnatCloudOptions {
  namespace: string;
  /** The NAT gateway's IP. @default {"47.100.0.1"} */
  externalIP?: string;
  /** The first external port handed out. @default {512} */
  firstPort?: number;
  /** Per Pod; the default answers after 200 ms. */
  policy?: (pod: Pod) => DnatPolicy;
  /** @default {300} */
  pollMs?: number;
}

export const POD_DNAT_PATH = (ns: string) =>
  `/apis/alibabacloud.com/v1beta1/namespaces/${ns}/poddnats`;

/** The fake cloud controller: see the module documentation. */
export class FakeDnatCloud implements AsyncDisposable {
  readonly #client: KubeClient;
  readonly #ns: string;
  readonly #externalIP: string;
  readonly #policy: (pod: Pod) => DnatPolicy;
  readonly #pollMs: number;
  #nextPort: number;
  #nextEntry = 1;
  /** Pod uid → when it was first seen with an IP. */
  readonly #seen = new Map<string, number>();
  /** Pod name → the entries written for it. */
  readonly entries = new Map<string, DnatEntry[]>();
  /** Errors met while answering (the test asserts there are none). */
  readonly errors: string[] = [];
  #timer?: ReturnType<typeof setTimeout>;
  #running?: Promise<void>;
  #stopped = false;

  constructor(client: KubeClient, options: FakeDnatCloudOptions) {
    this.#client = client;
    this.#ns = options.namespace;
    this.#externalIP = options.externalIP ?? "47.100.0.1";
    this.#nextPort = options.firstPort ?? 512;
    this.#policy = options.policy ?? (() => ({ delayMs: 200 }));
    this.#pollMs = options.pollMs ?? 300;
  }

  /** Starts polling. */
  start(): void {
    this.#schedule();
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.#tick().catch((err) => {
        this.errors.push(String(err));
      }).finally(() => this.#schedule());
    }, this.#pollMs);
  }

  async #tick(): Promise<void> {
    const list = await this.#client.request<{ items: Pod[] }>(
      "GET",
      `/api/v1/namespaces/${this.#ns}/pods`,
    );
    const now = Date.now();
    await Promise.all(list.items.map(async (pod) => {
      const annotations = pod.metadata.annotations ?? {};
      const uid = pod.metadata.uid!;
      if (!("k8s.aliyun.com/pod-dnat" in annotations)) return;
      if (!pod.status?.podIP || pod.metadata.deletionTimestamp) return;
      if (this.entries.has(pod.metadata.name!)) return;
      const policy = this.#policy(pod);
      if (policy === "never") return;
      const seen = this.#seen.get(uid) ?? now;
      this.#seen.set(uid, seen);
      if (now - seen < policy.delayMs) return;
      await this.#answer(pod);
    }));
  }

  /** Creates the Pod's PodDNAT and writes its entries. */
  async #answer(pod: Pod): Promise<void> {
    const name = pod.metadata.name!;
    const a = pod.metadata.annotations!;
    const protocol = a["k8s.aliyun.com/pod-dnat-expose-protocol"] ?? "tcp";
    const ports = (a["k8s.aliyun.com/pod-dnat-expose-port"] ?? "").split(",").filter(Boolean);
    const entries: DnatEntry[] = ports.map((port) => ({
      externalIP: this.#externalIP,
      externalPort: String(this.#nextPort++),
      internalIP: pod.status!.podIP!,
      internalPort: port,
      forwardEntryId: `fwd-${String(this.#nextEntry++).padStart(6, "0")}`,
      ipProtocol: protocol,
    }));
    // Recorded first: a second tick while this one writes must not answer again.
    this.entries.set(name, entries);
    try {
      await this.#client.request("POST", POD_DNAT_PATH(this.#ns), {
        body: {
          apiVersion: "alibabacloud.com/v1beta1",
          kind: "PodDNAT",
          metadata: {
            name,
            ownerReferences: [{
              apiVersion: "v1",
              kind: "Pod",
              name,
              uid: pod.metadata.uid,
            }],
          },
          spec: {
            externalIP: this.#externalIP,
            internalIP: pod.status!.podIP,
            protocol,
            portMapping: entries.map((e) => ({
              externalPort: e.externalPort,
              internalPort: e.internalPort,
            })),
          },
        },
      });
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 409)) {
        this.entries.delete(name);
        throw err;
      }
    }
    try {
      await this.#client.request("PATCH", `${POD_DNAT_PATH(this.#ns)}/${name}/status`, {
        contentType: "application/merge-patch+json",
        body: { status: { entries } },
      });
    } catch (err) {
      this.entries.delete(name);
      throw err;
    }
  }

  /** Stops polling and waits for the tick in flight. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
    clearTimeout(this.#timer);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
