/**
 * The reflector against a real API server: events keep arriving across an
 * API server crash and a graceful restart, a network partition long enough
 * for etcd to compact away its resourceVersion (410 Gone → relist, with the
 * missed add and delete seen), and a connection that goes silent without
 * closing (inactivity timeout → new watch, with what was made meanwhile).
 *
 * Event-driven: each disruption waits for what shows the reflector went
 * through it (its counters), and objects made and delivered one by one
 * before the first and after every disruption show the watch carried on.
 *
 * ConfigMaps are watched with the API server's watch cache off for them,
 * so a watch reads etcd directly and an etcd compaction really expires the
 * reflector's resourceVersion.
 */

import assert from "node:assert/strict";
import { ControlPlane } from "../controlplane/control_plane.ts";
import { TcpProxy } from "../controlplane/tcp_proxy.ts";
import { KubeClient } from "../../controller/kube_client.ts";
import { Reflector, type ReflectorStats } from "../../controller/reflector.ts";

interface ConfigMap {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  data?: Record<string, string>;
}

/** Objects made and delivered one by one before the first and after every disruption. */
const PER_PHASE = 24;
const NS = "watch-a";

async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Compacts etcd up to its current revision through etcd's JSON gateway. */
async function compactEtcd(etcdPort: number): Promise<number> {
  const base = `http://127.0.0.1:${etcdPort}/v3/kv`;
  const range = await (await fetch(`${base}/range`, {
    method: "POST",
    body: JSON.stringify({ key: btoa("/registry") }),
  })).json();
  const revision = Number(range.header.revision);
  const res = await fetch(`${base}/compaction`, {
    method: "POST",
    body: JSON.stringify({ revision: String(revision), physical: true }),
  });
  assert.ok(res.ok, `etcd compaction failed: ${await res.text()}`);
  return revision;
}

