import assert from "node:assert/strict";
import { join } from "node:path";
import { serveTls, type TlsServer } from "./tls_server.ts";

interface Pair {
  cert: string;
  key: string;
}

/**
 * A self-signed pair for 127.0.0.1. `openssl req -x509` marks the
 * certificate as a CA unless told otherwise, and rustls refuses a CA
 * certificate as a server's own (`CaUsedAsEndEntity`).
 */
async function makePair(dir: string, name: string): Promise<Pair> {
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.crt`);
  // deno-fmt-ignore
  const args = [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", keyFile, "-out", certFile, "-days", "1", "-subj", `/CN=${name}`,
    "-addext", "subjectAltName=IP:127.0.0.1",
    "-addext", "basicConstraints=critical,CA:FALSE",
  ];
  const out = await new Deno.Command("openssl", { args, stdout: "null", stderr: "piped" }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return { cert: await Deno.readTextFile(certFile), key: await Deno.readTextFile(keyFile) };
}

/** Replaces a file at once, as an atomic writer would. */
async function writeAtomic(path: string, text: string): Promise<void> {
  await Deno.writeTextFile(`${path}.tmp`, text);
  await Deno.rename(`${path}.tmp`, path);
}

/** GETs `path` trusting only `caPem`; the body, or the error's text. */
async function get(port: number, caPem: string, path = "/"): Promise<string> {
  // A client per request: a pooled connection would keep the old handshake.
  const client = Deno.createHttpClient({ caCerts: [caPem] });
  try {
    const res = await fetch(`https://127.0.0.1:${port}${path}`, { client });
    return `${res.status} ${await res.text()}`;
  } catch (err) {
    return `error: ${(err as Error).message} ${(err as Error).cause ?? ""}`;
  } finally {
    client.close();
  }
}

async function waitFor(what: string, done: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Fixture {
  dir: string;
  a: Pair;
  b: Pair;
  certFile: string;
  keyFile: string;
}

async function fixture(): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "gamenet-tls-" });
  const [a, b] = await Promise.all([makePair(dir, "a"), makePair(dir, "b")]);
  const certFile = join(dir, "tls.crt");
  const keyFile = join(dir, "tls.key");
  await writeAtomic(certFile, a.cert);
  await writeAtomic(keyFile, a.key);
  return { dir, a, b, certFile, keyFile };
}

function start(
  f: Fixture,
  errors: Error[] = [],
  handler: (req: Request) => Response | Promise<Response> = () => new Response("hello"),
): Promise<TlsServer> {
  return serveTls({
    hostname: "127.0.0.1",
    port: 0,
    certFile: f.certFile,
    keyFile: f.keyFile,
    handler,
    reloadIntervalMs: 50,
    onError: (e) => errors.push(e),
  });
}

Deno.test("serveTls() serves the new certificate on the same port after its files change", async () => {
  const f = await fixture();
  try {
    const server = await start(f);
    const port = server.addr.port;
    assert.equal(await get(port, f.a.cert), "200 hello");
    assert.match(await get(port, f.b.cert), /^error: .*invalid peer certificate/);
    assert.equal(server.reloads, 0);

    await writeAtomic(f.certFile, f.b.cert);
    await writeAtomic(f.keyFile, f.b.key);
    await waitFor("the reload", () => server.reloads === 1);

    assert.equal(server.addr.port, port);
    assert.equal(await get(port, f.b.cert), "200 hello");
    assert.match(await get(port, f.a.cert), /^error: .*invalid peer certificate/);
    await server.shutdown();
    assert.match(await get(port, f.b.cert), /^error: .*Connection refused/);
  } finally {
    await Deno.remove(f.dir, { recursive: true });
  }
});

Deno.test("serveTls() keeps the old certificate when the new key does not match, and reports it once", async () => {
  const f = await fixture();
  const errors: Error[] = [];
  try {
    await using server = await start(f, errors);
    const port = server.addr.port;
    // The certificate arrives before its key, as a non-atomic writer would leave it.
    await writeAtomic(f.certFile, f.b.cert);
    await waitFor("the error", () => errors.length === 1);
    await sleep(300);
    assert.equal(errors.length, 1, errors.map((e) => e.message).join("\n"));
    assert.match(errors[0].message, /tls\.crt with key .*tls\.key is unusable/);
    assert.match(errors[0].message, /still serving the previous certificate/);
    assert.equal(server.reloads, 0);
    assert.equal(await get(port, f.a.cert), "200 hello");

    await writeAtomic(f.keyFile, f.b.key);
    await waitFor("the reload", () => server.reloads === 1);
    assert.equal(await get(port, f.b.cert), "200 hello");
    assert.equal(errors.length, 1);
  } finally {
    await Deno.remove(f.dir, { recursive: true });
  }
});

