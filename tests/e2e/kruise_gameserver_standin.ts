/**
 * A stand-in for the part of OpenKruiseGame's GameServer controller that
 * writes `GameServer.status.networkStatus`: `syncNetworkStatus` in
 * `pkg/controllers/gameserver/gameserver_manager.go` (kruise-game), run on
 * every change of a Pod or GameServer as its Reconcile is, with its
 * requeue every 5 s (`NETWORK_PROBE_INTERVAL_TIME`) while the desired and
 * current network states differ, for at most 60 s
 * (`NETWORK_TOTAL_WAIT_TIME`). What it writes, and when:
 *
 * - a GameServer with no networkStatus: `networkType` from the Pod's
 *   annotation, desired `Ready`, `createTime` and `lastTransitionTime` now;
 * - a Pod without a network-status annotation: current `NotReady`,
 *   `lastTransitionTime` now;
 * - otherwise the Pod's addresses and current state, its own times kept;
 *   the desired state from the `game.kruise.io/network-disabled` label
 *   (Go's ParseBool), `lastTransitionTime` now when that changes;
 * - a status merge patch only when the result differs (`reflect.DeepEqual`),
 *   marshalled as Go does (`omitempty`).
 *
 * It counts its writes, so a test can tell two controllers apart.
 *
 * @example
 * ```ts
 * await using okg = new KruiseGameServerStandIn(admin, "games");
 * okg.start();
 * ```
 * @module
 */

import type { KubeClient } from "../../controller/kube_client.ts";
import { type KubeObject, objectKey, Reflector } from "../../controller/reflector.ts";
import { readPodStatus, sameStatus } from "../../controller/status_writer.ts";
import {
  NETWORK_DISABLED_LABEL,
  NETWORK_TYPE_ANNOTATION,
  type NetworkStatus,
  type Pod,
} from "../../providers/types.ts";

// deno-lint-ignore no-explicit-any
type Obj = Record<string, any>;

const PROBE_INTERVAL_MS = 5_000;
const TOTAL_WAIT_MS = 60_000;

/** Seconds, as `metav1.Now()` marshals. */
const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, "Z");

/** Go's `json.Marshal` of NetworkStatus: empty `omitempty` fields are left out. */
function marshal(s: Partial<NetworkStatus>): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(s)) {
    if (v === undefined || v === "" || (Array.isArray(v) && v.length === 0)) continue;
    out[k] = v;
  }
  return out;
}

/** The stand-in: see the module documentation. */
export class KruiseGameServerStandIn implements AsyncDisposable {
  readonly #client: KubeClient;
  readonly #pods: Reflector<Pod & KubeObject>;
  readonly #gameServers: Reflector<Obj & KubeObject>;
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  #chain = Promise.resolve();
  /** Status patches it made. */
  writes = 0;

  constructor(client: KubeClient, namespace: string) {
    this.#client = client;
    const queue = (key: string) => this.#enqueue(key);
    this.#pods = new Reflector(client, { path: `/api/v1/namespaces/${namespace}/pods` }, {
      onAdd: (p) => queue(objectKey(p)),
      onUpdate: (_o, p) => queue(objectKey(p)),
    });
    this.#gameServers = new Reflector(client, {
      path: `/apis/game.kruise.io/v1alpha1/namespaces/${namespace}/gameservers`,
    }, {
      onAdd: (g) => queue(objectKey(g)),
      onUpdate: (_o, g) => queue(objectKey(g)),
    });
  }

  /** Starts watching. */
  start(): void {
    this.#pods.start();
    this.#gameServers.start();
  }

  /** One reconcile at a time, as a single-worker controller. */
  #enqueue(key: string): void {
    this.#chain = this.#chain.then(() => this.#reconcile(key)).catch(() => {});
  }

  async #reconcile(key: string): Promise<void> {
    const pod = this.#pods.get(key);
    const gs = this.#gameServers.get(key);
    if (!pod || !gs?.metadata) return;
    const old: Partial<NetworkStatus> = gs.status?.networkStatus ?? {};
    const next = this.#sync(pod, old);
    if (!sameStatus(marshal(old), marshal(next))) {
      await this.#client.request(
        "PATCH",
        `/apis/game.kruise.io/v1alpha1/namespaces/${gs.metadata.namespace}/gameservers/${gs.metadata.name}/status`,
        {
          contentType: "application/merge-patch+json",
          body: { status: { networkStatus: marshal(next) } },
        },
      );
      this.writes++;
    }
    const waited = Date.now() - Date.parse(next.lastTransitionTime ?? "");
    if (next.desiredNetworkState !== next.currentNetworkState && waited < TOTAL_WAIT_MS) {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        this.#enqueue(key);
      }, PROBE_INTERVAL_MS);
      this.#timers.add(timer);
    }
  }

  /** `syncNetworkStatus`, line by line. */
  #sync(pod: Pod, gsStatus: Partial<NetworkStatus>): Partial<NetworkStatus> {
    const type = pod.metadata.annotations?.[NETWORK_TYPE_ANNOTATION];
    if (type === undefined) return {};
    if (Object.keys(marshal(gsStatus)).length === 0) {
      return {
        networkType: type,
        desiredNetworkState: "Ready",
        createTime: now(),
        lastTransitionTime: now(),
      };
    }
    const podStatus = readPodStatus(pod);
    const next = { ...gsStatus };
    if (!podStatus) {
      next.currentNetworkState = "NotReady";
      next.lastTransitionTime = now();
      return next;
    }
    next.internalAddresses = podStatus.internalAddresses;
    next.externalAddresses = podStatus.externalAddresses;
    next.currentNetworkState = podStatus.currentNetworkState;
    const disabled = ["1", "t", "T", "TRUE", "true", "True"].includes(
      pod.metadata.labels?.[NETWORK_DISABLED_LABEL] ?? "",
    );
    const desired = disabled ? "NotReady" : "Ready";
    if (next.desiredNetworkState !== desired) {
      next.desiredNetworkState = desired;
      next.lastTransitionTime = now();
    }
    return next;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    await Promise.all([this.#pods.stop(), this.#gameServers.stop()]);
    await this.#chain;
  }
}
