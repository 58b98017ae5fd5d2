/**
 * What the CLB port-pool end-to-end tests share: the shipped CRDs applied
 * and served, gamenet started as a process against the fake Tencent Cloud
 * with the shipped flags, a StatefulSet whose Pods carry TKE's mapping
 * annotations, and reads of the bindings and pools.
 *
 * @example
 * ```ts
 * await applyClbCrds(admin);
 * const gamenet = await startClbGamenet(cp, cloud);
 * await admin.request("POST", path, { body: portMappedStatefulSet("gs", "ns", 3, "7000 TCPUDP pool-a") });
 * ```
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import type { ControlPlane } from "../controlplane/control_plane.ts";
import { applyManifests } from "../controlplane/apply.ts";
import { REPO_ROOT } from "../controlplane/assets.ts";
import type { FakeTencentCloud } from "../fakes/tencentcloud/fake_tencent_cloud.ts";
import type { KubeClient } from "../../controller/kube_client.ts";
import { eventually } from "./helpers.ts";
import { GamenetProcess } from "./gamenet_process.ts";
import {
  ENABLE_PORT_MAPPING_ANNOTATION,
  type MappingResult,
  PORT_MAPPING_ANNOTATION,
} from "../../providers/tencent_clb/port_mapping.ts";
import { bindingListenerName } from "../../providers/tencent_clb/clb_port_pool.ts";
import type { Pod } from "../../providers/types.ts";

/** The CRDs' API path. */
export const CLB_GROUP = "/apis/networking.cloud.tencent.com/v1alpha1";

/** Applies every CRD of `deploy/crds` and waits until the port-pool kinds are served. */
export async function applyClbCrds(admin: KubeClient): Promise<void> {
  for (const file of Deno.readDirSync(join(REPO_ROOT, "deploy", "crds"))) {
    await applyManifests(
      admin,
      await Deno.readTextFile(join(REPO_ROOT, "deploy", "crds", file.name)),
    );
  }
  await eventually("the CRDs to be served", async () => {
    const list = await admin.request<{ resources: { name: string }[] }>("GET", CLB_GROUP);
    return ["clbportpools", "clbpodbindings"].every((r) =>
      list.resources.some((x) => x.name === r)
    ) || undefined;
  });
}

/** gamenet against `cloud`, sweeping every `sweepSeconds`; resolves once it leads. */
export async function startClbGamenet(
  cp: ControlPlane,
  cloud: FakeTencentCloud,
  sweepSeconds = 5,
): Promise<GamenetProcess> {
  const { args, env } = cloud.gamenetFlags();
  const gamenet = await GamenetProcess.start(cp, {
    args: [...args, `--clb-sweep=${sweepSeconds}s`],
    env,
  });
  await gamenet.waitReady(60_000);
  return gamenet;
}

/** A StatefulSet (Pods made in parallel) whose Pods ask for `mapping`. */
export function portMappedStatefulSet(
  name: string,
  ns: string,
  replicas: number,
  mapping: string,
  enable = "true",
) {
  return {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: { name, namespace: ns },
    spec: {
      selector: { matchLabels: { app: name } },
      serviceName: name,
      replicas,
      podManagementPolicy: "Parallel",
      template: {
        metadata: {
          labels: { app: name },
          annotations: {
            [ENABLE_PORT_MAPPING_ANNOTATION]: enable,
            [PORT_MAPPING_ANNOTATION]: mapping,
          },
        },
        spec: { containers: [{ name: "gameserver", image: "your-gameserver-image" }] },
      },
    },
  };
}

/** A `CLBPodBinding` as the tests read it. */
export interface Binding {
  metadata: { name: string; finalizers?: string[] };
  status?: {
    state?: string;
    message?: string;
    portBindings?: {
      port: number;
      protocol: string;
      pool: string;
      loadbalancerId: string;
      loadbalancerPort: number;
      listenerId: string;
    }[];
  };
}

/** The bindings of a namespace. */
export async function bindings(admin: KubeClient, ns: string): Promise<Binding[]> {
  return (await admin.request<{ items: Binding[] }>(
    "GET",
    `${CLB_GROUP}/namespaces/${ns}/clbpodbindings`,
  )).items;
}

/** A `CLBPortPool`'s status as the tests read it. */
export interface PoolStatus {
  state?: string;
  quota?: number;
  message?: string;
  loadbalancerStatuses?: {
    loadbalancerID: string;
    autoCreated?: boolean;
    allocated: number;
    ips?: string[];
  }[];
}

/** A pool's status. */
export async function poolStatus(admin: KubeClient, name: string): Promise<PoolStatus | undefined> {
  return (await admin.request<{ status?: PoolStatus }>("GET", `${CLB_GROUP}/clbportpools/${name}`))
    .status;
}

/** A listener of the fake cloud and the CLB it is on. */
type CloudListener =
  & NonNullable<ReturnType<FakeTencentCloud["loadBalancer"]>>["listeners"][number]
  & {
    lb: string;
  };

/**
 * One of `pod`'s port-mapping results against the cloud: a listener of
 * the fake with that CLB, port, protocol and name, the Pod's IP:port its
 * only target, its address the CLB's VIP; no CLB port given twice (`seen`
 * collects them across Pods). Throws what does not hold yet.
 */
export function checkResult(
  cloud: FakeTencentCloud,
  listeners: CloudListener[],
  seen: Set<string>,
  pod: Pod,
  r: MappingResult,
): void {
  const where = `${r.loadbalancerId}:${r.loadbalancerPort}/${r.protocol}`;
  assert.ok(!seen.has(where), `${where} given twice`);
  seen.add(where);
  const l = listeners.find((x) => x.listenerId === r.listenerId);
  if (!l) throw new Error(`${pod.metadata.name}: no listener ${r.listenerId}`);
  assert.deepEqual([l.lb, l.port, l.protocol, l.name], [
    r.loadbalancerId,
    r.loadbalancerPort,
    r.protocol,
    bindingListenerName(pod.metadata.namespace!, pod.metadata.name!, r.port, r.protocol),
  ]);
  const targets = l.targets.map((t) => `${t.eniIp}:${t.port}`).join();
  if (targets !== `${pod.status?.podIP}:${r.port}`) {
    throw new Error(`${pod.metadata.name}: ${where} targets ${targets}`);
  }
  assert.equal(r.address, `${cloud.loadBalancer(r.loadbalancerId)!.vip}:${r.loadbalancerPort}`);
}
