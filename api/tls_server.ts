/**
 * An HTTPS listener whose certificate follows its files. cert-manager
 * renews the webhook's certificate well before it expires and the kubelet
 * updates the mounted Secret; gamenet must start serving the new pair
 * without a restart, or the API server stops trusting it once the CA
 * bundle moves on.
 *
 * Deno 2.9's `Deno.serve` takes `cert`/`key` once, with no callback to
 * swap them (no SNI resolver in its public API), so a change restarts the
 * listener on the same port: the old server's `shutdown()` closes its
 * socket at once and lets in-flight requests finish, and the new server
 * binds as soon as the port is free (a few milliseconds). A new pair is
 * first tried on a throwaway listener, so a bad pair (key not matching the
 * certificate, a half-written file) is reported and the old pair keeps
 * serving.
 *
 * The files are polled rather than watched: a Secret volume is a symlink
 * (`tls.crt` → `..data/tls.crt`) whose `..data` link the kubelet swaps
 * atomically, and `Deno.watchFs` (inotify) keeps following the old target
 * directory, so events are missed or arrive for files already gone.
 * Polling compares the contents, not only mtimes: two small reads every
 * ten seconds cost nothing and do not depend on timestamp granularity.
 *
 * @example
 * ```ts
 * await using server = await serveTls({
 *   port: 9443,
 *   certFile: "/etc/gamenet/tls/tls.crt",
 *   keyFile: "/etc/gamenet/tls/tls.key",
 *   handler: webhookApp.fetch,
 * });
 * ```
 * @module
 */

/** Options of {@linkcode serveTls}. */
export interface ServeTlsOptions {
  /** @default {"0.0.0.0"} */
  hostname?: string;
  /** 0 picks a free port, which then stays the same across reloads. */
  port: number;
  /** PEM certificate chain. */
  certFile: string;
  /** PEM private key (PKCS#8, SEC1 or PKCS#1). */
  keyFile: string;
  handler: (
    request: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ) => Response | Promise<Response>;
  /** How often the files are read for a change. @default {10_000} */
  reloadIntervalMs?: number;
  /** A pair that could not be loaded, or a listener that could not be restarted. @default {console.error} */
  onError?: (error: Error) => void;
  /** Called after the listener serves a new pair. @default {() => {}} */
  onReload?: () => void;
}

/** A running {@linkcode serveTls} listener. */
export interface TlsServer extends AsyncDisposable {
  /** Where it listens (the same across reloads). */
  readonly addr: Deno.NetAddr;
  /** How many times a new pair has been put into service. */
  readonly reloads: number;
  /** Stops polling, closes the listener and waits for in-flight requests. */
  shutdown(): Promise<void>;
}

interface Pair {
  cert: string;
  key: string;
}

/** How long a restart waits for the old listener's port to be released. */
const REBIND_ATTEMPTS = 40;
const REBIND_DELAY_MS = 25;

/**
 * Serves `handler` over TLS with the pair in `certFile`/`keyFile`,
 * reloading it when the files change (see the module documentation).
 * Rejects when the initial pair cannot be read or served: there is no
 * older pair to fall back on.
 *
 * @example
 * ```ts
 * const server = await serveTls({ port: 0, certFile, keyFile, handler: () => new Response("ok") });
 * console.log(server.addr.port, server.reloads);
 * await server.shutdown();
 * ```
 */
export async function serveTls(options: ServeTlsOptions): Promise<TlsServer> {
  const hostname = options.hostname || "0.0.0.0";
  const { certFile, keyFile, handler } = options;
  const interval = options.reloadIntervalMs ?? 10_000;
  const onError = options.onError ?? ((e: Error) => console.error(e.message));
  const onReload = options.onReload ?? (() => {});

  const start = (pair: Pair, port: number) =>
    Deno.serve({ hostname, port, cert: pair.cert, key: pair.key, onListen() {} }, handler);

  let current = await readPair(certFile, keyFile);
  let server: Deno.HttpServer<Deno.NetAddr> | undefined = start(current, options.port);
  const addr = server.addr;
  let reloads = 0;
  let stopped = false;
  // The last problem reported: a bad pair is reported once, not every poll.
  let reported = "";
  const draining = new Set<Promise<void>>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let checking: Promise<void> | undefined;

  const report = (message: string) => {
    if (message === reported) return;
    reported = message;
    onError(new Error(message));
  };

  const retire = (old: Deno.HttpServer) => {
    const done = old.shutdown().catch((err) =>
      onError(new Error(`TLS listener on port ${addr.port}: shutdown failed: ${err.message}`))
    ).finally(() => draining.delete(done));
    draining.add(done);
  };

  // Binds the fixed port, waiting out the moment the old socket takes to close.
  const bind = async (pair: Pair) => {
    for (let attempt = 1;; attempt++) {
      try {
        return start(pair, addr.port);
      } catch (err) {
        if (!(err instanceof Deno.errors.AddrInUse) || attempt >= REBIND_ATTEMPTS) throw err;
        await new Promise((resolve) => setTimeout(resolve, REBIND_DELAY_MS));
      }
    }
  };

  const check = async () => {
    let next: Pair;
    try {
      next = await readPair(certFile, keyFile);
    } catch (err) {
      report(`${(err as Error).message}; still serving the previous certificate`);
      return;
    }
    const changed = next.cert !== current.cert || next.key !== current.key;
    if (!changed && server) {
      reported = "";
      return;
    }
    if (changed) {
      try {
        validate(hostname, next);
      } catch (err) {
        report(
          `TLS certificate ${certFile} with key ${keyFile} is unusable ` +
            `(${(err as Error).message}); still serving the previous certificate`,
        );
        return;
      }
    }
    if (server) retire(server);
    server = undefined;
    try {
      server = await bind(next);
    } catch (err) {
      // Most likely the port was taken meanwhile: serve the old pair if it
      // can be, and try again at the next poll.
      report(
        `TLS listener on port ${addr.port} could not restart` +
          `${changed ? " with the new certificate" : ""}: ${(err as Error).message}`,
      );
      if (changed) server = await bind(current).catch(() => undefined);
      return;
    }
    if (changed) {
      current = next;
      reloads++;
      onReload();
    }
    reported = "";
  };

  const schedule = () => {
    timer = setTimeout(async () => {
      checking = check().catch((err) => onError(err as Error));
      await checking;
      checking = undefined;
      if (!stopped) schedule();
    }, interval);
  };
  schedule();

  const shutdown = async () => {
    if (stopped) return;
    stopped = true;
    clearTimeout(timer);
    await checking;
    if (server) retire(server);
    server = undefined;
    await Promise.all(draining);
  };

  return {
    get addr() {
      return server?.addr ?? addr;
    },
    get reloads() {
      return reloads;
    },
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}

async function readPair(certFile: string, keyFile: string): Promise<Pair> {
  const read = async (path: string, what: string) => {
    try {
      return await Deno.readTextFile(path);
    } catch (err) {
      throw new Error(`Could not read the TLS ${what} ${path}: ${(err as Error).message}`);
    }
  };
  const [cert, key] = await Promise.all([read(certFile, "certificate"), read(keyFile, "key")]);
  return { cert, key };
}

/**
 * Loads the pair into a throwaway TLS listener: Deno binds before it
 * parses the pair, so a bad pair cannot be found out on the busy port.
 */
function validate(hostname: string, pair: Pair): void {
  const probe = Deno.listenTls({ hostname, port: 0, cert: pair.cert, key: pair.key });
  probe.close();
}
