/**
 * LeaderElector on the real API server, as the `gamenet` identity with only
 * its shipped RBAC: one leader among three; a crashed leader (no release)
 * is replaced after the lease duration, a stopping one hands over at once,
 * and a leader cut off from the API server steps down within its renew
 * deadline, before anyone else can take over.
 */

import assert from "node:assert/strict";
import { ControlPlane } from "../controlplane/control_plane.ts";
import { TcpProxy } from "../controlplane/tcp_proxy.ts";
import { KubeClient } from "../../controller/kube_client.ts";
import { LeaderElector } from "../../controller/leader_elector.ts";

async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - started;
}

Deno.test("LeaderElector elects one leader and hands over on crash, stop and partition", async () => {
  await using cp = await ControlPlane.start({ scheduler: false, controllerManager: false });
  const proxies: TcpProxy[] = [];
  const clients: KubeClient[] = [];
  const log: string[] = [];
  const transitions: string[] = [];
  const make = (identity: string) => {
    const proxy = new TcpProxy(cp.apiServerPort);
    const client = new KubeClient({
      server: `https://127.0.0.1:${proxy.port}`,
      token: cp.token("gamenet"),
      caPem: cp.ca.certPem,
      requestTimeoutMs: 3_000,
    });
    proxies.push(proxy);
    clients.push(client);
    return new LeaderElector(client, {
      namespace: "gamenet-system",
      name: "gamenet",
      identity,
      log: (m) => log.push(m),
      onStartedLeading: () => transitions.push(`${identity}+`),
      onStoppedLeading: () => transitions.push(`${identity}-`),
    });
  };
  const electors = ["a", "b", "c"].map(make);
  try {
    electors.forEach((e) => e.start());
    await until("a leader", () => electors.some((e) => e.isLeader));
    await new Promise((r) => setTimeout(r, 5_000));
    assert.equal(electors.filter((e) => e.isLeader).length, 1, "exactly one leader");

    // Graceful stop releases the Lease: another takes over within a retry period or two.
    const first = electors.findIndex((e) => e.isLeader);
    await electors[first].stop();
    const handover = await until(
      "a new leader after release",
      () => electors.some((e, i) => i !== first && e.isLeader),
    );
    assert.ok(handover < 8_000, `handover after release took ${handover} ms`);

    // Partition the leader: it must step down within its renew deadline
    // (10 s), and the other may lead only after the lease duration (15 s).
    const second = electors.findIndex((e) => e.isLeader);
    const third = [0, 1, 2].find((i) => i !== first && i !== second)!;
    proxies[second].setMode("refuse");
    const cut = Date.now();
    const stepDown = await until(
      "the cut-off leader to step down",
      () => !electors[second].isLeader,
      20_000,
    );
    assert.ok(stepDown <= 12_500, `stepped down after ${stepDown} ms`);
    await until("the last candidate to lead", () => electors[third].isLeader, 30_000);
    const takeover = Date.now() - cut;
    assert.ok(takeover >= 13_000, `took over after ${takeover} ms: not before the lease ran out`);
    assert.ok(!electors[second].isLeader);

    const lease = await cp.client("admin").request<
      { spec: { holderIdentity: string; leaseTransitions: number } }
    >(
      "GET",
      "/apis/coordination.k8s.io/v1/namespaces/gamenet-system/leases/gamenet",
    );
    assert.equal(lease.spec.holderIdentity, ["a", "b", "c"][third]);
    assert.ok(lease.spec.leaseTransitions >= 2);
    // At no point were two leaders reported at once: each "+" is closed by a "-" before the next "+".
    let holding = 0;
    for (const t of transitions) {
      holding += t.endsWith("+") ? 1 : -1;
      assert.ok(holding <= 1, `overlapping leaders in ${transitions.join(" ")}`);
    }
  } finally {
    for (const e of electors) await e.stop();
    for (const c of clients) c.close();
    for (const p of proxies) await p.close();
  }
});
