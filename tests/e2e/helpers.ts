/**
 * Shared pieces of the end-to-end tests: polling, namespaces that are
 * ready for Pods, a plain HostPort game server, reading a Pod's
 * NetworkStatus from the API server, and whether a port is reachable from
 * off the machine.
 *
 * @module
 */

import { KubeApiError, type KubeClient } from "../../controller/kube_client.ts";
import {
  NETWORK_CONF_ANNOTATION,
  NETWORK_STATUS_ANNOTATION,
  NETWORK_TYPE_ANNOTATION,
  type NetworkStatus,
  type Pod,
} from "../../providers/types.ts";

/** Polls `check` until it returns a value; fails with the last value or error seen. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 60_000,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`);
}

/** Creates a namespace and waits for its `default` ServiceAccount (Pods need it). */
export async function createNamespace(admin: KubeClient, name: string): Promise<void> {
  await admin.request("POST", "/api/v1/namespaces", { body: { metadata: { name } } });
  await eventually(`ServiceAccount ${name}/default`, async () => {
    try {
      return await admin.request("GET", `/api/v1/namespaces/${name}/serviceaccounts/default`);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  });
}

/** A Pod's NetworkStatus as stored in the API server. */
export function networkStatus(pod: Pod): NetworkStatus | undefined {
  const raw = pod.metadata.annotations?.[NETWORK_STATUS_ANNOTATION];
  return raw ? JSON.parse(raw) : undefined;
}

/** Lists Pods of a namespace. */
export async function listPods(
  client: KubeClient,
  namespace: string,
  labelSelector?: string,
): Promise<Pod[]> {
  const list = await client.request<{ items: Pod[] }>(
    "GET",
    `/api/v1/namespaces/${namespace}/pods`,
    {
      query: { labelSelector },
    },
  );
  return list.items;
}

/** Events about one object. */
export async function eventsFor(
  client: KubeClient,
  namespace: string,
  name: string,
): Promise<{ reason: string; message: string; type: string; count?: number }[]> {
  const list = await client.request<
    { items: { reason: string; message: string; type: string; count?: number }[] }
  >(
    "GET",
    `/api/v1/namespaces/${namespace}/events`,
    { query: { fieldSelector: `involvedObject.name=${name}` } },
  );
  return list.items;
}

/**
 * A bare `Kubernetes-HostPort` game server asking for one UDP port
 * (`gs:7777/UDP`), named `name` or, without one, generated (`gs-…`).
 *
 * @example
 * ```ts
 * await admin.request("POST", `/api/v1/namespaces/${ns}/pods`, { body: hostPortGamePod("gs-a") });
 * ```
 */
export function hostPortGamePod(name?: string): Pod {
  return gamePod("Kubernetes-HostPort", { ContainerPorts: "gs:7777/UDP" }, name);
}

/**
 * A game-server Pod of network `type` with `conf` (name → value), one
 * container `gs` with UDP 7777, deleted at once; named `name`, else `gs-`
 * and a suffix.
 *
 * @example
 * ```ts
 * gamePod("TencentCloud-CLB", { ClbIds: "lb-1", PortProtocols: "7777/UDP" }, "clb-0");
 * ```
 */
export function gamePod(type: string, conf: Record<string, string>, name?: string): Pod {
  return {
    metadata: {
      ...(name ? { name } : { generateName: "gs-" }),
      annotations: {
        [NETWORK_TYPE_ANNOTATION]: type,
        [NETWORK_CONF_ANNOTATION]: JSON.stringify(
          Object.entries(conf).map(([name, value]) => ({ name, value })),
        ),
      },
    },
    spec: {
      terminationGracePeriodSeconds: 0,
      containers: [{
        name: "gs",
        image: "example.invalid/gs:1",
        ports: [{ containerPort: 7777, protocol: "UDP" }],
      }],
    },
    // Pod (gamenet's view) has no grace period; the API server takes it.
  } as Pod;
}

/**
 * An address of this machine that is not loopback (IPv4 first, then a
 * global IPv6 one), or undefined when it has none: what a peer on the
 * network would connect to.
 */
export function nonLoopbackAddress(): string | undefined {
  const all = Deno.networkInterfaces();
  const v4 = all.find((i) => i.family === "IPv4" && !i.address.startsWith("127."));
  // Link-local IPv6 addresses need a zone to connect to: not what a peer uses.
  const v6 = all.find((i) =>
    i.family === "IPv6" && i.address !== "::1" && !/^fe[89ab]/i.test(i.address)
  );
  return (v4 ?? v6)?.address;
}

/** Whether something accepts a TCP connection on `hostname`:`port`. */
export async function acceptsConnections(hostname: string, port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname, port })).close();
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.ConnectionRefused) return false;
    throw err;
  }
}
