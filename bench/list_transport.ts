/**
 * What the transport costs a full Pod LIST: the same pages (500 Pods each,
 * read and `JSON.parse`d as gamenet's reflector reads them) over plain
 * HTTP, HTTPS with HTTP/2 (what `fetch` negotiates, and what gamenet uses)
 * and HTTPS with HTTP/1.1, alternating, each run on a fresh connection.
 *
 * - `stub`: the scale recording replicated `copies` times behind
 *   `scale/api_stub.ts`, served from a process of its own (as in
 *   `scale.ts stub`, whose start it explains).
 * - `real`: the real kube-apiserver holding the recording's Pods (copy 0,
 *   POSTed once; no plain HTTP there).
 *
 * ```sh
 * deno run --allow-all bench/list_transport.ts stub [copies=5] [runs=5]
 * deno run --allow-all bench/list_transport.ts real [runs=5]
 * ```
 * @module
 */

import { log } from "./log.ts";
import { quantile } from "./admission_load.ts";
import process from "node:process";
import { KubeClient } from "../controller/kube_client.ts";
import { ControlPlane } from "../tests/controlplane/control_plane.ts";
import { createCertificateAuthority, createServingCertificate } from "../tests/controlplane/pki.ts";
import { ApiStub } from "./scale/api_stub.ts";
import { readRecording, replicateNodes, replicatePods } from "./scale/recording.ts";
import { ensureNamespace, GS_NS, OTHER_NS, RECORDING } from "./scale/stub_cluster.ts";

type Transport = "http" | "https-h2" | "https-h1";

interface Run {
  transport: Transport;
  pods: number;
  /** Characters of JSON read (the bodies are ASCII: bytes). */
  bytes: number;
  wallMs: number;
  cpuMs: number;
}

const PAGE_SIZE = 500;
const POSTS_IN_FLIGHT = 16;

/** Lists every Pod page by page on a connection of its own. */
async function listOnce(
  server: string,
  transport: Transport,
  auth: { token: string; caPem?: string },
): Promise<Run> {
  const http = Deno.createHttpClient({
    caCerts: auth.caPem ? [auth.caPem] : undefined,
    ...(transport === "https-h1" ? { http1: true, http2: false } : {}),
  });
  try {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let pods = 0;
    let bytes = 0;
    let cont = "";
    do {
      const url = new URL("/api/v1/pods", server);
      url.searchParams.set("limit", String(PAGE_SIZE));
      if (cont) url.searchParams.set("continue", cont);
      const res = await fetch(url, {
        client: http,
        headers: { authorization: `Bearer ${auth.token}`, accept: "application/json" },
      });
      if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
      const text = await res.text();
      bytes += text.length;
      const page = JSON.parse(text) as { metadata: { continue?: string }; items: unknown[] };
      pods += page.items.length;
      cont = page.metadata.continue ?? "";
    } while (cont);
    const cpu = process.cpuUsage(cpu0);
    return {
      transport,
      pods,
      bytes,
      wallMs: performance.now() - t0,
      cpuMs: (cpu.user + cpu.system) / 1000,
    };
  } finally {
    http.close();
  }
}

/**
 * The middle run: nearest rank, as the admission bench reads its quantiles
 * (the lower middle of an even count).
 */
const median = (xs: number[]) => quantile([...xs].sort((a, b) => a - b), 0.5);

