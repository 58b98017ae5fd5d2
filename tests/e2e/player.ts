/**
 * A player: reads a game server's `game.kruise.io/network-status` as
 * gamenet wrote it and sends to every external address and port in it,
 * over the protocol the status names, as a game client would. The test
 * game server (`tests/controlplane/images/gameserver`) answers every UDP
 * datagram and TCP connection with "<pod> <protocol> <container port>", so
 * each answer says which Pod, and which of its ports, the packet reached.
 *
 * @example
 * ```ts
 * const plays = await playThrough(networkStatus(pod)!);
 * for (const p of plays) assert.equal(p.answer?.pod, pod.metadata.name);
 * ```
 * @module
 */

import dgram from "node:dgram";
import type { NetworkStatus, Protocol } from "../../providers/types.ts";

/** What a game server said: who it is and where the packet arrived. */
export interface Answer {
  pod: string;
  protocol: string;
  /** The port inside the container the packet reached. */
  port: number;
}

/** One address a player tried, and the answer (undefined: none came). */
export interface Play {
  ip: string;
  port: number;
  protocol: Protocol;
  /** The status's name of the port (`{container}-{port}`). */
  name: string;
  answer?: Answer;
  /** Why nothing came, when nothing did. */
  error?: string;
}

/** Options of {@linkcode playThrough} and {@linkcode playOnce}. */
export interface PlayOptions {
  /** How long to wait for an answer. @default {2_000} */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 2_000;
/** UDP may drop a datagram; a player sends again at this interval until the timeout. */
const UDP_RESEND_MS = 250;
/** A refused TCP connection is tried again after this, until the timeout. */
const TCP_RETRY_MS = 250;

function parseAnswer(text: string): Answer | undefined {
  const [pod, protocol, port] = text.trim().split(" ");
  return pod && protocol && port ? { pod, protocol, port: Number(port) } : undefined;
}

function playUdp(ip: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(ip.includes(":") ? "udp6" : "udp4");
    const done = (fn: () => void) => {
      clearTimeout(timer);
      clearInterval(resend);
      socket.close();
      fn();
    };
    const timer = setTimeout(
      () => done(() => reject(new Error(`no UDP answer in ${timeoutMs} ms`))),
      timeoutMs,
    );
    socket.on("message", (msg) => done(() => resolve(new TextDecoder().decode(msg))));
    socket.on("error", (err) => done(() => reject(err)));
    const send = () => socket.send("hello\n", port, ip);
    send();
    const resend = setInterval(send, UDP_RESEND_MS);
  });
}

/**
 * Connects as a game client does: a refused connection is tried again
 * until the timeout (kube-proxy refuses a node port until its rules have
 * the endpoint, which trails the EndpointSlice by its sync).
 */
async function connectTcp(ip: string, port: number, timeoutMs: number): Promise<Deno.TcpConn> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const left = deadline - Date.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        Deno.connect({ hostname: ip, port }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no TCP connection in ${timeoutMs} ms`)), left);
        }),
      ]);
    } catch (err) {
      if (!(err instanceof Deno.errors.ConnectionRefused) || Date.now() + TCP_RETRY_MS > deadline) {
        throw err;
      }
      await new Promise((r) => setTimeout(r, TCP_RETRY_MS));
    } finally {
      clearTimeout(timer);
    }
  }
}

async function playTcp(ip: string, port: number, timeoutMs: number): Promise<string> {
  const conn = await connectTcp(ip, port, timeoutMs);
  try {
    const chunks: Uint8Array[] = [];
    const timer = setTimeout(() => conn.close(), Math.max(1, timeoutMs));
    try {
      for await (const chunk of conn.readable) {
        chunks.push(chunk);
        if (chunk.includes(10)) break;
      }
    } finally {
      clearTimeout(timer);
    }
    const text = new TextDecoder().decode(
      chunks.reduce((a, b) => new Uint8Array([...a, ...b]), new Uint8Array()),
    );
    if (!text) throw new Error("TCP connection closed without an answer");
    return text;
  } finally {
    try {
      conn.close();
    } catch {
      // closed by the read's end
    }
  }
}

/** Sends once to `ip`:`port` over `protocol` and returns what came back. */
export async function playOnce(
  ip: string,
  port: number,
  protocol: Protocol,
  options: PlayOptions = {},
): Promise<{ answer?: Answer; error?: string }> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  try {
    const text = protocol === "UDP"
      ? await playUdp(ip, port, timeoutMs)
      : await playTcp(ip, port, timeoutMs);
    const answer = parseAnswer(text);
    return answer ? { answer } : { error: `unreadable answer ${JSON.stringify(text)}` };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** Plays every external address and port of `status`, all at once. */
export async function playThrough(
  status: NetworkStatus,
  options: PlayOptions = {},
): Promise<Play[]> {
  const targets = status.externalAddresses.flatMap((a) =>
    a.ports.map((p) => ({ ip: a.ip, port: p.port, protocol: p.protocol, name: p.name }))
  );
  return await Promise.all(
    targets.map(async (t) => ({ ...t, ...await playOnce(t.ip, t.port, t.protocol, options) })),
  );
}

/** `ip:port/protocol`, with IPv6 in brackets, for messages. */
export function addressText(p: { ip: string; port: number; protocol: string }): string {
  return `${p.ip.includes(":") ? `[${p.ip}]` : p.ip}:${p.port}/${p.protocol}`;
}
