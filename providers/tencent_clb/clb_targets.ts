/**
 * The targets behind listeners, read a whole CLB at a time: the asks that
 * arrive within `lingerMs` of each other share one `DescribeTargets` of
 * their CLB, so a burst of new `DedicatedCLBListener`s costs a read per
 * CLB, not one per listener (240 listeners made 830 calls against a limit
 * of 20 per second). An ask never joins a read already sent: it may have
 * been answered before the ask's listener existed.
 *
 * @example
 * ```ts
 * const targets = new ClbTargets(api, writer);
 * await targets.of("lb-abc123", "lbl-1"); // [{ ip: "10.0.0.7", port: 7777 }]
 * ```
 * @module
 */

import type { ClbApi } from "./clb_api.ts";
import type { ClbWriter } from "./clb_writer.ts";
import type { CloudTarget } from "./clb_scan.ts";

/** Options of {@linkcode ClbTargets}. */
export interface ClbTargetsOptions {
  /** How long the first ask waits for others of its CLB. @default {20} */
  lingerMs?: number;
}

/** The reader: see the module documentation. */
export class ClbTargets {
  readonly #api: Pick<ClbApi, "DescribeTargets">;
  readonly #writer: Pick<ClbWriter, "read">;
  readonly #lingerMs: number;
  /** Per CLB, the read that has not been sent yet. */
  readonly #waiting = new Map<string, Promise<Map<string, CloudTarget[]>>>();

  constructor(
    api: Pick<ClbApi, "DescribeTargets">,
    writer: Pick<ClbWriter, "read">,
    options: ClbTargetsOptions = {},
  ) {
    this.#api = api;
    this.#writer = writer;
    this.#lingerMs = options.lingerMs ?? 20;
  }

  /**
   * The targets of `listenerId` on `lb` (none when the CLB does not list it).
   *
   * @example
   * ```ts
   * const have = await targets.of(dcl.spec.lbId, dcl.status.listenerId);
   * ```
   */
  async of(lb: string, listenerId: string): Promise<CloudTarget[]> {
    let read = this.#waiting.get(lb);
    if (!read) {
      read = this.#read(lb);
      this.#waiting.set(lb, read);
    }
    return (await read).get(listenerId) ?? [];
  }

  async #read(lb: string): Promise<Map<string, CloudTarget[]>> {
    await new Promise((resolve) => setTimeout(resolve, this.#lingerMs));
    // Sent from here on: later asks start a read of their own.
    this.#waiting.delete(lb);
    const res = await this.#writer.read(
      "DescribeTargets",
      () => this.#api.DescribeTargets({ LoadBalancerId: lb }),
    );
    const out = new Map<string, CloudTarget[]>();
    for (const l of res.Listeners ?? []) {
      out.set(
        l.ListenerId ?? "",
        (l.Targets ?? []).flatMap((t) =>
          (t.PrivateIpAddresses ?? []).map((ip) => ({ ip, port: Number(t.Port) }))
        ),
      );
    }
    return out;
  }
}
