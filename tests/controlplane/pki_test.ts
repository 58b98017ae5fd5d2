import assert from "node:assert/strict";
import { join } from "node:path";
import { createCertificateAuthority, createServingCertificate } from "./pki.ts";

Deno.test("createCertificateAuthority() and createServingCertificate() make a missing folder", async () => {
  const base = await Deno.makeTempDir();
  try {
    const ca = await createCertificateAuthority(join(base, "ca", "nested"), "ca");
    const serving = await createServingCertificate(join(base, "stub"), ca, "api-stub", {
      ipAddresses: ["127.0.0.1"],
    });
    assert.equal(serving.certFile, join(base, "stub", "api-stub.crt"));
    assert.match(await Deno.readTextFile(serving.certFile), /^-----BEGIN CERTIFICATE-----/);
    assert.match(await Deno.readTextFile(ca.certFile), /^-----BEGIN CERTIFICATE-----/);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
