/**
 * gamenet: gives every game-server Pod its own reachable address.
 *
 * Reads the configuration (flags, environment, optional YAML pools file),
 * builds the network types `providers/mod.ts` lists from it, connects to
 * the API server (as the service account, or as `--kubeconfig` says), and
 * runs the {@linkcode Manager} behind three listeners: plain HTTP
 * (`/healthz`, `/readyz`, `/metrics`, the last behind a bearer-token check
 * with `--metrics-secure`), the debug views on loopback (`/allocations`, its stream, `/ui`)
 * and TLS (the admission webhook).
 * SIGTERM and SIGINT stop it cleanly (a leader hands its Lease over);
 * losing the Lease exits with status 1 so the next start is a clean
 * follower.
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
import { createRegistry, NETWORK_TYPES, sectionsOf, settingsOf } from "./providers/mod.ts";
import type { ProviderRegistry } from "./providers/registry.ts";
import type { Pod } from "./providers/types.ts";
import { createApp, createDebugApp, createWebhookApp } from "./api/app.ts";
import { AllocationsFeed } from "./api/allocations_feed.ts";
import { createMetrics } from "./api/metrics.ts";
import { createKubeReviewer } from "./api/access_reviewer.ts";
import { createMetricsAuth } from "./api/metrics_auth.ts";
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
    console.log(`gamenet ${VERSION}: one address per game-server Pod\n\n${usage(NETWORK_TYPES)}`);
    return 0;
  }

  // The metrics read the manager at scrape time; it exists by then.
  const metrics = createMetrics({
    counts: () => manager.allocationCounts(),
    workqueueDepth: () => manager.queue.depth,
    leader: () => manager.isLeader,
    gameServers: () => manager.gameServerCounts(),
  });
  let config: Config;
  let registry: ProviderRegistry;
  let log: ReturnType<typeof createLogger>;
  try {
    config = await loadConfig(args, env, {
      settings: settingsOf(NETWORK_TYPES),
      sections: sectionsOf(NETWORK_TYPES),
    });
    log = createLogger(config.logLevel);
    registry = createRegistry(NETWORK_TYPES, {
      setting: (flag) => config.settings.get(flag),
      sections: config.sections,
      source: config.configFile ?? "the pools file",
      env,
      log,
      cloudCalls: metrics.cloudCall,
    });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`gamenet: ${err.message}`);
    return 2;
  }
  let client: KubeClient;
  try {
    // Only a kubeconfig loads @kubernetes/client-node (about 80 MB): in a
    // cluster the service account needs none of it.
    client = config.kubeconfig
      ? await KubeClient.fromKubeconfigFile(config.kubeconfig)
      : KubeClient.inCluster();
  } catch (err) {
    console.error(`gamenet: cannot set up the API client: ${(err as Error).message}`);
    return 2;
  }

  let stopWith: (status: number) => void = () => {};
  const stopped = new Promise<number>((resolve) => stopWith = resolve);
  const manager: Manager = new Manager({
    client,
    registry,
    metrics,
    log: log.info,
    debug: log.debug,
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

  const http = Deno.serve(
    {
      hostname: config.httpAddr.hostname,
      port: config.httpAddr.port,
      onListen: (a) => log.info(`HTTP on ${a.hostname}:${a.port}`),
    },
    createApp({
      isReady: () => manager.readiness,
      metrics,
      metricsAuth: config.metricsSecure
        ? createMetricsAuth({ reviewer: createKubeReviewer(client), log: log.warn })
        : undefined,
      log: log.error,
    }).fetch,
  );
  // Every game server and its address: only who may reach the Pod's
  // loopback (kubectl port-forward, guarded by RBAC) reads them.
  const feed = new AllocationsFeed({
    view: () => manager.allocations(),
    version: () => manager.changes,
    log: log.error,
  });
  const debug = Deno.serve(
    {
      hostname: config.debugAddr.hostname,
      port: config.debugAddr.port,
      onListen: (a) => log.info(`Debug HTTP (/allocations, /ui) on ${a.hostname}:${a.port}`),
    },
    createDebugApp({
      allocations: () => manager.allocations(),
      feed,
      pod: (namespace, name) => manager.pod(namespace, name),
      recentEvents: (namespace, name, uid) => manager.recentEvents(namespace, name, uid),
      restoreConflicts: () => manager.restoreConflicts(),
      log: log.error,
    }).fetch,
  );

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
        isReady: () => manager.readiness,
        metrics,
        log: log.error,
        warn: log.warn,
        admit: (req) =>
          manager.admit({
            uid: req.uid,
            namespace: req.namespace ?? "default",
            dryRun: req.dryRun,
            pod: req.object as unknown as Pod,
          }),
      }).fetch,
    });
  } catch (err) {
    console.error(`gamenet: webhook: ${(err as Error).message}`);
    feed.close();
    await Promise.all([http.shutdown(), debug.shutdown()]);
    return 2;
  }
  log.info(`Webhook (TLS) on ${webhook.addr.hostname}:${webhook.addr.port}`);

  const seen: Record<string, number> = {};
  const watchMetrics = setInterval(() => {
    for (const [resource, n] of Object.entries(manager.watchRestarts())) {
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

  log.info(`gamenet ${VERSION} as ${config.identity}`);
  manager.start().catch((err) => {
    log.error(`Start-up failed: ${(err as Error).message}`);
    stopWith(1);
  });

  const status = await stopped;
  for (const [s, h] of signals) Deno.removeSignalListener(s, h);
  clearInterval(watchMetrics);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const clean = await Promise.race([
    (async () => {
      // The webhook closes first: its connections (kept alive, multiplexed)
      // would otherwise keep the API server talking to a replica that only
      // refuses now, instead of reconnecting through the Service to the next.
      await Promise.all([webhook.shutdown(), manager.stop()]);
      // Open streams end here, or the debug listener would wait for them.
      feed.close();
      await Promise.all([http.shutdown(), debug.shutdown()]);
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
