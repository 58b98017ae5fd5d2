import assert from "node:assert/strict";
import {
  applyPoolsFile,
  ConfigError,
  DEFAULTS,
  loadConfig,
  parseDuration,
  usage,
} from "./config.ts";

const noFile = ["--config="];

Deno.test("loadConfig() uses defaults, then environment, then flags", async () => {
  const d = await loadConfig(noFile, {});
  assert.equal(d.namespace, DEFAULTS.namespace);
  assert.deepEqual(d.hostPortRanges, { default: { min: 8000, max: 9000 } });
  assert.deepEqual(d.httpAddr, { hostname: "0.0.0.0", port: 8080 });
  assert.equal(d.leaderElect, true);
  const e = await loadConfig(noFile, {
    POD_NAMESPACE: "games",
    GAMENET_WORKERS: "4",
    POD_NAME: "gamenet-0",
  });
  assert.equal(e.namespace, "games");
  assert.equal(e.workers, 4);
  assert.equal(e.identity, "gamenet-0");
  const f = await loadConfig(
    [...noFile, "--namespace=x", "--workers", "2", "--leader-elect=false"],
    {
      POD_NAMESPACE: "games",
    },
  );
  assert.equal(f.namespace, "x");
  assert.equal(f.workers, 2);
  assert.equal(f.leaderElect, false);
});

Deno.test("loadConfig() refuses bad flags with a message naming them", async () => {
  await assert.rejects(
    loadConfig(["--nope"], {}),
    (e) => e instanceof ConfigError && /Unknown flag --nope/.test(e.message),
  );
  await assert.rejects(
    loadConfig([...noFile, "--workers=0"], {}),
    /--workers=0: write a whole number/,
  );
  await assert.rejects(loadConfig([...noFile, "--host-port-range=9000-8000"], {}), /low-high/);
  await assert.rejects(loadConfig([...noFile, "--reuse-delay=soon"], {}), /duration like 30s/);
  await assert.rejects(
    loadConfig(["--config=/nonexistent/gamenet.yaml"], {}),
    /--config=\/nonexistent/,
  );
});

Deno.test("applyPoolsFile() reads named ranges and keeps a default", async () => {
  const c = await loadConfig(noFile, {});
  applyPoolsFile(
    c,
    "pools.yaml",
    "hostPort:\n  ranges:\n    game: 9000-10000\n  reuseDelay: 30s\n",
  );
  assert.deepEqual(c.hostPortRanges, {
    game: { min: 9000, max: 10000 },
    default: { min: 8000, max: 9000 },
  });
  assert.equal(c.reuseDelayMs, 30_000);
  assert.throws(
    () => applyPoolsFile(c, "pools.yaml", "hostPorts: {}\n"),
    /unknown section "hostPorts"/,
  );
  assert.throws(
    () => applyPoolsFile(c, "pools.yaml", "hostPort:\n  ranges:\n    x: 1-70000\n"),
    /hostPort.ranges.x/,
  );
  assert.throws(() => applyPoolsFile(c, "pools.yaml", "hostPort: [\n"), /not valid YAML/);
});

Deno.test("parseDuration() and usage() cover every unit and flag", () => {
  assert.equal(parseDuration("x", "250ms"), 250);
  assert.equal(parseDuration("x", "1.5s"), 1500);
  assert.equal(parseDuration("x", "5m"), 300_000);
  assert.equal(parseDuration("x", "0"), 0);
  assert.throws(() => parseDuration("x", "10"), ConfigError);
  assert.match(
    usage(),
    /--host-port-range=VALUE +the default host-port range .*\[\$GAMENET_HOST_PORT_RANGE\]/,
  );
});
