/**
 * Runs the fake Tencent Cloud CLB API on its own, e.g. for a demo:
 *
 * ```sh
 * deno run --allow-net tests/fakes/tencentcloud/main.ts --port 9000 --lbs lb-1,lb-2
 * ```
 *
 * It prints the endpoint and the (fake) credentials to give the controller,
 * and stops on Ctrl-C.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { FakeTencentCloud } from "./fake_tencent_cloud.ts";

const USAGE = `Usage: main.ts [options]
  --hostname <addr>         address to listen on (default 127.0.0.1)
  --port <n>                port, 0 for any free one (default 9000)
  --lbs <ids>               load balancers to create, comma-separated (default lb-demo0001)
  --region <region>         region (default ap-guangzhou)
  --listener-quota <n>      listeners per load balancer (default 50)
  --task-duration-ms <n>    how long each write's task runs (default 1000)
  --rate-limit <n>          calls per second per action, 0 for none (default 20)
  --secret-id <id>          SecretId to accept (default: a fixed fake one)
  --secret-key <key>        SecretKey to accept (default: a fixed fake one)
  --seed <n>                seed for generated ids and faults (default 1)`;

/**
 * Parses the command line, starts the fake, and returns it.
 *
 * @example
 * ```ts
 * const cloud = await run(["--port", "0", "--lbs", "lb-a,lb-b"]);
 * await cloud.stop();
 * ```
 */
export async function run(args: string[]): Promise<FakeTencentCloud> {
  const { values } = parseArgs({
    args,
    options: {
      hostname: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "9000" },
      lbs: { type: "string", default: "lb-demo0001" },
      region: { type: "string", default: "ap-guangzhou" },
      "listener-quota": { type: "string", default: "50" },
      "task-duration-ms": { type: "string", default: "1000" },
      "rate-limit": { type: "string", default: "20" },
      "secret-id": { type: "string" },
      "secret-key": { type: "string" },
      seed: { type: "string", default: "1" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const rateLimit = integer("--rate-limit", values["rate-limit"]);
  const ids = values.lbs.split(",").map((id) => id.trim()).filter((id) => id !== "");
  return await FakeTencentCloud.start({
    hostname: values.hostname,
    port: integer("--port", values.port),
    region: values.region,
    listenerQuota: integer("--listener-quota", values["listener-quota"]),
    taskDurationMs: integer("--task-duration-ms", values["task-duration-ms"]),
    rateLimitPerSecond: rateLimit === 0 ? Infinity : rateLimit,
    secretId: values["secret-id"],
    secretKey: values["secret-key"],
    seed: integer("--seed", values.seed),
    loadBalancers: ids.map((id, i) => ({ id, vip: `203.0.113.${(i % 254) + 1}` })),
  });
}

function integer(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) {
    throw new TypeError(`${flag} must be a whole number >= 0, got "${text}"`);
  }
  return n;
}

if (import.meta.main) {
  let cloud: FakeTencentCloud;
  try {
    cloud = await run(Deno.args);
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : error}\n\n${USAGE}`);
    Deno.exit(2);
  }
  const lbs = cloud.loadBalancers().map((lb) => `${lb.id} (${lb.vip})`).join(", ");
  console.log(`Fake Tencent Cloud CLB API listening on http://${cloud.endpoint}
  region:      ${cloud.region}
  load balancers: ${lbs}
  SecretId:    ${cloud.secretId}
  SecretKey:   ${cloud.secretKey}   (a fake key, accepted only by this fake)
SDK profile: { httpProfile: { endpoint: "${cloud.endpoint}", protocol: "http://" } }
Press Ctrl-C to stop.`);
  Deno.addSignalListener("SIGINT", async () => {
    await cloud.stop();
    Deno.exit(0);
  });
}
