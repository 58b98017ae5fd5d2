/**
 * Game-server workloads for the end-to-end tests: StatefulSets (named
 * Pods, as a GameServerSet makes them) and Deployments (Pods from
 * `generateName`) asking for a network type.
 *
 * @module
 */

import type { KubeClient } from "../../controller/kube_client.ts";
import type { ContainerPort } from "../../providers/types.ts";
import { NETWORK_CONF_ANNOTATION, NETWORK_TYPE_ANNOTATION } from "../../providers/types.ts";

/** A game-server workload. */
export interface GameServerWorkload {
  kind: "StatefulSet" | "Deployment";
  name: string;
  replicas: number;
  networkType: string;
  conf: Record<string, string>;
  ports: ContainerPort[];
  /** @default {"gs"} */
  container?: string;
  labels?: Record<string, string>;
  /** More fields of the game-server container (its image, env, probes). @default {{}} */
  containerFields?: Record<string, unknown>;
}

/** The API path of a workload kind in a namespace. */
export function workloadPath(namespace: string, kind: GameServerWorkload["kind"]): string {
  return `/apis/apps/v1/namespaces/${namespace}/${
    kind === "StatefulSet" ? "statefulsets" : "deployments"
  }`;
}

/** Creates the workload; its Pods carry `app=<name>`. */
export async function createWorkload(
  client: KubeClient,
  namespace: string,
  w: GameServerWorkload,
): Promise<void> {
  const template = {
    metadata: {
      labels: { app: w.name, ...w.labels },
      annotations: {
        [NETWORK_TYPE_ANNOTATION]: w.networkType,
        [NETWORK_CONF_ANNOTATION]: JSON.stringify(
          Object.entries(w.conf).map(([name, value]) => ({ name, value })),
        ),
      },
    },
    spec: {
      terminationGracePeriodSeconds: 0,
      containers: [{
        name: w.container ?? "gs",
        image: "example.invalid/gs:1",
        ports: w.ports,
        ...w.containerFields,
      }],
    },
  };
  const spec = w.kind === "StatefulSet"
    ? {
      replicas: w.replicas,
      serviceName: w.name,
      podManagementPolicy: "Parallel",
      selector: { matchLabels: { app: w.name } },
      template,
    }
    : { replicas: w.replicas, selector: { matchLabels: { app: w.name } }, template };
  await client.request("POST", workloadPath(namespace, w.kind), {
    body: { metadata: { name: w.name }, spec },
  });
}

/** Sets a workload's replica count. */
export async function scaleWorkload(
  client: KubeClient,
  namespace: string,
  kind: GameServerWorkload["kind"],
  name: string,
  replicas: number,
): Promise<void> {
  await client.request("PATCH", `${workloadPath(namespace, kind)}/${name}/scale`, {
    body: { spec: { replicas } },
    contentType: "application/merge-patch+json",
  });
}
