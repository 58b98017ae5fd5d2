/**
 * The recorded cluster of `bench/scale.ts real`, replicated `copies`
 * times behind {@linkcode ApiStub} in front of a real control plane, with
 * the fake Tencent Cloud holding every copy's listeners: what `scale.ts
 * stub` measures gamenet against, and what the page's benchmark serves.
 *
 * @example
 * ```ts
 * await using cluster = await StubCluster.start(1); // 20,000 game servers
 * const gamenet = await GamenetProcess.start(cluster.cp, {
 *   inCluster: cluster.inCluster,
 *   ...cluster.cloudArgs,
 * });
 * ```
 * @module
 */

import { log } from "../log.ts";
import { join } from "node:path";
import { ControlPlane } from "../../tests/controlplane/control_plane.ts";
import { createServingCertificate } from "../../tests/controlplane/pki.ts";
import type { InClusterAccess } from "../../tests/e2e/gamenet_process.ts";
import { REPO_ROOT } from "../../tests/controlplane/assets.ts";
import { FakeTencentCloud } from "../../tests/fakes/tencentcloud/fake_tencent_cloud.ts";
import { KubeApiError, type KubeClient } from "../../controller/kube_client.ts";
import { readRecording, replicateNodes, replicatePods } from "./recording.ts";
import { fillCloud } from "./cloud_fill.ts";
import { ApiStub } from "./api_stub.ts";

/** The game servers' namespace in the recording. */
export const GS_NS = "scale-gs";
/** The other Pods' namespace. */
export const OTHER_NS = "scale-other";
/** Where `scale.ts real` records and the stub reads. */
export const RECORDING = join(REPO_ROOT, ".cache", "scale", "recording.json");
/** One CLB per 1,000 CLB Pods (one UDP listener each), ports 501-1500. */
export const CLB_PODS_PER_LB = 1000;

const secondsSince = (t: number) => ((performance.now() - t) / 1000).toFixed(0);

/** Creates a namespace and its `default` ServiceAccount (there is no controller-manager). */
export async function ensureNamespace(admin: KubeClient, name: string): Promise<void> {
  const ignore409 = (err: unknown) => {
    if (!(err instanceof KubeApiError && err.status === 409)) throw err;
  };
  await admin.request("POST", "/api/v1/namespaces", { body: { metadata: { name } } })
    .catch(ignore409);
  await admin.request("POST", `/api/v1/namespaces/${name}/serviceaccounts`, {
    body: { metadata: { name: "default" } },
  }).catch(ignore409);
}

/** See the module documentation. */
export class StubCluster implements AsyncDisposable {
  /** The real control plane behind the stub (Leases, Events, CRDs). */
  readonly cp: ControlPlane;
  readonly cloud: FakeTencentCloud;
  readonly api: ApiStub;
  /** gamenet's kubeconfig, pointing at the stub. */
  readonly kubeconfig: string;
  /** The stub as a Pod of the cluster reaches it: its address, gamenet's token and the CA. */
  readonly inCluster: InClusterAccess;
  /** The CLB ids the game servers use. */
  readonly lbs: string[];
  /** `namespace/name` of every game-server Pod. */
  readonly gameServerKeys: string[];
  readonly otherPods: number;
  readonly nodes: number;

  readonly #stack: AsyncDisposableStack;

  private constructor(
    fields: Omit<StubCluster, "cloudArgs" | "inCluster" | typeof Symbol.asyncDispose>,
    stack: AsyncDisposableStack,
  ) {
    this.#stack = stack;
    this.cp = fields.cp;
    this.cloud = fields.cloud;
    this.api = fields.api;
    this.kubeconfig = fields.kubeconfig;
    this.inCluster = {
      server: fields.api.url,
      token: fields.cp.token("gamenet"),
      caPem: fields.cp.ca.certPem,
    };
    this.lbs = fields.lbs;
    this.gameServerKeys = fields.gameServerKeys;
    this.otherPods = fields.otherPods;
    this.nodes = fields.nodes;
  }

  /** Reads the recording and starts everything; `copies` × its Pods and Nodes. */
  static async start(copies: number, recording = RECORDING): Promise<StubCluster> {
    const rec = await readRecording(recording);
    const cp = await ControlPlane.start({ scheduler: false, controllerManager: false });
    const stack = new AsyncDisposableStack();
    stack.use(cp);
    try {
      const admin = cp.client("admin");
      await ensureNamespace(admin, GS_NS);
      await ensureNamespace(admin, OTHER_NS);
      const cloud = stack.use(
        await FakeTencentCloud.start({
          listenerQuota: CLB_PODS_PER_LB,
          rateLimitPerSecond: 1000,
          taskDurationMs: 20,
        }),
      );
      let t = performance.now();
      const lbs = await fillCloud(cloud, rec, copies);
      log(`fake cloud: ${lbs.length} CLBs filled in ${secondsSince(t)} s`);
      t = performance.now();
      const pods = Array.from({ length: copies }, (_, c) => replicatePods(rec, c)).flat();
      const nodes = replicateNodes(rec, copies);
      let rv = 0;
      for (const p of rec.pods) rv = Math.max(rv, Number(JSON.parse(p).metadata.resourceVersion));
      log(`replicated ${pods.length} Pods on ${nodes.length} nodes in ${secondsSince(t)} s`);
      // HTTPS under the control plane's CA, as the real API server serves.
      const tls = await createServingCertificate(join(cp.dir, "stub"), cp.ca, "api-stub", {
        ipAddresses: ["127.0.0.1"],
      });
      const api = stack.use(ApiStub.start({
        tls,
        pods,
        nodes,
        upstream: cp.client("gamenet"),
        resourceVersion: rv + 1,
      }));
      const kubeconfig = join(cp.dir, "gamenet-stub.kubeconfig");
      await Deno.writeTextFile(kubeconfig, cp.kubeconfig("gamenet").replace(cp.server, api.url));
      const gameServerKeys = api.podKeys.filter((k) => k.startsWith(`${GS_NS}/`));
      return new StubCluster({
        cp,
        cloud,
        api,
        kubeconfig,
        lbs,
        gameServerKeys,
        otherPods: pods.length - gameServerKeys.length,
        nodes: nodes.length,
      }, stack.move());
    } catch (err) {
      await stack.disposeAsync();
      throw err;
    }
  }

  /** gamenet's flags and environment for the fake cloud and its CLBs. */
  get cloudArgs(): { args: string[]; env: Record<string, string> } {
    return this.cloud.gamenetFlags(this.lbs);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#stack.disposeAsync();
  }
}
