/**
 * Tencent Cloud CLB: the `TencentCloud-CLB` network type and the
 * `DedicatedCLBService` / `DedicatedCLBListener` kinds, on one CLB API
 * client, one writer (one write at a time per CLB) and one set of pools
 * (no port handed out twice), built from their flags and the credentials
 * in the environment. Without a region or credentials, every
 * `TencentCloud-CLB` Pod is told what to set.
 *
 * @example
 * ```ts
 * import { tencentClbType } from "./providers/tencent_clb/mod.ts";
 * const [clb] = tencentClbType.create(ctx);
 * ```
 * @module
 */

import type { NetworkType, NetworkTypeContext } from "../network_type.ts";
import { ConfigError, parseDuration } from "../settings.ts";
import { type ClbApi, createClbApi, readCredentials } from "./clb_api.ts";
import { ClbWriter } from "./clb_writer.ts";
import { ClbPools } from "./clb_pools.ts";
import { ClbVips } from "./clb_vips.ts";
import { createDedicatedClbExtension } from "./dedicated_clb.ts";
import { ClbRegions } from "./clb_regions.ts";
import { createClbPortPoolExtension } from "./clb_port_pool.ts";
import { createTencentClbProvider, TENCENT_CLB } from "./tencent_clb.ts";
import { unconfiguredClbApi } from "./unconfigured_api.ts";

export {
  type ClbConf,
  createTencentClbProvider,
  DEFAULT_CLB_PORT_RANGE,
  listenerName,
  TENCENT_CLB,
  type TencentClbOptions,
} from "./tencent_clb.ts";

/** The CLB API's host when none is given. */
export const DEFAULT_TENCENTCLOUD_ENDPOINT = "clb.tencentcloudapi.com";

/** Parses `lb-a,lb-b`. */
export function parseClbIds(text: string): string[] {
  const ids = text.split(",").map((s) => s.trim()).filter(Boolean);
  for (const id of ids) {
    if (!/^lb-[0-9a-z]+$/.test(id)) {
      throw new ConfigError(`--clb-ids "${text}": "${id}" is not a CLB id (like lb-abc123)`);
    }
  }
  return ids;
}

/**
 * The CLB API from the flags and the credentials (environment or mounted
 * files); without them, an API that tells each Pod what is missing. The
 * credentials are never logged.
 */
function tencentCloudApi(ctx: NetworkTypeContext): ClbApi {
  const region = ctx.setting("tencentcloud-region");
  if (!region) {
    return unconfiguredClbApi(
      `${TENCENT_CLB} is not configured: start gamenet with --tencentcloud-region ` +
        "(TENCENTCLOUD_REGION) and the credentials TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY",
    );
  }
  let credentials;
  try {
    credentials = readCredentials(ctx.env);
  } catch (err) {
    ctx.log.warn(`${TENCENT_CLB}: ${(err as Error).message}`);
    return unconfiguredClbApi((err as Error).message);
  }
  const endpoint = ctx.setting("tencentcloud-endpoint") || DEFAULT_TENCENTCLOUD_ENDPOINT;
  return createClbApi({
    ...credentials,
    region,
    endpoint: endpoint.replace(/^https?:\/\//, ""),
    protocol: endpoint.startsWith("http://") ? "http://" : "https://",
    observe: ctx.cloudCalls,
  });
}

/** Tencent Cloud CLB for `providers/mod.ts`. */
export const tencentClbType: NetworkType = {
  title: TENCENT_CLB,
  settings: [
    {
      flag: "tencentcloud-region",
      env: "TENCENTCLOUD_REGION",
      help: "region of the CLBs (credentials: TENCENTCLOUD_SECRET_ID/_KEY or their _FILE)",
      defaultText: "none",
    },
    {
      flag: "tencentcloud-endpoint",
      env: "TENCENTCLOUD_ENDPOINT",
      help: "CLB API host[:port], or http://host:port for a local fake",
      default: DEFAULT_TENCENTCLOUD_ENDPOINT,
    },
    {
      flag: "clb-ids",
      env: "GAMENET_CLB_IDS",
      help: "CLBs (lb-a,lb-b) swept for orphan listeners even when no Pod names them",
      defaultText: "none",
    },
    {
      flag: "clb-sweep",
      env: "GAMENET_CLB_SWEEP",
      help: "read the CLBs back this often (orphan listeners, hand-made changes)",
      default: "60s",
    },
  ],
  create(ctx) {
    const loadBalancers = parseClbIds(ctx.setting("clb-ids") ?? "");
    const sweepEveryMs = parseDuration("--clb-sweep", ctx.setting("clb-sweep")!);
    const api = tencentCloudApi(ctx);
    // One writer and one set of pools for both CLB paths: one write at a
    // time per CLB, and no port handed out twice.
    const writer = new ClbWriter(api, { log: ctx.log.warn });
    const pools = new ClbPools();
    const vips = new ClbVips(api, writer);
    // A DedicatedCLBService's lbRegion: that region's client, from the same
    // endpoint and credentials; gamenet's own region is the one above.
    const regions = new ClbRegions({
      region: ctx.setting("tencentcloud-region") ?? "",
      home: { api, writer, vips },
      connect: (region) =>
        tencentCloudApi({
          ...ctx,
          setting: (flag) => flag === "tencentcloud-region" ? region : ctx.setting(flag),
        }),
      writerOptions: { log: ctx.log.warn },
    });
    return [
      createTencentClbProvider({
        api,
        writer,
        pools,
        vips,
        loadBalancers,
        sweepEveryMs,
        log: ctx.log.info,
        extension: createDedicatedClbExtension({
          api,
          writer,
          pools,
          vips,
          regions,
          log: ctx.log.info,
        }),
        extensions: [
          createClbPortPoolExtension({
            api,
            writer,
            pools,
            region: ctx.setting("tencentcloud-region") ?? "",
            sweepEveryMs,
            log: ctx.log.info,
          }),
        ],
      }),
    ];
  },
};
