import assert from "node:assert/strict";
import { LeaderElector } from "./leader_elector.ts";
import { errorFromResponse, type KubeClient, type RequestOptions } from "./kube_client.ts";

// deno-lint-ignore no-explicit-any
type Lease = Record<string, any>;

const PATH = "/apis/coordination.k8s.io/v1/namespaces/ns/leases/lock";

/**
 * One Lease with the API server's optimistic concurrency, seen through
 * per-replica clients whose connection a test can cut: a cut client's
 * requests hang until their signal aborts them, as on a black-holed
 * connection.
 */
class LeaseApi {
  lease?: Lease;
  #rv = 0;

  client(name: string) {
    const conn = { cut: false, requests: [] as string[], aborted: 0 };
    const request = <T>(method: string, path: string, options: RequestOptions = {}) => {
      conn.requests.push(method);
      if (conn.cut) {
        return new Promise<T>((_, reject) => {
          const abort = () => {
            conn.aborted++;
            reject(new Error(`${name}: ${method} aborted`));
          };
          if (options.signal?.aborted) abort();
          options.signal?.addEventListener("abort", abort);
        });
      }
      return Promise.resolve(this.#answer(method, path, options.body as Lease) as T);
    };
    return { conn, client: { request } as unknown as KubeClient };
  }

  #answer(method: string, path: string, body: Lease): Lease {
    const fail = (status: number, reason: string) => {
      throw errorFromResponse(status, JSON.stringify({ reason, message: reason }));
    };
    if (method === "GET") {
      if (path !== PATH) fail(404, "NotFound");
      return this.lease ? structuredClone(this.lease) : fail(404, "NotFound");
    }
    if (method === "POST") {
      if (this.lease) fail(409, "AlreadyExists");
    } else if (method === "PUT") {
      if (!this.lease) fail(404, "NotFound");
      if (body.metadata.resourceVersion !== this.lease!.metadata.resourceVersion) {
        fail(409, "Conflict");
      }
    }
    this.lease = structuredClone(body);
    this.lease!.metadata.resourceVersion = String(++this.#rv);
    return structuredClone(this.lease!);
  }
}

const TIMING = { leaseDurationMs: 600, renewDeadlineMs: 400, retryPeriodMs: 50 };

function until(what: string, check: () => boolean, timeoutMs = 3_000): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const look = () => {
      if (check()) return resolve(performance.now());
      if (performance.now() - started > timeoutMs) return reject(new Error(`no ${what}`));
      setTimeout(look, 5);
    };
    look();
  });
}

function elector(api: LeaseApi, identity: string, events: string[]) {
  const { conn, client } = api.client(identity);
  const e = new LeaderElector(client, {
    namespace: "ns",
    name: "lock",
    identity,
    ...TIMING,
    // The fake answers requests, not watches; the e2e covers the watch.
    watchLease: false,
    log: () => {},
    onStartedLeading: () => events.push(`${identity}+ ${performance.now()}`),
    onStoppedLeading: () => events.push(`${identity}- ${performance.now()}`),
  });
  return { e, conn };
}

Deno.test("isLeader is false from the renew deadline on, while the renewal still hangs", async () => {
  const api = new LeaseApi();
  const events: string[] = [];
  const { e, conn } = elector(api, "a", events);
  e.start();
  try {
    await until("leadership", () => e.isLeader);
    // Let it renew a few times, then black-hole its connection right after a renewal.
    const renewals = () => conn.requests.filter((m) => m === "PUT").length;
    const before = renewals();
    await until("a renewal", () => renewals() > before);
    const lastRenewal = performance.now();
    conn.cut = true;
    const sentBeforeCut = conn.requests.length;
    const steppedDown = await until("the step-down", () => !e.isLeader);
    const after = steppedDown - lastRenewal;
    assert.ok(after <= TIMING.renewDeadlineMs + 20, `stepped down ${after} ms after renewing`);
    assert.ok(after >= TIMING.renewDeadlineMs - TIMING.retryPeriodMs - 20, `too early: ${after}`);
    await until("onStoppedLeading", () => events.some((x) => x.startsWith("a-")));
    // On a loaded machine the deadline can pass before the next renewal is
    // even sent; a renewal that was sent into the cut must be aborted.
    if (conn.requests.length > sentBeforeCut) {
      await until("the hanging renewal aborted", () => conn.aborted >= 1);
    }
  } finally {
    await e.stop();
  }
});

Deno.test("the leader renews by writing its record, without reading the Lease first", async () => {
  const api = new LeaseApi();
  const { e, conn } = elector(api, "a", []);
  e.start();
  try {
    await until("leadership", () => e.isLeader);
    const from = conn.requests.length;
    await until("five renewals", () => conn.requests.length >= from + 5);
    assert.deepEqual(conn.requests.slice(from, from + 5), ["PUT", "PUT", "PUT", "PUT", "PUT"]);
    assert.equal(api.lease!.spec.holderIdentity, "a");
  } finally {
    await e.stop();
  }
});

Deno.test("a standby leads only after the cut-off leader has stepped down", async () => {
  const api = new LeaseApi();
  const events: string[] = [];
  const a = elector(api, "a", events);
  a.e.start();
  await until("a leads", () => a.e.isLeader);
  const b = elector(api, "b", events);
  b.e.start();
  try {
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(!b.e.isLeader, "b waits while a renews");
    a.conn.cut = true;
    await until("b leads", () => b.e.isLeader, 3_000);
    const at = (x: string) => Number(events.find((v) => v.startsWith(x))!.split(" ")[1]);
    assert.ok(at("a-") < at("b+"), `a stepped down at ${at("a-")}, b led at ${at("b+")}`);
    assert.ok(!a.e.isLeader);
  } finally {
    a.conn.cut = false;
    await Promise.all([a.e.stop(), b.e.stop()]);
  }
});

Deno.test("a leader that finds another holder steps down at once", async () => {
  const api = new LeaseApi();
  const events: string[] = [];
  const { e } = elector(api, "a", events);
  e.start();
  try {
    await until("leadership", () => e.isLeader);
    const taken = performance.now();
    // Someone with the same rights writes the Lease (its record is newer).
    api.lease!.spec.holderIdentity = "intruder";
    api.lease!.metadata.resourceVersion = "999";
    const down = await until("the step-down", () => !e.isLeader);
    assert.ok(down - taken < TIMING.renewDeadlineMs, `took ${down - taken} ms`);
    assert.equal(e.leader, "intruder");
  } finally {
    await e.stop();
  }
});

Deno.test("stop() releases a held Lease so a standby need not wait it out", async () => {
  const api = new LeaseApi();
  const { e } = elector(api, "a", []);
  e.start();
  await until("leadership", () => e.isLeader);
  await e.stop();
  assert.equal(api.lease!.spec.holderIdentity, "");
  assert.ok(!e.isLeader);
});
