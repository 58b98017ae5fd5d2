import assert from "node:assert/strict";
import dgram from "node:dgram";
import { playOnce, playThrough } from "./player.ts";
import type { NetworkStatus } from "../../providers/types.ts";

/** A game server's answers on loopback: UDP and TCP on one port, as the test image gives them. */
async function fakeGameServer(pod: string) {
  const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = tcp.addr.port;
  const udp = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => udp.bind(port, "127.0.0.1", resolve));
  udp.on("message", (_msg, from) => udp.send(`${pod} UDP ${port}\n`, from.port, from.address));
  const accepting = (async () => {
    for await (const conn of tcp) {
      await conn.write(new TextEncoder().encode(`${pod} TCP ${port}\n`));
      conn.close();
    }
  })();
  return {
    port,
    async close() {
      tcp.close();
      await accepting.catch(() => {});
      await new Promise<void>((resolve) => udp.close(() => resolve()));
    },
  };
}

Deno.test("playOnce() returns the game server's answer over UDP and TCP", async () => {
  const gs = await fakeGameServer("gs-0");
  try {
    assert.deepEqual(await playOnce("127.0.0.1", gs.port, "UDP"), {
      answer: { pod: "gs-0", protocol: "UDP", port: gs.port },
    });
    assert.deepEqual(await playOnce("127.0.0.1", gs.port, "TCP"), {
      answer: { pod: "gs-0", protocol: "TCP", port: gs.port },
    });
  } finally {
    await gs.close();
  }
});

Deno.test("playOnce() reports an address that does not answer", async () => {
  const gs = await fakeGameServer("gs-0");
  await gs.close();
  const udp = await playOnce("127.0.0.1", gs.port, "UDP", { timeoutMs: 600 });
  assert.equal(udp.answer, undefined);
  assert.match(udp.error!, /no UDP answer in 600 ms|ECONNREFUSED/);
  const tcp = await playOnce("127.0.0.1", gs.port, "TCP", { timeoutMs: 600 });
  assert.equal(tcp.answer, undefined);
  assert.match(tcp.error!, /refused/i);
});

Deno.test("playThrough() plays every external address and port of a status", async () => {
  const gs = await fakeGameServer("gs-1");
  try {
    const status: NetworkStatus = {
      networkType: "Kubernetes-HostPort",
      currentNetworkState: "Ready",
      desiredNetworkState: "Ready",
      createTime: "",
      lastTransitionTime: "",
      internalAddresses: [],
      externalAddresses: [{
        ip: "127.0.0.1",
        ports: [
          { name: "gs-7777", port: gs.port, protocol: "UDP" },
          { name: "gs-7777", port: gs.port, protocol: "TCP" },
        ],
      }],
    };
    const plays = await playThrough(status);
    assert.deepEqual(plays.map((p) => [p.protocol, p.answer?.pod, p.answer?.port]), [
      ["UDP", "gs-1", gs.port],
      ["TCP", "gs-1", gs.port],
    ]);
  } finally {
    await gs.close();
  }
});
