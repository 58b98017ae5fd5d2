/**
 * Fills the fake Tencent Cloud with the recorded CLBs' listeners, once per
 * copy of the recording (renamed as `recording.ts` renames the Pods), so
 * that a gamenet started on the replicated cluster finds every listener it
 * would have made: a restart, not a first start. Written through the real
 * SDK client (49 ports a `CreateListener`, 500 targets a
 * `BatchRegisterTargets`), with the fake's tasks instant while it runs.
 *
 * ```sh
 * deno run --allow-all bench/scale.ts stub   # calls fillCloud before gamenet starts
 * ```
 * @module
 */

import type { FakeTencentCloud } from "../../tests/fakes/tencentcloud/fake_tencent_cloud.ts";
import { clbApiFor } from "../../tests/fakes/tencentcloud/clb_api_for.ts";
import { clbIdOf, podIpOf, type Recording } from "./recording.ts";

const PORTS_PER_CREATE = 49;
const TARGETS_PER_REGISTER = 500;

/** Adds copy `0 … copies-1` of every recorded CLB and its listeners; returns the CLB ids. */
export async function fillCloud(
  cloud: FakeTencentCloud,
  rec: Recording,
  copies: number,
): Promise<string[]> {
  const api = clbApiFor(cloud);
  const taskMs = cloud.taskDurationMs;
  cloud.taskDurationMs = 0;
  const ids: string[] = [];
  try {
    for (let c = 0; c < copies; c++) {
      for (const lb of rec.loadBalancers) {
        const id = clbIdOf(lb.id, c);
        ids.push(id);
        cloud.addLoadBalancer({ id, vip: lb.vip, listenerQuota: lb.listenerQuota });
        const rename = (name: string) =>
          c === 0 ? name : name.replace(/^(gamenet\/[^/]+\/)([^/]+)/, `$1$2-c${c}`);
        for (const protocol of new Set(lb.listeners.map((l) => l.protocol))) {
          const of = lb.listeners.filter((l) => l.protocol === protocol);
          for (let i = 0; i < of.length; i += PORTS_PER_CREATE) {
            const batch = of.slice(i, i + PORTS_PER_CREATE);
            const { ListenerIds } = await api.CreateListener({
              LoadBalancerId: id,
              Protocol: protocol,
              Ports: batch.map((l) => l.port),
              ListenerNames: batch.map((l) => rename(l.name)),
            });
            const targets = batch.flatMap((l, j) =>
              l.targets.map((t) => ({
                ListenerId: ListenerIds![j],
                EniIp: t.eniIp && podIpOf(t.eniIp, c),
                Port: t.port,
                Weight: t.weight,
              }))
            );
            for (let k = 0; k < targets.length; k += TARGETS_PER_REGISTER) {
              await api.BatchRegisterTargets({
                LoadBalancerId: id,
                Targets: targets.slice(k, k + TARGETS_PER_REGISTER),
              });
            }
          }
        }
      }
    }
  } finally {
    cloud.taskDurationMs = taskMs;
  }
  return ids;
}
