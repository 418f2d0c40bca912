/**
 * A self-signed certificate for the HTTPS fake of ARM, made at test time with openssl (never committed). The ARM SDK
 * refuses bearer tokens over plain http, so the fake must speak TLS and the client process must trust this cert:
 * through NODE_EXTRA_CA_CERTS (read at process start — see hostWithAdfTrust in ./host-child.ts) or `tlsOptions.ca`.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export interface SelfSignedCert {
  readonly dir: string;
  readonly certPath: string;
  readonly keyPath: string;
  readonly cert: string;
  readonly key: string;
  remove(): void;
}

export function makeSelfSignedCert(): SelfSignedCert {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "adf-fake-cert-"));
  const certPath = path.join(dir, "cert.pem");
  const keyPath = path.join(dir, "key.pem");
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", keyPath, "-out", certPath],
    { stdio: "ignore" },
  );
  return {
    dir,
    certPath,
    keyPath,
    cert: fs.readFileSync(certPath, "utf8"),
    key: fs.readFileSync(keyPath, "utf8"),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
