/**
 * Reads what one CLB has: its listeners with their names, and the targets
 * behind each. Two calls whatever the number of listeners
 * (`DescribeListeners` and `DescribeTargets` for the whole load balancer).
 *
 * @example
 * ```ts
 * const listeners = await scanLoadBalancer(api, writer, "lb-abc123");
 * ```
 * @module
 */

import type { ClbApi } from "./clb_api.ts";
import type { ClbWriter } from "./clb_writer.ts";

/** A target: a Pod IP and port behind a listener. */
export interface CloudTarget {
  ip: string;
  port: number;
}

/** A listener as the cloud has it. */
export interface CloudListener {
  listenerId: string;
  name: string;
  port: number;
  protocol: string;
  targets: CloudTarget[];
}

/** Every listener of `lb` with its targets (retried through the writer's read path). */
export async function scanLoadBalancer(
  api: Pick<ClbApi, "DescribeListeners" | "DescribeTargets">,
  writer: Pick<ClbWriter, "read">,
  lb: string,
): Promise<CloudListener[]> {
  const [listeners, targets] = await Promise.all([
    writer.read("DescribeListeners", () => api.DescribeListeners({ LoadBalancerId: lb })),
    writer.read("DescribeTargets", () => api.DescribeTargets({ LoadBalancerId: lb })),
  ]);
  const byId = new Map<string, CloudTarget[]>();
  for (const l of targets.Listeners ?? []) {
    byId.set(
      l.ListenerId ?? "",
      (l.Targets ?? []).flatMap((t) =>
        (t.PrivateIpAddresses ?? []).map((ip) => ({ ip, port: Number(t.Port) }))
      ),
    );
  }
  return (listeners.Listeners ?? []).map((l) => ({
    listenerId: l.ListenerId ?? "",
    name: l.ListenerName ?? "",
    port: Number(l.Port),
    protocol: l.Protocol ?? "",
    targets: byId.get(l.ListenerId ?? "") ?? [],
  }));
}
