/**
 * An open-loop load generator for gamenet's admission webhook: it posts
 * AdmissionReviews straight to the TLS listener at an offered rate, the way
 * the API server does while a burst of Pods is created, and reports the
 * latency seen by the caller. Latency is measured from the moment a review
 * was due, not from when it was sent, so a webhook that falls behind is
 * charged for the wait (no coordinated omission).
 *
 * Run alone it draws gamenet's admission curve: offered load → p50/p99, on
 * a real API server with no other work (the control plane's kube-apiserver
 * and etcd only, no scheduler).
 *
 * ```sh
 * deno run --allow-all bench/admission_load.ts [rates=100,250,500,1000,2000,4000] [seconds=10] [target=gamenet|echo]
 * ```
 *
 * `echo` aims the same load at {@link ./echo_webhook.ts} (answers at once,
 * no API server): the floor of this generator, TLS and the machine.
 * @module
 */

import { ControlPlane } from "../tests/controlplane/control_plane.ts";
import { ensureControlPlaneAssets } from "../tests/controlplane/assets.ts";
import { GamenetProcess, podCreationReview } from "../tests/e2e/gamenet_process.ts";
import { createCertificateAuthority, createServingCertificate } from "../tests/controlplane/pki.ts";
import { startEchoWebhook } from "./echo_webhook.ts";

/** Options of {@linkcode admissionLoad}. */
export interface AdmissionLoadOptions {
  /** The webhook's URL, e.g. `https://127.0.0.1:9443/mutate-pods`. */
  url: string;
  /** The CA that signed the webhook's certificate (PEM). */
  caPem: string;
  /** Reviews offered per second. */
  rate: number;
  /** How long to offer them. */
  durationMs: number;
  /** Reviews waiting for an answer at most; beyond, due reviews wait (and are charged). @default {256} */
  maxInFlight?: number;
  /** The Pod of the `i`-th review. @default {a Kubernetes-HostPort Pod with one UDP port} */
  pod?: (i: number) => unknown;
  /** @default {"default"} */
  namespace?: string;
}

