/**
 * gamenet: gives every game-server Pod its own reachable address.
 *
 * Reads the configuration (flags, environment, optional YAML pools file),
 * connects to the API server with a bearer token, builds the allocator and
 * the network types, and runs the {@linkcode Manager} behind two
 * listeners: plain HTTP (`/healthz`, `/readyz`, `/allocations`, `/metrics`)
 * and TLS (the admission webhook). SIGTERM and SIGINT stop it cleanly (a
 * leader hands its Lease over); losing the Lease exits with status 1 so
 * the next start is a clean follower.
 *
 * @example
 * ```sh
 * gamenet --kubeconfig=$HOME/.kube/config --leader-elect=false --host-port-range=8000-9000
 * ```
 * @module
 */

import { ConfigError, loadConfig, usage } from "./controller/config.ts";
import type { Config } from "./controller/config.ts";
import { KubeClient } from "./controller/kube_client.ts";
import { Manager } from "./controller/manager.ts";
import { HostPorts } from "./allocator/host_ports.ts";
import { AllocationError } from "./allocator/errors.ts";
import { createHostPortProvider } from "./providers/kubernetes_host_port.ts";
import { createNoneProvider } from "./providers/kubernetes_none.ts";
import { ProviderRegistry } from "./providers/registry.ts";
import { createTencentClbProvider } from "./providers/tencent_clb.ts";
import { createAlibabaNatGwProvider } from "./providers/alibaba_natgw.ts";
import { type ClbApi, createClbApi, readCredentials } from "./providers/tencent_clb/clb_api.ts";
import { ClbWriter } from "./providers/tencent_clb/clb_writer.ts";
import { unconfiguredClbApi } from "./providers/tencent_clb/unconfigured_api.ts";
import { ClbPools } from "./providers/tencent_clb/clb_pools.ts";
import { ClbVips } from "./providers/tencent_clb/clb_vips.ts";
import { createDedicatedClbExtension } from "./providers/tencent_clb/dedicated_clb.ts";
import type { Pod } from "./providers/types.ts";
import { createApp, createWebhookApp } from "./api/app.ts";
import { createMetrics } from "./api/metrics.ts";
import { serveTls } from "./api/tls_server.ts";

/** gamenet's version, printed by `--version`. */
export const VERSION = "0.1.0";

/** How often watch restarts are copied into the metrics counter. */
const WATCH_METRICS_EVERY_MS = 5_000;
/**
 * Longest clean stop: within Kubernetes' default 30 s grace, so the Lease
 * release and the last status writes are tried but never keep a Pod
 * terminating.
 */
const SHUTDOWN_TIMEOUT_MS = 10_000;

const LEVELS = { debug: 0, info: 1, warn: 2, error: 3 } as const;