Deno.test("serveTls() keeps serving when the files disappear, and reports it", async () => {
  const f = await fixture();
  const errors: Error[] = [];
  try {
    await using server = await start(f, errors);
    await Deno.remove(f.keyFile);
    await waitFor("the error", () => errors.length === 1);
    assert.match(errors[0].message, /Could not read the TLS key .*tls\.key/);
    assert.equal(await get(server.addr.port, f.a.cert), "200 hello");
  } finally {
    await Deno.remove(f.dir, { recursive: true });
  }
});

Deno.test("serveTls() lets a request in flight finish across a reload", async () => {
  const f = await fixture();
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  let arrived!: () => void;
  const slowArrived = new Promise<void>((r) => arrived = r);
  try {
    await using server = await start(f, [], async (req) => {
      if (new URL(req.url).pathname !== "/slow") return new Response("hello");
      arrived();
      await gate;
      return new Response("slow done");
    });
    const port = server.addr.port;
    const slow = get(port, f.a.cert, "/slow");
    await slowArrived;
    await writeAtomic(f.certFile, f.b.cert);
    await writeAtomic(f.keyFile, f.b.key);
    await waitFor("the reload", () => server.reloads === 1);
    assert.equal(await get(port, f.b.cert), "200 hello");
    release();
    assert.equal(await slow, "200 slow done");
  } finally {
    await Deno.remove(f.dir, { recursive: true });
  }
});

Deno.test("serveTls() follows a Secret volume's ..data symlink swap", async () => {
  const f = await fixture();
  try {
    // The kubelet's layout: files link into ..data, which links to a
    // timestamped folder; an update writes a new folder and renames a new
    // ..data link over the old one.
    const vol = join(f.dir, "secret");
    await Deno.mkdir(join(vol, "..2026_01_01_a"), { recursive: true });
    await Deno.writeTextFile(join(vol, "..2026_01_01_a", "tls.crt"), f.a.cert);
    await Deno.writeTextFile(join(vol, "..2026_01_01_a", "tls.key"), f.a.key);
    await Deno.symlink("..2026_01_01_a", join(vol, "..data"));
    await Deno.symlink("..data/tls.crt", join(vol, "tls.crt"));
    await Deno.symlink("..data/tls.key", join(vol, "tls.key"));
    await using server = await start({
      ...f,
      certFile: join(vol, "tls.crt"),
      keyFile: join(vol, "tls.key"),
    });
    assert.equal(await get(server.addr.port, f.a.cert), "200 hello");

    await Deno.mkdir(join(vol, "..2026_01_02_b"));
    await Deno.writeTextFile(join(vol, "..2026_01_02_b", "tls.crt"), f.b.cert);
    await Deno.writeTextFile(join(vol, "..2026_01_02_b", "tls.key"), f.b.key);
    await Deno.symlink("..2026_01_02_b", join(vol, "..data_tmp"));
    await Deno.rename(join(vol, "..data_tmp"), join(vol, "..data"));
    await Deno.remove(join(vol, "..2026_01_01_a"), { recursive: true });

    await waitFor("the reload", () => server.reloads === 1);
    assert.equal(await get(server.addr.port, f.b.cert), "200 hello");
  } finally {
    await Deno.remove(f.dir, { recursive: true });
  }
});

Deno.test("serveTls() rejects an unusable initial pair", async () => {
  const f = await fixture();
  try {
    await writeAtomic(f.keyFile, f.b.key);
    await assert.rejects(
      serveTls({ ...f, port: 0, hostname: "127.0.0.1", handler: () => new Response() }),
      /KeyMismatch|not be consistent/,
    );
    await Deno.remove(f.keyFile);
    await assert.rejects(
      serveTls({ ...f, port: 0, hostname: "127.0.0.1", handler: () => new Response() }),
      /Could not read the TLS key/,
    );
  } finally {
    await Deno.remove(f.dir, { recursive: true });
  }
});
