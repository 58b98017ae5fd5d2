/**
 * What gamenet ships is what runs: gamenet started exactly as the plain
 * Deployment of `deploy/` and the chart's default render start it (args,
 * environment, the ConfigMap's pools file, the TLS Secret and service
 * account at their paths, the image's permissions; see `shipped_pod.ts`),
 * and as README's pools example configures it, must become ready and give
 * a Pod of every range it configures a host port in that range; its
 * `/metrics` asks for a token and its `/allocations` keeps to loopback. The
 * shipped pools file once made gamenet exit with status 2 (two ranges
 * sharing port 9000) while the manifests applied cleanly.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { ControlPlane } from "../controlplane/control_plane.ts";
import { KubeletStandIn } from "../controlplane/kubelet_standin.ts";
import { REPO_ROOT } from "../controlplane/assets.ts";
import type { KubeClient } from "../../controller/kube_client.ts";
import { loadConfig } from "../../controller/config.ts";
import { NETWORK_TYPES, sectionsOf, settingsOf } from "../../providers/mod.ts";
import {
  NETWORK_CONF_ANNOTATION,
  NETWORK_TYPE_ANNOTATION,
  type Pod,
} from "../../providers/types.ts";
import { GamenetProcess } from "./gamenet_process.ts";
import {
  acceptsConnections,
  createNamespace,
  eventually,
  networkStatus,
  nonLoopbackAddress,
} from "./helpers.ts";
import { deployObjects, ensureHelm, renderChart } from "./manifests.ts";
import { type ShippedPod, shippedPod, startShippedPod } from "./shipped_pod.ts";

const NS = "shipped-e2e";

/** The pools file a shipped Pod mounts at `--config`. */
function poolsFileOf(pod: ShippedPod): string {
  const configArg = pod.args.find((a) => a.startsWith("--config="))!.slice("--config=".length);
  const mount = pod.volumeMounts.find((m) => configArg.startsWith(`${m.mountPath}/`));
  assert.ok(mount, `${pod.source}: --config=${configArg} is on no volume`);
  const volume = pod.volumes.find((v) => v.name === mount.name)!;
  const file = configArg.slice(mount.mountPath.length + 1);
  const text = pod.configMaps[volume.configMap?.name]?.[file];
  assert.ok(text, `${pod.source}: the ConfigMap of volume ${mount.name} has no ${file}`);
  return text;
}

/** `name: "min-max"` of a pools file's host-port ranges. */
function rangesOf(poolsFile: string): [string, number, number][] {
  const ranges = parseYaml(poolsFile).hostPort.ranges as Record<string, string>;
  return Object.entries(ranges).map(([name, text]) => {
    const [min, max] = text.split("-").map(Number);
    return [name, min, max];
  });
}

/** Creates one UDP game server per range and checks it gets a host port there and turns Ready. */
async function serveEveryRange(
  admin: KubeClient,
  ranges: [string, number, number][],
  prefix: string,
): Promise<void> {
  for (const [name, min, max] of ranges) {
    const podName = `${prefix}-${name}`;
    const pod: Pod = {
      metadata: {
        name: podName,
        annotations: {
          [NETWORK_TYPE_ANNOTATION]: "Kubernetes-HostPort",
          [NETWORK_CONF_ANNOTATION]: JSON.stringify([
            { name: "ContainerPorts", value: "gs:7777/UDP" },
            { name: "PortRange", value: name },
          ]),
        },
      },
      spec: {
        containers: [{
          name: "gs",
          image: "example.invalid/gs:1",
          ports: [{ containerPort: 7777, protocol: "UDP" }],
        }],
      },
    };
    const created = await admin.request<Pod>("POST", `/api/v1/namespaces/${NS}/pods`, {
      body: pod,
    });
    const hostPort = created.spec!.containers[0].ports![0].hostPort!;
    assert.ok(
      hostPort >= min && hostPort <= max,
      `${podName}: host port ${hostPort} outside range ${name} (${min}-${max})`,
    );
    const status = await eventually(`${podName} Ready`, async () => {
      const p = await admin.request<Pod>("GET", `/api/v1/namespaces/${NS}/pods/${podName}`);
      const s = networkStatus(p);
      return s?.currentNetworkState === "Ready" ? s : undefined;
    });
    assert.equal(status.externalAddresses[0].ports[0].port, hostPort);
  }
}

