/**
 * The VIPs of CLBs, read once per CLB and shared: lookups asked in the
 * same moment (a restart reconciling every Pod) share one
 * `DescribeLoadBalancers` call of up to 20 ids, so the cloud sees one call
 * per batch of CLBs, not one per Pod.
 *
 * @example
 * ```ts
 * const vips = new ClbVips(api, writer);
 * await vips.get("lb-abc123"); // "203.0.113.7"
 * ```
 * @module
 */

import { ConfError } from "../types.ts";
import type { ClbApi } from "./clb_api.ts";
import type { ClbWriter } from "./clb_writer.ts";

/** The API's limit on `LoadBalancerIds`. */
const IDS_PER_CALL = 20;

/** The cache: see the module documentation. */
export class ClbVips {
  readonly #api: Pick<ClbApi, "DescribeLoadBalancers">;
  readonly #writer: Pick<ClbWriter, "read">;
  readonly #known = new Map<string, Promise<string>>();
  #pending = new Map<string, { resolve: (vip: string) => void; reject: (e: Error) => void }>();

  constructor(api: Pick<ClbApi, "DescribeLoadBalancers">, writer: Pick<ClbWriter, "read">) {
    this.#api = api;
    this.#writer = writer;
  }

  /**
   * The VIP of `lb`.
   * @throws {ConfError} `ClbNotFound` when the region has no such CLB (not remembered).
   */
  get(lb: string): Promise<string> {
    let vip = this.#known.get(lb);
    if (!vip) {
      vip = new Promise<string>((resolve, reject) => {
        if (this.#pending.size === 0) queueMicrotask(() => this.#flush());
        this.#pending.set(lb, { resolve, reject });
      });
      // A failure (unknown CLB, throttling) is asked again next time.
      vip.catch(() => this.#known.delete(lb));
      this.#known.set(lb, vip);
    }
    return vip;
  }

  async #flush(): Promise<void> {
    const batch = this.#pending;
    this.#pending = new Map();
    const ids = [...batch.keys()];
    for (let i = 0; i < ids.length; i += IDS_PER_CALL) {
      const chunk = ids.slice(i, i + IDS_PER_CALL);
      try {
        const res = await this.#writer.read(
          "DescribeLoadBalancers",
          () => this.#api.DescribeLoadBalancers({ LoadBalancerIds: chunk }),
        );
        const found = new Map(
          (res.LoadBalancerSet ?? []).map((lb) => [lb.LoadBalancerId, lb.LoadBalancerVips?.[0]]),
        );
        for (const id of chunk) {
          const vip = found.get(id);
          if (vip) batch.get(id)!.resolve(vip);
          else {
            batch.get(id)!.reject(
              new ConfError(
                `CLB ${id} does not exist in this region (or has no VIP): check the CLB ids`,
                "ClbNotFound",
              ),
            );
          }
        }
      } catch (err) {
        for (const id of chunk) batch.get(id)!.reject(err as Error);
      }
    }
  }
}
