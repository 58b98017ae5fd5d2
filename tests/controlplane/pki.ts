/**
 * Certificates for tests: a CA, serving certificates signed by it, and
 * service-account key pairs, made with the `openssl` command so that the
 * API server, etcd and Deno's TLS all read them as they would real ones.
 *
 * @example
 * ```ts
 * const dir = await Deno.makeTempDir();
 * const ca = await createCertificateAuthority(dir, "test-ca");
 * const serving = await createServingCertificate(dir, ca, "webhook", {
 *   dnsNames: ["localhost"],
 *   ipAddresses: ["127.0.0.1"],
 * });
 * ```
 * @module
 */

import { join } from "node:path";

/** A certificate and its key, both as files and as PEM text. */
export interface CertificateFiles {
  certFile: string;
  keyFile: string;
  certPem: string;
  keyPem: string;
}

/** Subject alternative names of a serving certificate. */
export interface CertificateNames {
  /** @default {[]} */
  dnsNames?: string[];
  /** @default {[]} */
  ipAddresses?: string[];
}

/** Certificates are made for a day: tests run minutes, the demo hours. */
const VALID_DAYS = 2;

async function openssl(args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(
      `openssl ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
}

async function readPair(certFile: string, keyFile: string): Promise<CertificateFiles> {
  return {
    certFile,
    keyFile,
    certPem: await Deno.readTextFile(certFile),
    keyPem: await Deno.readTextFile(keyFile),
  };
}

/** An EC P-256 key in PKCS#8, which Go, OpenSSL and rustls all accept. */
async function createKey(dir: string, keyFile: string): Promise<void> {
  await openssl([
    "genpkey",
    "-algorithm",
    "EC",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-out",
    keyFile,
  ], dir);
}

/** Creates a self-signed CA named `name` in `dir` (`name.crt`, `name.key`); `dir` is made if missing. */
export async function createCertificateAuthority(
  dir: string,
  name: string,
): Promise<CertificateFiles> {
  await Deno.mkdir(dir, { recursive: true });
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.crt`);
  await createKey(dir, keyFile);
  await openssl([
    "req",
    "-x509",
    "-new",
    "-key",
    keyFile,
    "-out",
    certFile,
    "-days",
    String(VALID_DAYS),
    "-subj",
    `/CN=${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
  ], dir);
  return await readPair(certFile, keyFile);
}

/** Creates a serving (and client) certificate signed by `ca` in `dir`, made if missing. */
export async function createServingCertificate(
  dir: string,
  ca: CertificateFiles,
  name: string,
  names: CertificateNames = {},
): Promise<CertificateFiles> {
  const san = [
    ...(names.dnsNames ?? []).map((n) => `DNS:${n}`),
    ...(names.ipAddresses ?? []).map((ip) => `IP:${ip}`),
  ];
  return await createSignedCertificate(dir, ca, name, {
    subject: `/CN=${name}`,
    extensions: [
      "extendedKeyUsage=serverAuth,clientAuth",
      ...(san.length > 0 ? [`subjectAltName=${san.join(",")}`] : []),
    ],
  });
}

/** Who a client certificate names, as the API server reads it. */
export interface ClientIdentity {
  /** The user name (the certificate's CN). */
  user: string;
  /** The groups (one O each). @default {[]} */
  groups?: string[];
  /**
   * `rsa-pkcs1` writes the `BEGIN RSA PRIVATE KEY` key kubeadm and kind
   * write; `ec` a P-256 key in PKCS#8. @default {"ec"}
   */
  key?: "ec" | "rsa-pkcs1";
}

/** Creates a client certificate for `identity`, signed by `ca`. */
export async function createClientCertificate(
  dir: string,
  ca: CertificateFiles,
  name: string,
  identity: ClientIdentity,
): Promise<CertificateFiles> {
  const groups = (identity.groups ?? []).map((g) => `/O=${g}`).join("");
  return await createSignedCertificate(dir, ca, name, {
    subject: `/CN=${identity.user}${groups}`,
    extensions: ["extendedKeyUsage=clientAuth"],
    key: identity.key,
  });
}

async function createSignedCertificate(
  dir: string,
  ca: CertificateFiles,
  name: string,
  what: { subject: string; extensions: string[]; key?: "ec" | "rsa-pkcs1" },
): Promise<CertificateFiles> {
  await Deno.mkdir(dir, { recursive: true });
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.crt`);
  const csrFile = join(dir, `${name}.csr`);
  const extFile = join(dir, `${name}.ext`);
  if (what.key === "rsa-pkcs1") {
    await openssl(["genrsa", "-traditional", "-out", keyFile, "2048"], dir);
  } else {
    await createKey(dir, keyFile);
  }
  await openssl(["req", "-new", "-key", keyFile, "-out", csrFile, "-subj", what.subject], dir);
  await Deno.writeTextFile(
    extFile,
    [
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      ...what.extensions,
    ].join("\n") + "\n",
  );
  await openssl([
    "x509",
    "-req",
    "-in",
    csrFile,
    "-CA",
    ca.certFile,
    "-CAkey",
    ca.keyFile,
    "-CAcreateserial",
    "-out",
    certFile,
    "-days",
    String(VALID_DAYS),
    "-extfile",
    extFile,
  ], dir);
  return await readPair(certFile, keyFile);
}

/** Creates the key pair the API server signs service-account tokens with. */
export async function createServiceAccountKeys(
  dir: string,
): Promise<{ privateKeyFile: string; publicKeyFile: string }> {
  const privateKeyFile = join(dir, "sa.key");
  const publicKeyFile = join(dir, "sa.pub");
  await openssl([
    "genpkey",
    "-algorithm",
    "RSA",
    "-pkeyopt",
    "rsa_keygen_bits:2048",
    "-out",
    privateKeyFile,
  ], dir);
  await openssl(["pkey", "-in", privateKeyFile, "-pubout", "-out", publicKeyFile], dir);
  return { privateKeyFile, publicKeyFile };
}
