/**
 * What `bench/scale.ts` records of a real API server once gamenet has
 * reconciled every Pod (the Pods and Nodes as the API server serialises
 * them, `managedFields` and all, and the fake cloud's listeners), and how
 * it is replicated into a larger cluster for the stub API server: each
 * copy renames Pods, UIDs, nodes, node and Pod IPs and CLB ids, so that the
 * bytes stay the API server's own and no host port collides.
 *
 * A copy `c` of the Pods of source node `k` (of `nodes`) goes to nodes
 * `k + nodes × (2c + p)`, `p` the parity of the Pod's place on its node:
 * every target node holds Pods of one source node only, whose host ports
 * were already distinct there, and `copies` copies spread over
 * `2 × copies × nodes` nodes.
 *
 * ```sh
 * deno run --allow-all bench/scale.ts real   # writes the recording the stub run reads
 * ```
 * @module
 */

import type { KubeClient } from "../../controller/kube_client.ts";
import { OWNER_ANNOTATION } from "../../providers/types.ts";

/** The recorded state of one real run. */
export interface Recording {
  /** Source nodes, named `node-1` … `node-{nodes}` in registration order. */
  nodes: number;
  /** Each Pod as the API server's list item (JSON text, no `kind`). */
  pods: string[];
  /** Each Node as the API server's list item (JSON text). */
  nodeItems: string[];
  /** The fake cloud's CLBs with their listeners, as `FakeTencentCloud.loadBalancers()` gave them. */
  loadBalancers: RecordedLoadBalancer[];
}

/** A CLB of the recording: its listeners and their targets. */
export interface RecordedLoadBalancer {
  id: string;
  vip: string;
  listenerQuota: number;
  listeners: {
    name: string;
    protocol: string;
    port: number;
    targets: { eniIp?: string; port: number; weight?: number }[];
  }[];
}

/** One copy's renaming of a recorded object. */
export interface Renamed {
  json: string;
  key: string;
  /** The old node IP / Pod IP → the new one, for the CLB targets. */
  podIp?: [string, string];
}

/** Reads the recording at `path`; when there is none, says how to make it. */
export async function readRecording(path: string): Promise<Recording> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new Error(`${path}: run \`bench/scale.ts real\` first to record it`, { cause: err });
  }
  return JSON.parse(text) as Recording;
}

/** Lists `path` page by page and keeps every item's JSON text. */
export async function listItems(client: KubeClient, path: string): Promise<string[]> {
  const out: string[] = [];
  let cont: string | undefined;
  do {
    const page = await client.request<{ metadata: { continue?: string }; items: unknown[] }>(
      "GET",
      path,
      { query: { limit: 500, continue: cont } },
    );
    for (const item of page.items) out.push(JSON.stringify(item));
    cont = page.metadata.continue || undefined;
  } while (cont);
  return out;
}

/** The addresses `KubeletStandIn` gives its `n`-th node. */
export function nodeIps(n: number): { internal: string; external: string } {
  const hi = Math.floor(n / 250);
  const lo = (n % 250) + 1;
  return { internal: `172.18.${hi}.${lo}`, external: `203.0.${hi}.${lo}` };
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/** `token` where it is not part of a longer name or address. */
const exact = (token: string) => new RegExp(`(?<![\\w.-])${escape(token)}(?![\\w])`, "g");

/** The CLB id of copy `c` (copy 0 keeps the recorded ids). */
export function clbIdOf(id: string, c: number): string {
  return c === 0 ? id : id.replace(/^lb-/, `lb-c${c}`);
}

/** A UID of copy `c`: its first eight hex digits are `c`'s. */
function copyUid(uid: string, c: number): string {
  return `${c.toString(16).padStart(8, "0")}${uid.slice(8)}`;
}

/** A Pod IP of copy `c`: the second octet moves by `c` (the recording's Pods are in 10.128/16). */
export function podIpOf(ip: string, c: number): string {
  const [a, b, ...rest] = ip.split(".");
  return [a, Number(b) + c, ...rest].join(".");
}

/**
 * Copy `c` of the recorded Pods: new names (`-c{c}` suffix), UIDs, owners
 * (the admission UID gamenet stamped), nodes, node IPs, Pod IPs and CLB
 * ids; copy 0 keeps the names but still moves half its Pods to the odd
 * nodes.
 */
export function replicatePods(rec: Recording, c: number): Renamed[] {
  const placeOnNode = new Map<string, number>();
  const out: Renamed[] = [];
  for (const json of rec.pods) {
    const pod = JSON.parse(json) as {
      metadata: {
        name: string;
        namespace: string;
        uid: string;
        annotations?: Record<string, string>;
      };
      spec: { nodeName?: string };
      status?: { podIP?: string; hostIP?: string };
    };
    const { name, namespace, uid } = pod.metadata;
    const node = pod.spec.nodeName;
    let text = json;
    let newName = name;
    if (c > 0) {
      newName = `${name}-c${c}`;
      text = text.replace(exact(name), newName);
      text = text.replaceAll(uid, copyUid(uid, c));
      // gamenet names a Pod's owner by its admission's UID: copies sharing
      // it would be one owner on several nodes, which no real cluster has.
      const admission = pod.metadata.annotations?.[OWNER_ANNOTATION]?.match(/^admission\/(.+)$/);
      if (admission) text = text.replaceAll(admission[1], copyUid(admission[1], c));
    }
    let podIp: [string, string] | undefined;
    if (pod.status?.podIP) {
      const ip = pod.status.podIP;
      podIp = [ip, podIpOf(ip, c)];
      if (c > 0) text = text.replace(exact(ip), podIp[1]);
    }
    if (node) {
      const k = Number(node.slice("node-".length));
      const place = placeOnNode.get(node) ?? 0;
      placeOnNode.set(node, place + 1);
      const target = k + rec.nodes * (2 * c + (place % 2));
      if (target !== k) {
        const from = nodeIps(k);
        const to = nodeIps(target);
        text = text.replace(exact(node), `node-${target}`)
          .replace(exact(from.internal), to.internal)
          .replace(exact(from.external), to.external);
      }
    }
    if (c > 0) {
      for (const lb of rec.loadBalancers) text = text.replace(exact(lb.id), clbIdOf(lb.id, c));
    }
    out.push({ json: text, key: `${namespace}/${newName}`, podIp });
  }
  return out;
}

/** The recorded nodes spread to `2 × copies × nodes`: node `k`'s JSON with name and IPs renamed. */
export function replicateNodes(rec: Recording, copies: number): Renamed[] {
  const out: Renamed[] = [];
  for (const json of rec.nodeItems) {
    const node = JSON.parse(json) as { metadata: { name: string; uid: string } };
    const name = node.metadata.name;
    const k = Number(name.slice("node-".length));
    if (!Number.isInteger(k)) continue;
    for (let m = 0; m < 2 * copies; m++) {
      const target = k + rec.nodes * m;
      let text = json;
      if (m > 0) {
        const from = nodeIps(k);
        const to = nodeIps(target);
        text = text.replace(exact(name), `node-${target}`)
          .replace(exact(from.internal), to.internal)
          .replace(exact(from.external), to.external)
          .replaceAll(node.metadata.uid, copyUid(node.metadata.uid, m));
      }
      out.push({ json: text, key: `node-${target}` });
    }
  }
  return out;
}
