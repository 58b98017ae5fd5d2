/**
 * A loopback TCP proxy a test can break on purpose: pass bytes through,
 * refuse and cut every connection (a partition), or hold connections open
 * while forwarding nothing (a dead peer that never sends a FIN or RST).
 * A connection once black-holed stays so; `pass` only heals new ones.
 * TLS passes through untouched, so clients still verify the real server.
 *
 * @example
 * ```ts
 * await using proxy = new TcpProxy(cp.apiServerPort);
 * proxy.setMode("refuse"); // partition
 * proxy.setMode("pass");   // healed
 * ```
 * @module
 */

/** What the proxy does with traffic. */
export type ProxyMode = "pass" | "refuse" | "blackhole";

/** The proxy: see the module documentation. */
export class TcpProxy implements AsyncDisposable {
  readonly port: number;
  readonly #listener: Deno.TcpListener;
  #targetPort: number;
  readonly #conns = new Set<Deno.Conn>();
  readonly #dead = new Set<Deno.Conn>();
  readonly #tasks = new Set<Promise<void>>();
  #mode: ProxyMode = "pass";
  #accepting: Promise<void>;

  constructor(targetPort: number) {
    this.#targetPort = targetPort;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.port = (this.#listener.addr as Deno.NetAddr).port;
    this.#accepting = this.#accept();
  }

  /** Connections open now (both sides counted once). */
  get openConnections(): number {
    return this.#conns.size / 2;
  }

  /** New connections go to `port` (a Service whose endpoints changed); open ones stay. */
  retarget(port: number): void {
    this.#targetPort = port;
  }

  /** Switches mode; `refuse` cuts every open connection, `blackhole` silences them. */
  setMode(mode: ProxyMode): void {
    this.#mode = mode;
    if (mode === "refuse") this.#closeAll();
    if (mode === "blackhole") { for (const c of this.#conns) this.#dead.add(c); }
  }

  #closeAll(): void {
    for (const c of this.#conns) {
      try {
        c.close();
      } catch {
        // already closed
      }
    }
    this.#conns.clear();
    this.#dead.clear();
  }

  async #accept(): Promise<void> {
    for await (const client of this.#listener) {
      if (this.#mode === "refuse") {
        client.close();
        continue;
      }
      const task = this.#serve(client);
      this.#tasks.add(task);
      task.finally(() => this.#tasks.delete(task));
    }
  }

  async #serve(client: Deno.Conn): Promise<void> {
    let upstream: Deno.Conn;
    try {
      upstream = await Deno.connect({ hostname: "127.0.0.1", port: this.#targetPort });
    } catch {
      client.close();
      return;
    }
    this.#conns.add(client);
    this.#conns.add(upstream);
    if (this.#mode === "blackhole") {
      this.#dead.add(client);
      this.#dead.add(upstream);
    }
    const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
      const buf = new Uint8Array(64 * 1024);
      try {
        while (true) {
          const n = await from.read(buf);
          if (n === null) break;
          // A black hole swallows bytes: the peer sees a live but silent connection.
          if (this.#dead.has(from)) continue;
          let off = 0;
          while (off < n) off += await to.write(buf.subarray(off, n));
        }
      } catch {
        // either side closed
      }
      for (const c of [from, to]) {
        this.#dead.delete(c);
        if (this.#conns.delete(c)) {
          try {
            c.close();
          } catch {
            // already closed
          }
        }
      }
    };
    await Promise.all([pipe(client, upstream), pipe(upstream, client)]);
  }

  /** Closes the listener and every connection. */
  async close(): Promise<void> {
    this.#listener.close();
    this.#closeAll();
    await this.#accepting.catch(() => {});
    await Promise.all(this.#tasks);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
