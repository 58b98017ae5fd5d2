/**
 * The cheapest mutating webhook there can be: a process that answers
 * every AdmissionReview "allowed" at once, over TLS. A burst with it
 * registered in gamenet's place measures what calling any webhook costs
 * the API server on this machine, which gamenet's own admission cannot
 * go below.
 *
 * With `mutate`, it answers with a patch of the shape gamenet gives a
 * HostPort Pod (its owner and first network status annotations, and each
 * container's ports with a host port), still without any work of its own:
 * what the API server's applying of such a patch costs, apart from
 * gamenet.
 *
 * ```sh
 * deno run --allow-net --allow-read bench/echo_webhook.ts <port> <cert.pem> <key.pem> [mutate]
 * ```
 * @module
 */

import { NETWORK_STATUS_ANNOTATION, OWNER_ANNOTATION } from "../providers/types.ts";

/** A running echo webhook process. */
export interface EchoWebhook extends AsyncDisposable {
  port: number;
}

/**
 * Starts the echo webhook as a process of its own (as gamenet is one), on
 * a free port, serving `certFile`/`keyFile`; resolves once it listens.
 *
 * @example
 * ```ts
 * await using echo = await startEchoWebhook(serving.certFile, serving.keyFile);
 * ```
 */
export async function startEchoWebhook(
  certFile: string,
  keyFile: string,
  options: { mutate?: boolean } = {},
): Promise<EchoWebhook> {
  // A port free now (the child binds it next); no harness import here, the child runs this file.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      new URL(import.meta.url).pathname,
      String(port),
      certFile,
      keyFile,
      ...(options.mutate ? ["mutate"] : []),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const { done } = await reader.read();
  reader.releaseLock();
  if (done) throw new Error(`the echo webhook exited: ${(await child.status).code}`);
  return {
    port,
    async [Symbol.asyncDispose]() {
      child.kill("SIGKILL");
      await child.status;
      await child.stdout.cancel().catch(() => {});
    },
  };
}

// deno-lint-ignore no-explicit-any
type Obj = Record<string, any>;

let nextHostPort = 0;

/** The patch gamenet's admission gives `pod` (a HostPort Pod), with made-up values. */
function gamenetShapedPatch(pod: Obj, uid: string): Obj[] {
  const annotation = (name: string) => `/metadata/annotations/${name.replace("/", "~1")}`;
  const patch: Obj[] = pod.metadata.annotations ? [] : [{
    op: "add",
    path: "/metadata/annotations",
    value: {},
  }];
  patch.push({
    op: "add",
    path: annotation(OWNER_ANNOTATION),
    value: `admission/${uid}`,
  });
  patch.push({
    op: "add",
    path: annotation(NETWORK_STATUS_ANNOTATION),
    value: JSON.stringify({
      currentNetworkState: "Waiting",
      desiredNetworkState: "Ready",
      createTime: new Date().toISOString(),
      lastTransitionTime: new Date().toISOString(),
    }),
  });
  (pod.spec.containers as Obj[]).forEach((c, i) => {
    if (!c.ports) return;
    const hostPort = 8000 + (nextHostPort++ % 1000);
    patch.push({
      op: "add",
      path: `/spec/containers/${i}/ports`,
      value: (c.ports as Obj[]).map((p) => ({ ...p, hostPort })),
    });
  });
  return patch;
}

if (import.meta.main) {
  const [port, certFile, keyFile, mode] = Deno.args;
  Deno.serve({
    hostname: "127.0.0.1",
    port: Number(port),
    cert: await Deno.readTextFile(certFile),
    key: await Deno.readTextFile(keyFile),
    onListen: () => console.log("listening"),
  }, async (req) => {
    const review = await req.json();
    const { uid, object } = review.request;
    const patch = mode === "mutate" && object ? gamenetShapedPatch(object, uid) : undefined;
    return Response.json({
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: {
        uid,
        allowed: true,
        ...(patch && { patchType: "JSONPatch", patch: btoa(JSON.stringify(patch)) }),
      },
    });
  });
}
