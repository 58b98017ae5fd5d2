import assert from "node:assert/strict";
import {
  ConfigError,
  DEFAULTS,
  FLAGS,
  loadConfig,
  parseDuration,
  readPoolsFile,
  usage,
} from "./config.ts";

const noFile = ["--config="];
const types = {
  settings: [
    { flag: "widget-size", env: "GAMENET_WIDGET_SIZE", help: "how big a widget is", default: "3" },
  ],
  sections: ["widgets"],
};

Deno.test("loadConfig() uses defaults, then environment, then flags", async () => {
  const d = await loadConfig(noFile, {});
  assert.equal(d.namespace, DEFAULTS.namespace);
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

Deno.test("loadConfig() reads a network type's settings like its own and hands them over", async () => {
  assert.equal((await loadConfig(noFile, {}, types)).settings.get("widget-size"), "3");
  const env = await loadConfig(noFile, { GAMENET_WIDGET_SIZE: "5" }, types);
  assert.equal(env.settings.get("widget-size"), "5");
  const flag = await loadConfig(
    [...noFile, "--widget-size=7"],
    { GAMENET_WIDGET_SIZE: "5" },
    types,
  );
  assert.equal(flag.settings.get("widget-size"), "7");
  await assert.rejects(
    loadConfig([...noFile, "--widget-size=7"], {}),
    /Unknown flag --widget-size/,
  );
  await assert.rejects(
    loadConfig(noFile, {}, { settings: [{ flag: "workers", help: "again" }], sections: [] }),
    /Flag --workers is declared twice/,
  );
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
  await assert.rejects(loadConfig([...noFile, "--resync=soon"], {}), /duration like 30s/);
  await assert.rejects(loadConfig([...noFile, "--leader-elect=yes"], {}), /write true or false/);
  await assert.rejects(
    loadConfig(["--config=/nonexistent/gamenet.yaml"], {}),
    /--config=\/nonexistent/,
  );
});

Deno.test("loadConfig() hands each section of the pools file to the type that reads it", async () => {
  const file = await Deno.makeTempFile({ suffix: ".yaml" });
  try {
    await Deno.writeTextFile(file, "widgets:\n  size: 9\n");
    const c = await loadConfig([`--config=${file}`], {}, types);
    assert.deepEqual(c.sections, { widgets: { size: 9 } });
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("readPoolsFile() refuses unknown sections and broken YAML", () => {
  assert.deepEqual(readPoolsFile("pools.yaml", "", ["widgets"]), {});
  assert.throws(
    () => readPoolsFile("pools.yaml", "hostPorts: {}\n", ["hostPort"]),
    /pools.yaml: unknown section "hostPorts"; known: hostPort/,
  );
  assert.throws(() => readPoolsFile("pools.yaml", "hostPort: [\n", ["hostPort"]), /not valid YAML/);
  assert.throws(() => readPoolsFile("pools.yaml", "- 1\n", ["hostPort"]), /a mapping at the top/);
});

Deno.test("parseDuration() and usage() cover every unit and flag", () => {
  assert.equal(parseDuration("x", "250ms"), 250);
  assert.equal(parseDuration("x", "1.5s"), 1500);
  assert.equal(parseDuration("x", "5m"), 300_000);
  assert.equal(parseDuration("x", "0"), 0);
  assert.throws(() => parseDuration("x", "10"), ConfigError);
  const text = usage([{ title: "Widgets", settings: types.settings }]);
  for (const f of FLAGS) assert.ok(text.includes(`--${f.flag}`), f.flag);
  assert.match(
    text,
    /Widgets:\n {2}--widget-size=VALUE +how big a widget is \(default 3\) \[\$GAMENET_WIDGET_SIZE\]/,
  );
});

Deno.test("loadConfig() binds --debug-addr to loopback and leaves /metrics open by default", async () => {
  const d = await loadConfig(noFile, {});
  assert.deepEqual(d.debugAddr, { hostname: "127.0.0.1", port: 8082 });
  assert.equal(d.metricsSecure, false);
  const e = await loadConfig(noFile, {
    GAMENET_DEBUG_ADDR: "[::1]:9082",
    GAMENET_METRICS_SECURE: "true",
  });
  assert.deepEqual(e.debugAddr, { hostname: "::1", port: 9082 });
  assert.equal(e.metricsSecure, true);
  const f = await loadConfig([...noFile, "--debug-addr=:7082", "--metrics-secure"], {
    GAMENET_METRICS_SECURE: "false",
  });
  assert.deepEqual(f.debugAddr, { hostname: "0.0.0.0", port: 7082 });
  assert.equal(f.metricsSecure, true);
  await assert.rejects(loadConfig([...noFile, "--debug-addr=8082"], {}), /--debug-addr "8082"/);
  await assert.rejects(
    loadConfig([...noFile, "--metrics-secure=yes"], {}),
    /--metrics-secure=yes: write true or false/,
  );
});
