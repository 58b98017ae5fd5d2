/**
 * The cheapest mutating webhook there can be: a process that answers
 * every AdmissionReview "allowed" at once, over TLS. A burst with it
 * registered in gamenet's place measures what calling any webhook costs
 * the API server on this machine, which gamenet's own admission cannot
 * go below.
 *
 * ```sh
 * deno run --allow-net --allow-read bench/echo_webhook.ts <port> <cert.pem> <key.pem>
 * ```
 * @module
 */

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
export async function startEchoWebhook(certFile: string, keyFile: string): Promise<EchoWebhook> {
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

if (import.meta.main) {
  const [port, certFile, keyFile] = Deno.args;
  Deno.serve({
    hostname: "127.0.0.1",
    port: Number(port),
    cert: await Deno.readTextFile(certFile),
    key: await Deno.readTextFile(keyFile),
    onListen: () => console.log("listening"),
  }, async (req) => {
    const review = await req.json();
    return Response.json({
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: { uid: review.request.uid, allowed: true },
    });
  });
}
