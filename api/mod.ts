/**
 * gamenet's HTTP layer: health and readiness, `/allocations`, `/metrics`,
 * the admission webhook, and a TLS listener that follows its certificate
 * files. Each piece is a small factory taking its dependencies, so
 * `main.ts` wires them to the controller.
 *
 * @example
 * ```ts
 * const metrics = createMetrics({ counts: () => manager.allocationCounts() });
 * Deno.serve({ port: 8080 }, createApp({ isReady, allocations, metrics }).fetch);
 * await serveTls({ port: 9443, certFile, keyFile, handler: createWebhookApp({ admit, isReady, metrics }).fetch });
 * ```
 * @module
 */

export * from "./admission.ts";
export * from "./allocations.ts";
export * from "./app.ts";
export * from "./health.ts";
export * from "./metrics.ts";
export * from "./tls_server.ts";
