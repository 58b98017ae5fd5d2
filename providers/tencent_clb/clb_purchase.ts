/**
 * Buys CLBs for `CLBPortPool`s with `autoCreate`, and only as many as
 * needed: once per shortage, never beyond `maxLoadBalancers`, and never
 * twice for one purchase whatever happens in between.
 *
 * - Each purchase has a `ClientToken` made of the pool's UID and the
 *   purchase's number (the count bought so far + 1): a call repeated
 *   after a lost answer, or by a gamenet restarted in the middle, returns
 *   the same CLB instead of buying another.
 * - Each CLB bought carries the tags `gamenet.io/clbportpool=<pool>` and
 *   `gamenet.io/created-by=gamenet` besides the pool's own: the count is
 *   read back from the cloud, not only from the pool's status, so a
 *   status write lost in a crash does not make gamenet buy again.
 * - One purchase at a time per pool; two pools short at once buy one each.
 *
 * When its pool is deleted, a bought CLB is deleted once no listener is
 * left on it (the sweep looks); CLBs the user gave are never deleted.
 *
 * @example
 * ```ts
 * const purchase = new ClbPurchase(api, writer);
 * await purchase.buyFor(poolObject, spec, 0); // { bought: "lb-new1" }
 * ```
 * @module
 */

import type { ExtensionContext, ExtensionObject } from "../extension.ts";
import type { ClbWriter } from "./clb_writer.ts";
import type { PortPoolSpec } from "./port_pool_spec.ts";

/** The tag naming the pool a CLB was bought for. */
export const POOL_TAG_KEY = "gamenet.io/clbportpool";
/** The tag saying gamenet bought it. */
export const CREATED_BY_TAG_KEY = "gamenet.io/created-by";

/** The cloud calls a purchase makes. */
export interface PurchaseApi {
  CreateLoadBalancer(req: Record<string, unknown>): Promise<{ LoadBalancerIds?: string[] }>;
  DeleteLoadBalancer(req: { LoadBalancerIds: string[] }): Promise<unknown>;
  DescribeLoadBalancers(req: {
    Filters?: { Name: string; Values: string[] }[];
    Limit?: number;
  }): Promise<{
    LoadBalancerSet?: {
      LoadBalancerId?: string;
      Tags?: { TagKey?: string; TagValue?: string }[];
    }[];
  }>;
  DescribeListeners(req: { LoadBalancerId: string }): Promise<{ Listeners?: unknown[] }>;
}

/** What one look at a short pool did. */
export interface PurchaseOutcome {
  /** The CLB bought (or found bought by an earlier try). */
  bought?: string;
  /** Why nothing was bought, for the pool's status. */
  message?: string;
}

/** Failed purchases (each spends its token) before a shortage is reported instead. */
const MAX_TOKENS_PER_PURCHASE = 5;

/** TKE's `autoCreate.parameters` names whose API name is not just capitalised. */
const PARAMETER_NAMES: Record<string, string> = {
  lbChargeType: "LBChargeType",
};

/** The purchaser: see the module documentation. */
export class ClbPurchase {
  readonly #api: PurchaseApi;
  readonly #writer: Pick<ClbWriter, "read">;
  readonly #log: (message: string) => void;
  readonly #inFlight = new Map<string, Promise<PurchaseOutcome>>();
  /** CLBs found tagged for each pool (read once, then kept up to date here). */
  readonly #tagged = new Map<string, Set<string>>();

  constructor(
    api: PurchaseApi,
    writer: Pick<ClbWriter, "read">,
    options: { log?: (message: string) => void } = {},
  ) {
    this.#api = api;
    this.#writer = writer;
    this.#log = options.log ?? (() => {});
  }

