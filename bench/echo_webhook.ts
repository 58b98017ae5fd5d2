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
