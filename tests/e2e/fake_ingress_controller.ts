/**
 * Plays an ingress controller for tests: for every Ingress of a class it
 * serves, it writes an address into `status.loadBalancer` after a delay,
 * as ingress-nginx does once its load balancer is up. Ingresses of other
 * classes (or of a class set to `null`) never get one.
 *
 * @example
 * ```ts
 * await using ingress = new FakeIngressController(admin, { fake: { ip: "198.51.100.7" } });
 * ingress.start();
 * ```
 * @module
 */

import type { KubeClient } from "../../controller/kube_client.ts";

/** What a class's Ingresses are given: an IP or a host name, or nothing. */
export type LoadBalancerEntry = { ip: string } | { hostname: string } | null;

interface IngressLike {
  metadata: { namespace: string; name: string; uid: string };
  spec?: { ingressClassName?: string };
  status?: { loadBalancer?: { ingress?: unknown[] } };
}

/** See the module documentation. */
export class FakeIngressController implements AsyncDisposable {
  readonly #client: KubeClient;
  readonly #classes: Record<string, LoadBalancerEntry>;
  readonly #delayMs: number;
  readonly #firstSeen = new Map<string, number>();
  #timer?: ReturnType<typeof setInterval>;
  #pass?: Promise<void>;
  /** Addresses written so far. */
  written = 0;

  constructor(
    client: KubeClient,
    classes: Record<string, LoadBalancerEntry>,
    options: { delayMs?: number } = {},
  ) {
    this.#client = client;
    this.#classes = classes;
    this.#delayMs = options.delayMs ?? 500;
  }

  /** Looks at the Ingresses every 200 ms. */
  start(): void {
    this.#timer = setInterval(() => {
      if (this.#pass) return;
      this.#pass = this.#look().catch(() => {}).finally(() => this.#pass = undefined);
    }, 200);
  }

  async #look(): Promise<void> {
    const list = await this.#client.request<{ items: IngressLike[] }>(
      "GET",
      "/apis/networking.k8s.io/v1/ingresses",
    );
    const now = Date.now();
    for (const ing of list.items) {
      const entry = this.#classes[ing.spec?.ingressClassName ?? ""];
      if (!entry || (ing.status?.loadBalancer?.ingress?.length ?? 0) > 0) continue;
      const seen = this.#firstSeen.get(ing.metadata.uid) ?? now;
      this.#firstSeen.set(ing.metadata.uid, seen);
      if (now - seen < this.#delayMs) continue;
      await this.#client.request(
        "PATCH",
        `/apis/networking.k8s.io/v1/namespaces/${ing.metadata.namespace}/ingresses/${ing.metadata.name}/status`,
        {
          body: { status: { loadBalancer: { ingress: [entry] } } },
          contentType: "application/merge-patch+json",
        },
      );
      this.written++;
    }
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
