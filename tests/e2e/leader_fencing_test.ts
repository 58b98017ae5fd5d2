/**
 * Fenced leadership with two gamenet processes, as `deploy/` runs them
 * (default Lease timing, readiness-probed webhook Service): while Pods are
 * created without pause, the leader's connection to the API server is
 * black-holed (bytes swallowed, nothing refused) right after it renewed.
 * From the timestamps each replica logged, no two replicas admitted or
 * reconciled in overlapping windows; the old leader stopped within its
 * renew deadline; the new one led within lease duration + retry period;
 * no admission waited anywhere near the webhook timeout; and no host
 * port is used twice on a node.
 */

import assert from "node:assert/strict";
import { ControlPlane } from "../controlplane/control_plane.ts";
import { KubeletStandIn } from "../controlplane/kubelet_standin.ts";
import { TcpProxy } from "../controlplane/tcp_proxy.ts";
import { GamenetProcess, registerWebhook } from "./gamenet_process.ts";
import { WebhookService } from "./webhook_service.ts";
import { createNamespace, eventually, listPods, networkStatus } from "./helpers.ts";
import { hostPortKeys } from "./host_port_checks.ts";
import { CreationBurst, latencySummary, refusalReasons } from "./creation_burst.ts";

const NS = "fencing-e2e";
/** The shipped defaults (`--leader-elect` timings are not flags). */
const LEASE_MS = 15_000;
const RENEW_DEADLINE_MS = 10_000;
const RETRY_MS = 2_000;
/** deploy/webhook.yaml's timeoutSeconds. */
const WEBHOOK_TIMEOUT_MS = 10_000;
/** Log timestamps are written when the line is, a little after the fact. */
const LOG_SLACK_MS = 300;

interface LogLine {
  at: number;
  text: string;
}

function parseLog(text: string): LogLine[] {
  return text.split("\n").flatMap((line) => {
    const m = /^(\S+Z) [A-Z]+ (.*)$/.exec(line);
    return m ? [{ at: Date.parse(m[1]), text: m[2] }] : [];
  });
}

