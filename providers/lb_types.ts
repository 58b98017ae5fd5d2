/**
 * The load-balancer types of `lb_service.ts` for `providers/mod.ts`, with
 * their settings: each product's port range and blocked ports (the
 * `min_port`, `max_port` and `block_ports` of OpenKruiseGame's provider
 * config, with the values it ships), and the reuse delay and address
 * timeout they share. `AlibabaCloud-NLB` and `AlibabaCloud-Multi-NLBs`
 * draw from one set of pools: they may name the same NLBs.
 *
 * @example
 * ```ts
 * const providers = cloudLbType.create(ctx); // SLB, NLB, Multi-NLBs, Volcengine-CLB
 * ```
 * @module
 */

import { PoolSet } from "../allocator/mod.ts";
import type { NetworkType, NetworkTypeContext } from "./network_type.ts";
import { ConfigError, parseDuration, parseRange } from "./settings.ts";
import { createLbServiceProvider, type LbSettings } from "./lb_service.ts";
import { multiNlbsFlavor, nlbFlavor, slbFlavor } from "./alibaba_lb.ts";
import { volcengineClbFlavor } from "./volcengine_clb.ts";

/** Parses `593,1025`: ports never handed out. */
export function parseBlockPorts(what: string, text: string): number[] {
  const ports = text.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  const bad = ports.find((p) => !Number.isInteger(p) || p < 1 || p > 65535);
  if (bad !== undefined) {
    throw new ConfigError(`${what} "${text}": write ports like 593,1025`);
  }
  return ports;
}

function settingsOf(ctx: NetworkTypeContext, product: string): LbSettings {
  const range = parseRange(`--${product}-port-range`, ctx.setting(`${product}-port-range`)!);
  const blockPorts = parseBlockPorts(
    `--${product}-block-ports`,
    ctx.setting(`${product}-block-ports`) ?? "",
  );
  return {
    range,
    blockPorts,
    reuseDelayMs: parseDuration("--lb-reuse-delay", ctx.setting("lb-reuse-delay")!),
    addressTimeoutMs: parseDuration("--lb-address-timeout", ctx.setting("lb-address-timeout")!),
  };
}

function rangeSettings(
  product: string,
  env: string,
  range: string,
  blocked: string,
  title: string,
) {
  return [
    {
      flag: `${product}-port-range`,
      env: `GAMENET_${env}_PORT_RANGE`,
      help: `${title}: the listener ports gamenet hands out on each load balancer`,
      default: range,
    },
    {
      flag: `${product}-block-ports`,
      env: `GAMENET_${env}_BLOCK_PORTS`,
      help: `${title}: ports in that range never handed out`,
      default: blocked,
    },
  ];
}

/** `AlibabaCloud-SLB`, `AlibabaCloud-NLB`, `AlibabaCloud-Multi-NLBs` and `Volcengine-CLB`. */
export const cloudLbType: NetworkType = {
  title: "AlibabaCloud-SLB, AlibabaCloud-NLB, AlibabaCloud-Multi-NLBs, Volcengine-CLB",
  settings: [
    ...rangeSettings("slb", "SLB", "500-700", "593", "AlibabaCloud-SLB"),
    ...rangeSettings(
      "nlb",
      "NLB",
      "1000-1502",
      "1025,1068,1434",
      "AlibabaCloud-NLB and Multi-NLBs",
    ),
    ...rangeSettings("volcengine-clb", "VOLCENGINE_CLB", "550-599", "593", "Volcengine-CLB"),
    {
      flag: "lb-reuse-delay",
      env: "GAMENET_LB_REUSE_DELAY",
      help: "a load-balancer port freed waits this long (the CCM removes its listener)",
      default: "10s",
    },
    {
      flag: "lb-address-timeout",
      env: "GAMENET_LB_ADDRESS_TIMEOUT",
      help: "a load-balancer Service the CCM gave no address after this: an Event on the Pod",
      default: "2m",
    },
  ],
  create(ctx) {
    const slb = settingsOf(ctx, "slb");
    const nlb = settingsOf(ctx, "nlb");
    const volcengine = settingsOf(ctx, "volcengine-clb");
    const nlbPools = new PoolSet(nlb.range.min, nlb.range.max, { reuseDelayMs: nlb.reuseDelayMs });
    return [
      createLbServiceProvider(slbFlavor, slb),
      createLbServiceProvider(nlbFlavor, { ...nlb, pools: nlbPools }),
      createLbServiceProvider(multiNlbsFlavor, { ...nlb, pools: nlbPools }),
      createLbServiceProvider(volcengineClbFlavor, volcengine),
    ];
  },
};
