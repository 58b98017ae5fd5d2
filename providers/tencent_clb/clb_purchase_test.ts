// Purchases against the fake Tencent Cloud through the real SDK: the CLBs the fake holds are the truth.
import assert from "node:assert/strict";
import { FakeTencentCloud } from "../../tests/fakes/tencentcloud/fake_tencent_cloud.ts";
import { clbApiFor } from "../../tests/fakes/tencentcloud/clb_api_for.ts";
import { ClbWriter } from "./clb_writer.ts";
import { ClbPurchase, POOL_TAG_KEY, type PurchaseApi } from "./clb_purchase.ts";
import { parsePortPoolSpec } from "./port_pool_spec.ts";

const pool = {
  metadata: { name: "pool-ctcc", uid: "uid-1" },
  spec: {
    startPort: 30000,
    autoCreate: { enabled: true, maxLoadBalancers: 2, parameters: { vipIsp: "CTCC" } },
  },
};

async function setup() {
  const cloud = await FakeTencentCloud.start({ rateLimitPerSecond: Infinity });
  const api = clbApiFor(cloud);
  const writer = new ClbWriter(api, { retryInitialMs: 5, taskPollMs: 5 });
  return { cloud, purchase: new ClbPurchase(api as unknown as PurchaseApi, writer) };
}

Deno.test("buyFor() buys once per purchase number, whatever is asked again", async () => {
  const { cloud, purchase } = await setup();
  await using _ = cloud;
  const spec = parsePortPoolSpec(pool);
  // Two looks at one shortage at once, and one after a restart: one CLB.
  const [a, b] = await Promise.all([
    purchase.buyFor(pool, spec, 0),
    purchase.buyFor(pool, spec, 0),
  ]);
  const again = await new ClbPurchase(clbApiFor(cloud) as unknown as PurchaseApi, {
    read: (_action, call) => call(),
  }).buyFor(pool, spec, 0);
  assert.ok(a.bought);
  assert.deepEqual([b.bought, again.bought], [a.bought, a.bought]);
  const bought = cloud.loadBalancers();
  assert.equal(bought.length, 1);
  assert.equal(bought[0].tags[POOL_TAG_KEY], "pool-ctcc");
  assert.deepEqual(await purchase.boughtFor("pool-ctcc"), [a.bought]);
  // The limit: a third is not bought.
  assert.ok((await purchase.buyFor(pool, spec, 1)).bought);
  assert.match((await purchase.buyFor(pool, spec, 2)).message ?? "", /maxLoadBalancers 2 reached/);
  assert.equal(cloud.loadBalancers().length, 2);
});

Deno.test("buyFor() after a purchase the cloud failed buys with the next token, once", async () => {
  const { cloud, purchase } = await setup();
  await using _ = cloud;
  const spec = parsePortPoolSpec(pool);
  cloud.injectFault({ kind: "taskFailure", actions: ["CreateLoadBalancer"], times: 1 });
  const first = await purchase.buyFor(pool, spec, 0);
  // The instance of a failed purchase goes away once its task ends.
  await new Promise((r) => setTimeout(r, 50));
  const ids = new Set(cloud.loadBalancers().map((lb) => lb.id));
  assert.ok(!first.bought || !ids.has(first.bought), "the failed purchase's CLB is gone");
  const second = await purchase.buyFor(pool, spec, 0);
  const third = await purchase.buyFor(pool, spec, 0);
  assert.ok(second.bought, second.message);
  assert.equal(third.bought, second.bought);
  assert.equal(cloud.loadBalancers().length, 1);
});