/** What one {@linkcode admissionLoad} run saw. */
export interface AdmissionLoadResult {
  offered: number;
  answered: number;
  /** Answered with `allowed: false`. */
  refused: number;
  /** No answer: connection error, timeout, non-200. */
  failed: number;
  /** Answers per second over the run. */
  achievedRate: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** The review's Pod when none is given: what a GameServerSet's Pod looks like to the webhook. */
export function hostPortPod(i: number): unknown {
  return {
    metadata: {
      generateName: "load-",
      labels: { app: "admission-load", seq: String(i) },
      annotations: {
        "game.kruise.io/network-type": "Kubernetes-HostPort",
        "game.kruise.io/network-conf": '[{"name":"ContainerPorts","value":"gs:7777/UDP"}]',
      },
    },
    spec: { containers: [{ name: "gs", ports: [{ containerPort: 7777, protocol: "UDP" }] }] },
  };
}

/** The `q` quantile (0-1) of `sorted`, nearest rank. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

/**
 * Offers `rate` admission reviews per second for `durationMs` and waits
 * for every answer.
 *
 * @example
 * ```ts
 * const r = await admissionLoad({ url, caPem, rate: 500, durationMs: 10_000 });
 * console.log(r.p99Ms);
 * ```
 */
export async function admissionLoad(options: AdmissionLoadOptions): Promise<AdmissionLoadResult> {
  const maxInFlight = options.maxInFlight ?? 256;
  const pod = options.pod ?? hostPortPod;
  const client = Deno.createHttpClient({ caCerts: [options.caPem] });
  const latencies: number[] = [];
  let refused = 0;
  let failed = 0;
  let inFlight = 0;
  const pending = new Set<Promise<void>>();
  const send = async (i: number, dueAt: number) => {
    try {
      const res = await fetch(options.url, {
        method: "POST",
        client,
        headers: { "content-type": "application/json" },
        body: JSON.stringify(
          podCreationReview(pod(i), options.namespace ?? "default", "admission-load"),
        ),
        signal: AbortSignal.timeout(10_000),
      });
      const body = await res.json();
      if (res.status !== 200) failed++;
      else {
        latencies.push(performance.now() - dueAt);
        if (!body.response?.allowed) refused++;
      }
    } catch {
      failed++;
    }
  };
  const start = performance.now();
  const total = Math.round(options.rate * options.durationMs / 1000);
  let next = 0;
  try {
    while (next < total) {
      const now = performance.now();
      // Every review due by now goes out, as many as the in-flight cap allows.
      while (
        next < total && start + (next * 1000) / options.rate <= now && inFlight < maxInFlight
      ) {
        const dueAt = start + (next * 1000) / options.rate;
        inFlight++;
        const p = send(next++, dueAt).finally(() => {
          inFlight--;
          pending.delete(p);
        });
        pending.add(p);
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all(pending);
  } finally {
    client.close();
  }
  const elapsed = performance.now() - start;
  latencies.sort((a, b) => a - b);
  return {
    offered: total,
    answered: latencies.length,
    refused,
    failed,
    achievedRate: latencies.length / (elapsed / 1000),
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    maxMs: latencies.at(-1) ?? NaN,
  };
}

/** Cumulative bucket counts of a Prometheus histogram, summed over its labels: `le` → count. */
export function histogramBuckets(metricsText: string, name: string): Map<number, number> {
  const buckets = new Map<number, number>();
  for (const line of metricsText.split("\n")) {
    if (!line.startsWith(`${name}_bucket{`)) continue;
    const le = /le="([^"]+)"/.exec(line)?.[1];
    if (le === undefined) continue;
    const bound = le === "+Inf" ? Infinity : Number(le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + Number(line.slice(line.lastIndexOf(" ") + 1)));
  }
  return buckets;
}

/**
 * The `q` quantile of the observations between two readings of a
 * histogram, interpolated linearly inside its bucket as Prometheus'
 * `histogram_quantile` does.
 */
export function histogramQuantile(
  before: Map<number, number>,
  after: Map<number, number>,
  q: number,
): number {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const delta = bounds.map((b) => (after.get(b) ?? 0) - (before.get(b) ?? 0));
  const total = delta.at(-1) ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  for (let i = 0; i < bounds.length; i++) {
    if (delta[i] < rank) continue;
    const lower = i === 0 ? 0 : bounds[i - 1];
    if (bounds[i] === Infinity) return lower;
    const below = i === 0 ? 0 : delta[i - 1];
    const inBucket = delta[i] - below;
    return lower + (bounds[i] - lower) * (inBucket === 0 ? 0 : (rank - below) / inBucket);
  }
  return NaN;
}

/** A webhook to aim at: where it is, and its own histogram's text when it has one. */
interface Target extends AsyncDisposable {
  url: string;
  caPem: string;
  metrics?: () => Promise<string>;
}

async function gamenetTarget(): Promise<Target> {
  await ensureControlPlaneAssets();
  const cp = await ControlPlane.start({ scheduler: false, controllerManager: false });
  const gamenet = await GamenetProcess.start(cp, { args: ["--workers=8"] });
  await gamenet.waitReady();
  return {
    ...gamenet.webhookTarget(),
    metrics: () => gamenet.metrics(),
    async [Symbol.asyncDispose]() {
      await gamenet[Symbol.asyncDispose]();
      await cp[Symbol.asyncDispose]();
    },
  };
}

async function echoTarget(): Promise<Target> {
  const dir = await Deno.makeTempDir({ prefix: "admission-load-" });
  const ca = await createCertificateAuthority(dir, "ca");
  const serving = await createServingCertificate(dir, ca, "echo", { ipAddresses: ["127.0.0.1"] });
  const echo = await startEchoWebhook(serving.certFile, serving.keyFile);
  return {
    url: `https://127.0.0.1:${echo.port}/mutate-pods`,
    caPem: ca.certPem,
    async [Symbol.asyncDispose]() {
      await echo[Symbol.asyncDispose]();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

if (import.meta.main) {
  const rates = (Deno.args[0] ?? "100,250,500,1000,2000,4000").split(",").map(Number);
  const seconds = Number(Deno.args[1] ?? 10);
  await using target = Deno.args[2] === "echo" ? await echoTarget() : await gamenetTarget();
  const webhook = { url: target.url, caPem: target.caPem };
  const histogram = async () =>
    target.metrics
      ? histogramBuckets(await target.metrics(), "gamenet_webhook_duration_seconds")
      : new Map<number, number>();
  // A short warm-up so the first rate does not pay for JIT and connection set-up.
  await admissionLoad({ ...webhook, rate: 200, durationMs: 2_000 });
  console.log(
    "| offered/s | answered/s | p50 | p99 | max | webhook histogram p50 / p99 | refused | failed |",
  );
  console.log("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const rate of rates) {
    const before = await histogram();
    const r = await admissionLoad({ ...webhook, rate, durationMs: seconds * 1000 });
    const after = await histogram();
    const ms = (s: number) => Number.isNaN(s) ? "—" : `${(s * 1000).toFixed(1)} ms`;
    console.log(
      `| ${rate} | ${r.achievedRate.toFixed(0)} | ${r.p50Ms.toFixed(1)} ms | ${
        r.p99Ms.toFixed(1)
      } ms | ${r.maxMs.toFixed(1)} ms | ${ms(histogramQuantile(before, after, 0.5))} / ${
        ms(histogramQuantile(before, after, 0.99))
      } | ${r.refused} | ${r.failed} |`,
    );
  }
}