async function measure(
  transports: Record<Transport, string | undefined>,
  auth: { token: string; caPem?: string },
  runs: number,
): Promise<void> {
  const all: Run[] = [];
  for (let i = 0; i < runs; i++) {
    for (const [transport, server] of Object.entries(transports)) {
      if (!server) continue;
      const run = await listOnce(server, transport as Transport, auth);
      log(
        `${transport}: ${run.pods} Pods (${(run.bytes / 1e6).toFixed(0)} MB) in ${
          run.wallMs.toFixed(0)
        } ms, client CPU ${run.cpuMs.toFixed(0)} ms`,
      );
      all.push(run);
    }
  }
  for (const transport of Object.keys(transports) as Transport[]) {
    const mine = all.filter((r) => r.transport === transport);
    if (mine.length === 0) continue;
    console.log(
      `${transport.padEnd(8)} median of ${mine.length}: ${
        (median(mine.map((r) => r.wallMs)) / 1000).toFixed(2)
      } s, ${(median(mine.map((r) => r.wallMs / r.bytes)) * 1e6).toFixed(1)} ms/MB, client CPU ${
        (median(mine.map((r) => r.cpuMs)) / 1000).toFixed(2)
      } s (${mine.map((r) => (r.wallMs / 1000).toFixed(1)).join(" / ")} s)`,
    );
  }
}

/** Runs the stub in this process (the `serve` mode), printing its URL. */
async function serve(copies: number, tls: string | undefined): Promise<void> {
  const rec = await readRecording(RECORDING);
  const pair = tls ? JSON.parse(tls) as { certPem: string; keyPem: string } : undefined;
  const api = ApiStub.start({
    pods: Array.from({ length: copies }, (_, c) => replicatePods(rec, c)).flat(),
    nodes: replicateNodes(rec, copies),
    // Nothing is proxied: only the Pod LIST is asked for.
    upstream: new KubeClient({ server: "http://127.0.0.1:9", token: "unused" }),
    tls: pair,
  });
  console.log(api.url);
  await new Promise(() => {});
}

/** Starts a stub process; resolves with its URL and the process. */
async function startStub(copies: number, tls?: { certPem: string; keyPem: string }) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", import.meta.filename!, "serve", String(copies)],
    env: tls ? { LIST_TRANSPORT_TLS: JSON.stringify(tls) } : {},
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the stub process ended before it served");
    text += value;
  }
  return { url: text.trim(), child, reader };
}

async function stub(copies: number, runs: number): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "gamenet-list-" });
  try {
    const ca = await createCertificateAuthority(dir, "ca");
    const tls = await createServingCertificate(dir, ca, "api-stub", { ipAddresses: ["127.0.0.1"] });
    const plain = await startStub(copies);
    const secure = await startStub(copies, tls);
    try {
      log(
        `stubs with ${copies} copies of the recording: ${plain.url}, ${secure.url}`,
      );
      await measure(
        {
          "http": plain.url,
          "https-h2": secure.url,
          "https-h1": secure.url,
        },
        { token: "any", caPem: ca.certPem },
        runs,
      );
    } finally {
      for (const s of [plain, secure]) {
        s.child.kill("SIGTERM");
        await s.child.status;
        await s.reader.cancel();
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function real(runs: number): Promise<void> {
  const rec = await readRecording(RECORDING);
  await using cp = await ControlPlane.start({ scheduler: false, controllerManager: false });
  const admin = cp.client("admin");
  await ensureNamespace(admin, GS_NS);
  await ensureNamespace(admin, OTHER_NS);
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: POSTS_IN_FLIGHT }, async () => {
    const client = cp.client("admin");
    while (next < rec.pods.length) {
      const pod = JSON.parse(rec.pods[next++]);
      const { name, namespace, labels, annotations } = pod.metadata;
      await client.request("POST", `/api/v1/namespaces/${namespace}/pods`, {
        body: { metadata: { name, labels, annotations }, spec: pod.spec },
      });
    }
  }));
  log(`${rec.pods.length} Pods POSTed in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  await measure(
    { "http": undefined, "https-h2": cp.server, "https-h1": cp.server },
    { token: cp.token("admin"), caPem: cp.ca.certPem },
    runs,
  );
}

const [mode, ...rest] = Deno.args;
if (mode === "serve") await serve(Number(rest[0]), Deno.env.get("LIST_TRANSPORT_TLS"));
else if (mode === "stub") await stub(Number(rest[0] ?? 5), Number(rest[1] ?? 5));
else if (mode === "real") await real(Number(rest[0] ?? 5));
else throw new Error(`usage: list_transport.ts stub [copies] [runs] | real [runs]; not ${mode}`);