Deno.test("leader fencing: a black-holed leader stops within its renew deadline; admissions never overlap nor time out", async () => {
  await using cp = await ControlPlane.start();
  const admin = cp.client("admin");
  await using kubelet = new KubeletStandIn(admin);
  await kubelet.addNodes(3);
  kubelet.start();
  await createNamespace(admin, NS);

  // Each replica reaches the API server through its own breakable link.
  const links = new Map<string, TcpProxy>();
  const replica = (identity: string) => {
    const link = new TcpProxy(cp.apiServerPort);
    links.set(identity, link);
    return GamenetProcess.start(cp, {
      identity,
      registerWebhook: false,
      apiServerPort: link.port,
      args: ["--log-level=debug"],
    });
  };
  const a = await replica("gamenet-a");
  await a.waitReady();
  const b = await replica("gamenet-b");
  await using service = new WebhookService([a, b]);
  await registerWebhook(cp, service.port);

  let burst: CreationBurst | undefined;
  try {
    await eventually(
      "the webhook Service to route to gamenet-a",
      () => service.endpoint === a || undefined,
    );
    burst = new CreationBurst(admin, NS);
    await new Promise((r) => setTimeout(r, 8_000));

    // Black-hole gamenet-a right after it renewed (the worst moment to be
    // cut off: a full renew deadline of stale leadership ahead).
    const lease = () =>
      admin.request<{ spec: { holderIdentity: string; renewTime: string } }>(
        "GET",
        "/apis/coordination.k8s.io/v1/namespaces/gamenet-system/leases/gamenet",
      );
    const seen = (await lease()).spec.renewTime;
    const renewedAt = await eventually(
      "gamenet-a to renew",
      async () => {
        const l = await lease();
        return l.spec.holderIdentity === "gamenet-a" && l.spec.renewTime !== seen
          ? Date.now()
          : undefined;
      },
      10_000,
      20,
    );
    links.get("gamenet-a")!.setMode("blackhole");
    const cutAt = Date.now();

    let aNotReadyAt = 0;
    await eventually(
      "gamenet-a to turn not ready",
      async () => {
        const res = await a.get("/readyz").catch(() => undefined);
        await res?.body?.cancel();
        if (res?.ok) return undefined;
        aNotReadyAt = Date.now();
        return true;
      },
      30_000,
      50,
    );
    await b.waitReady(40_000);
    const bReadyAt = Date.now();
    await eventually(
      "the webhook Service to route to gamenet-b",
      () => service.endpoint === b || undefined,
      30_000,
      100,
    );
    const routedAt = Date.now();
    await new Promise((r) => setTimeout(r, 8_000));
    const creations = await burst.stop();

    // What each replica did, and when, from its own log.
    const aLog = parseLog(await a.logText());
    const bLog = parseLog(await b.logText());
    const acts = (log: LogLine[]) =>
      log.filter((l) => /^(Admitted|Reconcile) /.test(l.text)).map((l) => l.at);
    const aActs = acts(aLog);
    const bActs = acts(bLog);
    assert.ok(aActs.length > 0 && bActs.length > 0, "both replicas admitted in turn");
    const aLast = Math.max(...aActs);
    const bFirst = Math.min(...bActs);
    const aStepDown = aLog.find((l) => /could not renew within/.test(l.text))?.at;
    const bLed = bLog.find((l) => /gamenet-b is the leader/.test(l.text))?.at;
    assert.ok(aStepDown, `gamenet-a logged no step-down:\n${await a.logTail(20)}`);
    assert.ok(bLed, "gamenet-b never led");
    console.log(
      [
        `gamenet-a: cut ${cutAt - renewedAt} ms after renewing; step-down +${
          aStepDown - cutAt
        } ms, ` +
        `/readyz 503 +${aNotReadyAt - cutAt} ms, last act +${aLast - cutAt} ms`,
        `gamenet-b: led +${bLed - cutAt} ms, ready +${bReadyAt - cutAt} ms, ` +
        `first act +${bFirst - cutAt} ms, routed +${routedAt - cutAt} ms`,
      ].join("\n"),
    );
    assert.ok(aLast < bFirst, `overlap: gamenet-a acted at ${aLast}, gamenet-b from ${bFirst}`);
    assert.ok(aLast <= aStepDown + LOG_SLACK_MS, "gamenet-a acted after stepping down");
    assert.ok(
      aStepDown - renewedAt <= RENEW_DEADLINE_MS + LOG_SLACK_MS,
      `gamenet-a stepped down ${aStepDown - renewedAt} ms after its last renewal`,
    );
    assert.ok(bLed > aStepDown, "gamenet-b led before gamenet-a stepped down");
    assert.ok(
      bLed - renewedAt <= LEASE_MS + RETRY_MS * 1.2 + 1_000,
      `gamenet-b led ${bLed - renewedAt} ms after gamenet-a's last renewal`,
    );

    const before = creations.filter((c) => c.start < cutAt);
    const during = creations.filter((c) => c.start >= cutAt && c.start < routedAt);
    const after = creations.filter((c) => c.start >= routedAt);
    console.log(`before the cut:  ${latencySummary(before)}`);
    console.log(`hand-over:       ${latencySummary(during)}`);
    console.log(`after:           ${latencySummary(after)}`);
    console.log("refusals:", refusalReasons(creations));
    const slowest = Math.max(...creations.map((c) => c.ms));
    assert.ok(slowest < WEBHOOK_TIMEOUT_MS / 2, `an admission took ${slowest} ms`);
    for (const c of creations.filter((c) => !c.ok)) {
      assert.doesNotMatch(c.error!, /deadline exceeded|Client\.Timeout|timed out/, "timed out");
    }
    assert.ok(after.filter((c) => c.ok).length > 0, "admissions go on under the new leader");

    // Every Pod created is placed, Ready, and alone on its host port.
    const pods = await eventually(
      "every Pod Ready",
      async () => {
        const pods = await listPods(admin, NS);
        return pods.length > 0 &&
            pods.every((p) => networkStatus(p)?.currentNetworkState === "Ready")
          ? pods
          : undefined;
      },
      120_000,
      1_000,
    );
    assert.equal(pods.length, creations.filter((c) => c.ok).length);
    assert.equal(hostPortKeys(pods).size, pods.length, "a host port used twice on a node");
  } catch (err) {
    console.error(await a.logTail(30), "\n---\n", await b.logTail(30));
    throw err;
  } finally {
    await burst?.stop();
    await Promise.all([a.kill("SIGTERM"), b.kill("SIGTERM")]);
    for (const link of links.values()) await link.close();
  }
});