  /** The CLBs the cloud says were bought for `pool`. */
  async boughtFor(pool: string): Promise<string[]> {
    let ids = this.#tagged.get(pool);
    if (!ids) {
      const res = await this.#writer.read(
        "DescribeLoadBalancers",
        () =>
          this.#api.DescribeLoadBalancers({
            Filters: [{ Name: `tag:${POOL_TAG_KEY}`, Values: [pool] }],
            Limit: 100,
          }),
      );
      ids = new Set(
        (res.LoadBalancerSet ?? []).map((lb) => lb.LoadBalancerId ?? "").filter(Boolean),
      );
      this.#tagged.set(pool, ids);
    }
    return [...ids];
  }

  /**
   * Buys the pool's next CLB unless `maxLoadBalancers` is reached; `count`
   * is how many were bought for it so far. One at a time per pool.
   */
  buyFor(obj: ExtensionObject, spec: PortPoolSpec, count: number): Promise<PurchaseOutcome> {
    const pool = spec.name;
    let running = this.#inFlight.get(pool);
    if (!running) {
      running = this.#buy(obj, spec, count).finally(() => this.#inFlight.delete(pool));
      this.#inFlight.set(pool, running);
    }
    return running;
  }

  async #buy(obj: ExtensionObject, spec: PortPoolSpec, count: number): Promise<PurchaseOutcome> {
    const max = spec.autoCreate?.maxLoadBalancers;
    if (max !== undefined && count >= max) {
      return {
        message: `no listener port left and autoCreate.maxLoadBalancers ${max} reached ` +
          `(${count} bought): Pods wait (NoPortAvailable) until ports are released or the limit raised`,
      };
    }
    const request = createRequest(spec.autoCreate?.parameters ?? {}, spec.name);
    // Idempotent across lost answers and restarts: the same purchase, the same
    // token. A token spent on a purchase the cloud failed is not taken again,
    // so the next one is tried, in order: a restart walks the same tokens and
    // gets back the CLB a later one bought instead of buying another.
    const base = `gamenet-${obj.metadata.uid ?? spec.name}-${count + 1}`.slice(0, 56);
    for (let attempt = 0; attempt < MAX_TOKENS_PER_PURCHASE; attempt++) {
      request.ClientToken = attempt === 0 ? base : `${base}-r${attempt}`;
      try {
        const res = await this.#writer.read(
          "CreateLoadBalancer",
          () => this.#api.CreateLoadBalancer(request),
        );
        const id = res.LoadBalancerIds?.[0];
        if (!id) return { message: "CreateLoadBalancer answered no CLB id" };
        let ids = this.#tagged.get(spec.name);
        if (!ids) this.#tagged.set(spec.name, ids = new Set());
        ids.add(id);
        this.#log(`CLBPortPool ${spec.name}: bought CLB ${id} (purchase ${count + 1})`);
        return { bought: id };
      } catch (err) {
        if ((err as { code?: string }).code === "InvalidParameter.ClientTokenLimitExceeded") {
          continue;
        }
        const message = `create clb failed: ${(err as Error).message}`;
        this.#log(`CLBPortPool ${spec.name}: ${message}`);
        return { message };
      }
    }
    return {
      message: `create clb failed: ${MAX_TOKENS_PER_PURCHASE} purchases failed in the cloud`,
    };
  }

  /**
   * Deletes CLBs gamenet bought for pools that are gone (not in `pools`)
   * once no listener is left on them and gamenet holds no port there.
   */
  async collect(
    ctx: Pick<ExtensionContext, "get">,
    inUse: (id: string) => boolean,
    pools: readonly string[],
  ): Promise<void> {
    const res = await this.#writer.read(
      "DescribeLoadBalancers",
      () =>
        this.#api.DescribeLoadBalancers({
          Filters: [{ Name: "tag-key", Values: [POOL_TAG_KEY] }],
          Limit: 100,
        }),
    );
    for (const lb of res.LoadBalancerSet ?? []) {
      const id = lb.LoadBalancerId;
      const pool = lb.Tags?.find((t) => t.TagKey === POOL_TAG_KEY)?.TagValue;
      const ours = lb.Tags?.some((t) =>
        t.TagKey === CREATED_BY_TAG_KEY && t.TagValue === "gamenet"
      );
      if (!id || !pool || !ours || pools.includes(pool) || ctx.get("clbportpools", pool)) continue;
      if (inUse(id)) continue;
      const listeners = await this.#writer.read(
        "DescribeListeners",
        () => this.#api.DescribeListeners({ LoadBalancerId: id }),
      );
      if ((listeners.Listeners ?? []).length > 0) continue;
      this.#log(`CLB ${id}: bought for CLBPortPool ${pool}, which is gone, and empty: deleting it`);
      await this.#writer.read(
        "DeleteLoadBalancer",
        () => this.#api.DeleteLoadBalancer({ LoadBalancerIds: [id] }),
      );
      this.#tagged.get(pool)?.delete(id);
    }
  }
}

/**
 * TKE's `autoCreate.parameters` (lowerCamel, as its CRD spells them) as
 * `CreateLoadBalancer`'s request (UpperCamel), with gamenet's tags added.
 *
 * @example
 * ```ts
 * createRequest({ vipIsp: "CTCC", internetAccessible: { internetMaxBandwidthOut: 100 } }, "pool-ctcc");
 * // { LoadBalancerType: "OPEN", VipIsp: "CTCC", InternetAccessible: { InternetMaxBandwidthOut: 100 }, Tags: [...], Number: 1 }
 * ```
 */
export function createRequest(
  parameters: Record<string, unknown>,
  pool: string,
): Record<string, unknown> {
  const upper = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(upper);
    if (value && typeof value === "object") {
      return Object.fromEntries(
        Object.entries(value).map(([k, v]) => [
          PARAMETER_NAMES[k] ?? k[0].toUpperCase() + k.slice(1),
          upper(v),
        ]),
      );
    }
    return value;
  };
  const request = upper(parameters) as Record<string, unknown>;
  const tags = (request.Tags as { TagKey: string; TagValue: string }[] | undefined) ?? [];
  return {
    LoadBalancerType: "OPEN",
    ...request,
    Number: 1,
    Tags: [
      ...tags.filter((t) => t.TagKey !== POOL_TAG_KEY && t.TagKey !== CREATED_BY_TAG_KEY),
      { TagKey: POOL_TAG_KEY, TagValue: pool },
      { TagKey: CREATED_BY_TAG_KEY, TagValue: "gamenet" },
    ],
  };
}