/**
 * The shipped args guard `/metrics` (a token is asked for, and the shipped
 * role lets gamenet review one) and keep `/allocations` on loopback.
 */
async function holdsMetricsAndAllocations(cp: ControlPlane, gamenet: GamenetProcess) {
  assert.equal((await gamenet.get("/metrics").then(drain)).status, 401);
  // system:masters may get every URL.
  const res = await gamenet.get("/metrics", { authorization: `Bearer ${cp.token("admin")}` });
  assert.equal(res.status, 200, await res.clone().text());
  assert.match(await res.text(), /^gamenet_workqueue_depth \d+$/m);
  const address = nonLoopbackAddress();
  if (address) {
    assert.ok(await acceptsConnections(address, gamenet.httpPort));
    assert.equal(await acceptsConnections(address, gamenet.debugPort), false);
  }
}

async function drain(res: Response): Promise<Response> {
  await res.body?.cancel();
  return res;
}

Deno.test("shipped: gamenet runs as deploy/, the chart and README configure it, and serves every range", async (t) => {
  const helm = await ensureHelm();
  await using cp = await ControlPlane.start();
  const admin = cp.client("admin");
  await using kubelet = new KubeletStandIn(admin);
  await kubelet.addNodes(1);
  kubelet.start();
  await createNamespace(admin, NS);

  const shipped = [
    shippedPod(await deployObjects(), "deploy/"),
    shippedPod(await renderChart(helm), "the chart"),
  ];
  for (const [n, pod] of shipped.entries()) {
    await t.step(
      `${pod.source}: its Pod becomes ready and serves each range of its pools file`,
      async () => {
        const ranges = rangesOf(poolsFileOf(pod));
        assert.ok(ranges.length >= 2, `${pod.source} ships ${ranges.length} range(s)`);
        await using gamenet = await startShippedPod(cp, pod, `gamenet-shipped-${n}`);
        await gamenet.waitReady(90_000);
        const allocations = await (await gamenet.debugGet("/allocations")).json();
        const names = new Set(allocations.pools.map((p: { rangeName: string }) => p.rangeName));
        assert.deepEqual([...names].sort(), ranges.map(([name]) => name).sort());
        await holdsMetricsAndAllocations(cp, gamenet);
        await serveEveryRange(admin, ranges, `shipped-${n}`);
      },
    );
  }

  const readme = await Deno.readTextFile(join(REPO_ROOT, "README.md"));
  const poolsExample = /The pools file[^\n]*\n\n```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(poolsExample, "README shows a pools file after 'The pools file'");

  await t.step("README's pools file: gamenet starts with it and serves each range", async () => {
    const file = join(cp.dir, "readme-pools.yaml");
    await Deno.writeTextFile(file, poolsExample);
    const ranges = rangesOf(poolsExample);
    assert.ok(ranges.length >= 2);
    await using gamenet = await GamenetProcess.start(cp, {
      identity: "gamenet-readme",
      args: [`--config=${file}`],
    });
    await gamenet.waitReady(90_000);
    await serveEveryRange(admin, ranges, "readme");
  });

  await t.step("main.ts's example command line is accepted", async () => {
    const source = await Deno.readTextFile(join(REPO_ROOT, "main.ts"));
    const line = /^ \* gamenet (--.*)$/m.exec(source)?.[1];
    assert.ok(line, "main.ts shows how gamenet is started");
    const args = line.replaceAll("$HOME", "/home/player").split(/\s+/);
    const config = await loadConfig([...args, "--config="], {}, {
      settings: settingsOf(NETWORK_TYPES),
      sections: sectionsOf(NETWORK_TYPES),
    });
    assert.equal(config.kubeconfig, "/home/player/.kube/config");
    assert.equal(config.leaderElect, false);
    assert.equal(config.settings.get("host-port-range"), "8000-9000");
  });
});