/** One line per message, with a timestamp and level, on stderr. */
function createLogger(level: Config["logLevel"]) {
  const at = (l: keyof typeof LEVELS) => (message: string) => {
    if (LEVELS[l] >= LEVELS[level]) {
      console.error(`${new Date().toISOString()} ${l.toUpperCase()} ${message}`);
    }
  };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/**
 * The CLB API from the flags and the credentials (environment or mounted
 * files); without them, an API that tells each `TencentCloud-CLB` Pod what
 * is missing. The credentials are never logged.
 */
function tencentCloudApi(
  config: Config,
  env: Record<string, string>,
  warn: (message: string) => void,
): ClbApi {
  if (!config.tencentcloudRegion) {
    return unconfiguredClbApi(
      "TencentCloud-CLB is not configured: start gamenet with --tencentcloud-region " +
        "(TENCENTCLOUD_REGION) and the credentials TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY",
    );
  }
  let credentials;
  try {
    credentials = readCredentials(env);
  } catch (err) {
    warn(`TencentCloud-CLB: ${(err as Error).message}`);
    return unconfiguredClbApi((err as Error).message);
  }
  const endpoint = config.tencentcloudEndpoint ?? "clb.tencentcloudapi.com";
  const plain = endpoint.startsWith("http://");
  return createClbApi({
    ...credentials,
    region: config.tencentcloudRegion,
    endpoint: endpoint.replace(/^https?:\/\//, ""),
    protocol: plain ? "http://" : "https://",
  });
}

/**
 * Runs gamenet until a signal or a lost Lease; returns the exit status.
 * Bad configuration returns 2 with the reason on stderr before anything
 * connects.
 *
 * @example
 * ```ts
 * Deno.exit(await run(Deno.args, Deno.env.toObject()));
 * ```
 */
export async function run(args: string[], env: Record<string, string>): Promise<number> {
  if (args.includes("--version")) {
    console.log(VERSION);
    return 0;
  }
  if (args.includes("--help") || args.includes("-h")) {
    console.log(`gamenet ${VERSION}: one address per game-server Pod\n\n${usage()}`);
    return 0;
  }

  let config: Config;
  let hostPorts: HostPorts;
  let client: KubeClient;
  try {
    config = await loadConfig(args, env);
    hostPorts = new HostPorts(config.hostPortRanges, { reuseDelayMs: config.reuseDelayMs });
    client = config.kubeconfig
      ? KubeClient.fromKubeconfigFile(config.kubeconfig)
      : KubeClient.inCluster();
  } catch (err) {
    if (err instanceof ConfigError || err instanceof AllocationError) {
      console.error(`gamenet: ${err.message}`);
      return 2;
    }
    console.error(`gamenet: cannot set up the API client: ${(err as Error).message}`);
    return 2;
  }
  const log = createLogger(config.logLevel);

  const clbApi = tencentCloudApi(config, env, log.warn);
  // One writer and one set of pools for both CLB paths: one write at a
  // time per CLB, and no port handed out twice.
  const clbWriter = new ClbWriter(clbApi, { log: log.warn });
  const clbPools = new ClbPools();
  const clbVips = new ClbVips(clbApi, clbWriter);
  const registry = new ProviderRegistry([
    createHostPortProvider({ allocator: hostPorts }),
    createNoneProvider(),
    createAlibabaNatGwProvider({ entryTimeoutMs: config.natgwEntryTimeoutMs }),
    createTencentClbProvider({
      api: clbApi,
      writer: clbWriter,
      pools: clbPools,
      vips: clbVips,
      loadBalancers: config.clbIds,
      sweepEveryMs: config.clbSweepMs,
      log: log.info,
      extension: createDedicatedClbExtension({
        api: clbApi,
        writer: clbWriter,
        pools: clbPools,
        vips: clbVips,
        log: log.info,
      }),
    }),
  ]);
  let stopWith: (status: number) => void = () => {};
  const stopped = new Promise<number>((resolve) => stopWith = resolve);
  // The metrics read the manager at scrape time; it exists by then.
  const metrics = createMetrics({
    view: () => m.allocations(),
    workqueueDepth: () => m.queue.depth,
  });
  const m: Manager = new Manager({
    client,
    registry,
    metrics,
    log: log.info,
    settings: {
      workers: config.workers,
      resyncMs: config.resyncMs,
      admissionGraceMs: config.admissionGraceMs,
      leaderElect: config.leaderElect,
      namespace: config.namespace,
      leaseName: config.leaseName,
      identity: config.identity,
    },
    onLostLeadership: () => {
      log.error("Lost the leader Lease: exiting so that a clean start follows");
      stopWith(1);
    },
  });

  const http = Deno.serve({
    hostname: config.httpAddr.hostname,
    port: config.httpAddr.port,
    onListen: (a) => log.info(`HTTP on ${a.hostname}:${a.port}`),
  }, createApp({ isReady: () => m.readiness, allocations: () => m.allocations(), metrics }).fetch);

  let webhook;
  try {
    webhook = await serveTls({
      hostname: config.webhookAddr.hostname,
      port: config.webhookAddr.port,
      certFile: config.tlsCertFile,
      keyFile: config.tlsKeyFile,
      onError: (err) => log.error(`Webhook TLS: ${err.message}`),
      onReload: () => log.info("Webhook certificate reloaded"),
      handler: createWebhookApp({
        isReady: () => m.readiness,
        metrics,
        log: log.error,
        warn: log.warn,
        admit: (req) =>
          m.admit({
            uid: req.uid,
            namespace: req.namespace ?? "default",
            dryRun: req.dryRun,
            pod: req.object as unknown as Pod,
          }),
      }).fetch,
    });
  } catch (err) {
    console.error(`gamenet: webhook: ${(err as Error).message}`);
    await http.shutdown();
    return 2;
  }
  log.info(`Webhook (TLS) on ${webhook.addr.hostname}:${webhook.addr.port}`);

  const seen: Record<string, number> = {};
  const watchMetrics = setInterval(() => {
    for (const [resource, n] of Object.entries(m.watchRestarts())) {
      if (n > (seen[resource] ?? 0)) {
        metrics.watchRestarts.inc({ resource }, n - (seen[resource] ?? 0));
      }
      seen[resource] = n;
    }
  }, WATCH_METRICS_EVERY_MS);

  const onSignal = (signal: Deno.Signal) => () => {
    log.info(`${signal}: stopping`);
    stopWith(0);
  };
  const signals: [Deno.Signal, () => void][] = [
    ["SIGTERM", onSignal("SIGTERM")],
    ["SIGINT", onSignal("SIGINT")],
  ];
  for (const [s, h] of signals) Deno.addSignalListener(s, h);

  log.info(
    `gamenet ${VERSION} as ${config.identity}; host-port ranges ${
      Object.entries(config.hostPortRanges).map(([n, r]) => `${n}=${r.min}-${r.max}`).join(", ")
    }`,
  );
  m.start().catch((err) => {
    log.error(`Start-up failed: ${(err as Error).message}`);
    stopWith(1);
  });

  const status = await stopped;
  for (const [s, h] of signals) Deno.removeSignalListener(s, h);
  clearInterval(watchMetrics);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const clean = await Promise.race([
    (async () => {
      await m.stop();
      await Promise.all([http.shutdown(), webhook.shutdown()]);
      return true;
    })(),
    new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), SHUTDOWN_TIMEOUT_MS)),
  ]);
  clearTimeout(timer);
  if (clean) log.info("Stopped");
  else log.warn(`Clean stop took over ${SHUTDOWN_TIMEOUT_MS} ms; exiting anyway`);
  return status;
}

if (import.meta.main) {
  Deno.exit(await run(Deno.args, Deno.env.toObject()));
}
