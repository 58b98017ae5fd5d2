/**
 * The CLB client, writer and VIP cache of each region a `DedicatedCLBService`
 * names in `lbRegion`: a CLB lives in one region and the API answers
 * `InvalidParameter.LBIdNotFound` to a client of another, so each region
 * gets its own SDK client, and its own {@linkcode ClbWriter} (one write at
 * a time per CLB still holds: a CLB id is in one region only). The region
 * gamenet runs with (`--tencentcloud-region`, or no `lbRegion`) is served
 * by the client, writer and VIPs the `TencentCloud-CLB` type shares; the
 * others are made on first use.
 *
 * @example
 * ```ts
 * const regions = new ClbRegions({
 *   region: "ap-guangzhou",
 *   home: { api, writer, vips },
 *   connect: (region) => createClbApi({ ...credentials, region }),
 * });
 * const { api, writer, vips } = regions.of("ap-chengdu");
 * ```
 * @module
 */

import type { ClbApi, ClbReadApi } from "./clb_api.ts";
import { ClbVips } from "./clb_vips.ts";
import { ClbWriter, type ClbWriterOptions } from "./clb_writer.ts";

/** What gamenet talks to one region's CLBs with. */
export interface ClbRegion {
  api: ClbReadApi;
  writer: ClbWriter;
  vips: ClbVips;
}

/** Options of {@linkcode ClbRegions}. */
export interface ClbRegionsOptions {
  /** The region gamenet runs with (`--tencentcloud-region`); `""` when none was set. */
  region: string;
  /** That region's client, writer and VIPs (shared with the `TencentCloud-CLB` type). */
  home: ClbRegion;
  /**
   * The SDK client of another region.
   * @default {undefined} (one region: every region is answered by `home`)
   */
  connect?: (region: string) => ClbApi;
  /** Options of the other regions' writers. @default {{}} */
  writerOptions?: ClbWriterOptions;
}

/** The regions: see the module documentation. */
export class ClbRegions {
  readonly #home: ClbRegion;
  readonly #region: string;
  readonly #connect?: (region: string) => ClbApi;
  readonly #writerOptions: ClbWriterOptions;
  readonly #others = new Map<string, ClbRegion>();

  constructor(options: ClbRegionsOptions) {
    this.#home = options.home;
    this.#region = options.region;
    this.#connect = options.connect;
    this.#writerOptions = options.writerOptions ?? {};
  }

  /**
   * The client, writer and VIPs of `region` (the home region's when it is
   * empty, missing or the home region itself).
   *
   * @example
   * ```ts
   * await regions.of(dcl.spec.lbRegion).vips.get(dcl.spec.lbId);
   * ```
   */
  of(region?: string): ClbRegion {
    if (!region || region === this.#region || !this.#connect) return this.#home;
    let found = this.#others.get(region);
    if (!found) {
      const api = this.#connect(region);
      const writer = new ClbWriter(api, this.#writerOptions);
      found = { api, writer, vips: new ClbVips(api, writer) };
      this.#others.set(region, found);
    }
    return found;
  }
}
