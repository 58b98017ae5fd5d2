/**
 * gamenet's HTTP layer: health and readiness, `/allocations`, `/metrics`
 * and its bearer-token check, the admission webhook, and a TLS listener
 * that follows its certificate files. Each piece is a small factory taking its dependencies, so
 * `main.ts` wires them to the controller.
 *
 * @example
 * ```ts
 * const metrics = createMetrics({ counts: () => manager.allocationCounts() });
 * Deno.serve({ port: 8080 }, createApp({ isReady, metrics }).fetch);
 * Deno.serve({ hostname: "127.0.0.1", port: 8082 }, createDebugApp({ allocations }).fetch);
 * await serveTls({ port: 9443, certFile, keyFile, handler: createWebhookApp({ admit, isReady, metrics }).fetch });
 * ```
 * @module
 */

export * from "./access_reviewer.ts";
export * from "./admission.ts";
export * from "./allocations.ts";
export * from "./allocations_feed.ts";
export * from "./allocations_stream.ts";
export * from "./app.ts";
export * from "./health.ts";
export * from "./metrics.ts";
export * from "./metrics_auth.ts";
export * from "./tls_server.ts";
export * from "./ui/ui_route.tsx";
