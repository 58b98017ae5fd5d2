/**
 * The per-CLB listener quota, read once from `DescribeQuota` into the
 * shared {@linkcode ClbPools} so that allocation moves on to the next CLB
 * instead of asking one that is full (the cloud answers `LimitExceeded`).
 *
 * @example
 * ```ts
 * await loadListenerQuota(api, writer, pools); // pools.listenerQuota === 50
 * ```
 * @module
 */

import type { ClbApi } from "./clb_api.ts";
import type { ClbPools } from "./clb_pools.ts";
import type { ClbWriter } from "./clb_writer.ts";

const loading = new WeakMap<ClbPools, Promise<void>>();

/** Reads the quota once per `pools` (a failed read is tried again next time). */
export function loadListenerQuota(
  api: Pick<ClbApi, "DescribeQuota">,
  writer: Pick<ClbWriter, "read">,
  pools: ClbPools,
): Promise<void> {
  let done = loading.get(pools);
  if (!done) {
    done = writer.read("DescribeQuota", () => api.DescribeQuota()).then((res) => {
      const limit = res.QuotaSet?.find((q) => q.QuotaId === "TOTAL_LISTENER_QUOTA")?.QuotaLimit;
      if (typeof limit === "number" && limit > 0) pools.listenerQuota = limit;
    });
    done.catch(() => loading.delete(pools));
    loading.set(pools, done);
  }
  return done;
}