Deno.test("Reflector delivers across restarts, partitions, 410 Gone and dead connections", async () => {
  await using cp = await ControlPlane.start({
    scheduler: false,
    controllerManager: false,
    gamenetRbac: false,
    apiServerArgs: ["--watch-cache-sizes=configmaps#0"],
  });
  const admin = cp.client("admin");
  for (const ns of [NS, "watch-b"]) {
    await admin.request("POST", "/api/v1/namespaces", { body: { metadata: { name: ns } } });
  }
  await using proxy = new TcpProxy(cp.apiServerPort);
  const client = new KubeClient({
    server: `https://127.0.0.1:${proxy.port}`,
    token: cp.token("admin"),
    caPem: cp.ca.certPem,
  });
  const added: string[] = [];
  const deleted: string[] = [];
  const logs: string[] = [];
  const reflector = new Reflector<ConfigMap>(client, {
    path: `/api/v1/namespaces/${NS}/configmaps`,
    inactivityTimeoutMs: 10_000,
    backoffInitialMs: 200,
    backoffMaxMs: 2_000,
    log: (line) => logs.push(`${new Date().toISOString()} ${line}`),
  }, {
    onAdd: (cm) => added.push(cm.metadata.name),
    onDelete: (cm) => deleted.push(cm.metadata.name),
  });

  const create = (ns: string, name: string) =>
    admin.request("POST", `/api/v1/namespaces/${ns}/configmaps`, {
      body: { metadata: { name }, data: { at: new Date().toISOString() } },
    });
  /** Waits until the reflector's watch ended (for any reason) since `before`. */
  const watchEnded = (before: ReflectorStats, what: string) =>
    until(what, () => reflector.stats.watchRestarts > before.watchRestarts, 60_000);

  try {
    reflector.start();
    await reflector.synced;
    const started = Date.now();
    const disruptions = [
      {
        name: "API server SIGKILLed and restarted",
        run: async () => {
          const before = reflector.stats;
          await cp.restartApiServer({ kill: true });
          await watchEnded(before, "the watch to end with the API server");
        },
      },
      {
        name: "partition while etcd compacts the watched resourceVersion",
        run: async () => {
          const before = reflector.stats;
          proxy.setMode("refuse");
          // The cut watch is one error, a refused reconnect another.
          await until(
            "a reconnect refused by the partition",
            () => reflector.stats.errors >= before.errors + 2,
          );
          await create(NS, "made-during-partition");
          await admin.request("DELETE", `/api/v1/namespaces/${NS}/configmaps/cm-1`);
          for (let i = 0; i < 5; i++) await create("watch-b", `elsewhere-${i}`);
          const compacted = await compactEtcd(cp.etcdPort);
          assert.ok(
            Number(reflector.stats.lastResourceVersion) < compacted,
            `the reflector's resourceVersion ${reflector.stats.lastResourceVersion} ` +
              `is compacted away (etcd at ${compacted})`,
          );
          proxy.setMode("pass");
          await until(
            "a relist after 410 Gone",
            () => reflector.stats.relistsOnGone > before.relistsOnGone,
          );
          await until(
            "the add made during the partition",
            () => reflector.store.has(`${NS}/made-during-partition`),
          );
          await until(
            "the delete made during the partition",
            () => !reflector.store.has(`${NS}/cm-1`),
          );
          assert.ok(added.includes("made-during-partition"), "onAdd ran for the missed object");
          assert.ok(deleted.includes("cm-1"), "onDelete ran for the missed deletion");
        },
      },
      {
        name: "the connection goes silent without closing",
        run: async () => {
          const before = reflector.stats;
          proxy.setMode("blackhole");
          // Made while silent: only the watch that replaces the dead one brings it.
          await create(NS, "made-while-silent");
          proxy.setMode("pass");
          await until(
            "the inactivity timeout",
            () => reflector.stats.inactivityTimeouts > before.inactivityTimeouts,
            30_000,
          );
          await until(
            "the object made while the connection was silent",
            () => reflector.store.has(`${NS}/made-while-silent`),
          );
        },
      },
      {
        name: "API server restarted gracefully",
        run: async () => {
          const before = reflector.stats;
          await cp.restartApiServer();
          await watchEnded(before, "the watch to end with the API server");
        },
      },
    ];
    let n = 0;
    let ran = 0;
    /** Per phase (before any disruption, then after each): objects onAdd saw of those made. */
    const delivered: number[] = [];
    const phase = async (after: string) => {
      const t0 = Date.now();
      const names: string[] = [];
      for (let i = 0; i < PER_PHASE; i++) {
        const name = `cm-${++n}`;
        names.push(name);
        await create(NS, name);
        await until(`${name} to be delivered`, () => reflector.store.has(`${NS}/${name}`));
      }
      delivered.push(names.filter((name) => added.includes(name)).length);
      console.log(`${PER_PHASE} delivered one by one ${after} in ${Date.now() - t0} ms`);
    };
    await phase("before any disruption");
    for (const d of disruptions) {
      const t0 = Date.now();
      await d.run();
      ran++;
      console.log(`${d.name}: went through in ${Date.now() - t0} ms`);
      await phase(`after "${d.name}"`);
    }
    assert.equal(ran, disruptions.length, "every disruption ran");
    assert.deepEqual(
      delivered,
      Array(disruptions.length + 1).fill(PER_PHASE),
      "every object reached onAdd, before the first disruption and after each",
    );
    console.log(`all phases in ${Date.now() - started} ms`);

    const truth = await admin.request<{ items: ConfigMap[] }>(
      "GET",
      `/api/v1/namespaces/${NS}/configmaps`,
    );
    assert.deepEqual(
      [...reflector.store.keys()].sort(),
      truth.items.map((cm) => `${NS}/${cm.metadata.name}`).sort(),
      "the store equals the API server's list",
    );
    const stats = reflector.stats;
    assert.ok(n >= 100, `${n} objects created and delivered one by one`);
    assert.ok(stats.relistsOnGone >= 1, "410 Gone led to a relist");
    assert.ok(stats.inactivityTimeouts >= 1, "a silent connection was given up");
    assert.ok(stats.watchRestarts >= 4, `watch restarts: ${stats.watchRestarts}`);
    assert.ok(stats.events >= n, `events: ${stats.events}`);
    console.log(`created ${n}; reflector stats ${JSON.stringify(stats)}`);
  } catch (err) {
    console.error(logs.join("\n"));
    throw err;
  } finally {
    await reflector.stop();
    client.close();
  }
});
