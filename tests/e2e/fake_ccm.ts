/**
 * A stand-in for Alibaba Cloud's and Volcengine's cloud controller
 * managers (CCMs), as far as gamenet's load-balancer types meet them: it
 * watches `LoadBalancer` Services naming an existing load balancer by the
 * CCM's id annotation, "creates the listeners" (remembers which Service
 * holds which port on which LB) and writes the LB's address into the
 * Service's `status.loadBalancer` after a delay. What the real CCM refuses
 * it refuses the same way, with a Warning Event on the Service and no
 * status: an LB id it does not know, a port another Service's listener
 * has on that LB. A Service that is deleted or no longer a LoadBalancer
 * gives its listeners back.
 *
 * @example
 * ```ts
 * await using ccm = new FakeCcm(admin, { "lb-a": { ip: "203.0.113.10" } });
 * ccm.start();
 * ```
 * @module
 */

import type { KubeClient } from "../../controller/kube_client.ts";

/** The annotations naming the LB a Service reuses, by cloud. */
export const LB_ID_ANNOTATIONS = [
  "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-id",
  "service.beta.kubernetes.io/volcengine-loadbalancer-id",
];

/** What an LB answers with: an IP (SLB, CLB) or a DNS name (NLB). */
export type LbAddress = { ip: string } | { hostname: string };

interface ServiceLike {
  metadata: {
    namespace: string;
    name: string;
    uid: string;
    creationTimestamp: string;
    annotations?: Record<string, string>;
  };
  spec: { type: string; ports: { port: number; protocol: string }[] };
  status?: { loadBalancer?: { ingress?: unknown[] } };
}

/** See the module documentation. */
export class FakeCcm implements AsyncDisposable {
  readonly #client: KubeClient;
  readonly #lbs: Record<string, LbAddress>;
  readonly #delayMs: number;
  readonly #firstSeen = new Map<string, number>();
  readonly #warned = new Set<string>();
  #timer?: ReturnType<typeof setInterval>;
  #pass?: Promise<void>;
  /** Addresses written, and refusals, so far. */
  readonly counts = { addresses: 0, refusals: 0 };

  constructor(
    client: KubeClient,
    lbs: Record<string, LbAddress>,
    options: { delayMs?: number } = {},
  ) {
    this.#client = client;
    this.#lbs = lbs;
    this.#delayMs = options.delayMs ?? 300;
  }

  /** Looks at the Services every 200 ms. */
  start(): void {
    this.#timer = setInterval(() => {
      if (this.#pass) return;
      this.#pass = this.#look().catch(() => {}).finally(() => this.#pass = undefined);
    }, 200);
  }

  async #look(): Promise<void> {
    const list = await this.#client.request<{ items: ServiceLike[] }>("GET", "/api/v1/services");
    const now = Date.now();
    // The listeners: each (LB, port, protocol) is the oldest claiming Service's.
    const listeners = new Map<string, string>();
    const services = list.items
      .filter((s) => s.spec.type === "LoadBalancer" && lbOf(s) !== undefined)
      .sort((a, b) =>
        a.metadata.creationTimestamp.localeCompare(b.metadata.creationTimestamp) ||
        a.metadata.name.localeCompare(b.metadata.name)
      );
    for (const svc of services) {
      const lb = lbOf(svc)!;
      if (!(lb in this.#lbs)) {
        await this.#refuse(svc, `the load balancer ${lb} does not exist in this region`);
        continue;
      }
      const taken = svc.spec.ports.map((p) => ({
        p,
        by: listeners.get(`${lb} ${p.port}/${p.protocol}`),
      }))
        .find(({ by }) => by !== undefined && by !== svc.metadata.uid);
      if (taken) {
        await this.#refuse(
          svc,
          `port ${taken.p.port}/${taken.p.protocol} of load balancer ${lb} has a listener of ` +
            `another Service already`,
        );
        continue;
      }
      for (const p of svc.spec.ports) {
        listeners.set(`${lb} ${p.port}/${p.protocol}`, svc.metadata.uid);
      }
      if ((svc.status?.loadBalancer?.ingress?.length ?? 0) > 0) continue;
      const seen = this.#firstSeen.get(svc.metadata.uid) ?? now;
      this.#firstSeen.set(svc.metadata.uid, seen);
      if (now - seen < this.#delayMs) continue;
      await this.#client.request(
        "PATCH",
        `/api/v1/namespaces/${svc.metadata.namespace}/services/${svc.metadata.name}/status`,
        {
          body: { status: { loadBalancer: { ingress: [this.#lbs[lb]] } } },
          contentType: "application/merge-patch+json",
        },
      );
      this.counts.addresses++;
    }
  }

  async #refuse(svc: ServiceLike, message: string): Promise<void> {
    const key = `${svc.metadata.uid} ${message}`;
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.counts.refusals++;
    const now = new Date().toISOString();
    await this.#client.request("POST", `/api/v1/namespaces/${svc.metadata.namespace}/events`, {
      body: {
        metadata: { generateName: `${svc.metadata.name}.` },
        involvedObject: {
          apiVersion: "v1",
          kind: "Service",
          namespace: svc.metadata.namespace,
          name: svc.metadata.name,
          uid: svc.metadata.uid,
        },
        type: "Warning",
        reason: "SyncLoadBalancerFailed",
        message: `Error syncing load balancer: ${message}`,
        source: { component: "fake-cloud-controller-manager" },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    });
  }

  /** Stops looking (after the look under way). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#pass;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

function lbOf(svc: ServiceLike): string | undefined {
  for (const key of LB_ID_ANNOTATIONS) {
    const id = svc.metadata.annotations?.[key];
    if (id) return id;
  }
  return undefined;
}
