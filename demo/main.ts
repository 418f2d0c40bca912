/**
 * `npm run demo` (server engine) and `npm run demo -- --adf` (the ADF engine against a local HTTPS fake of the Data
 * Factory API): the whole product offline — Azurite, the app under the local Durable host, producer scans over HTTP,
 * queue-triggered backups, a reconciliation that repairs what was lost. Exit code 0 only if every check held.
 *
 * --adf: the app's ARM client must trust the fake's self-signed certificate, and NODE_EXTRA_CA_CERTS is read only at
 * process start. So this process makes the certificate and runs the demo again in a child started with it (as
 * test/support/host-child.ts does for the ADF end-to-end test); no test hook in the product.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

import { makeSelfSignedCert } from "../test/support/adf-fake/cert";
import { CheckFailed, type Engine, hostLog, runScenario, stopAll } from "./scenario";

const CERT_DIR_ENV = "DEMO_ADF_CERT_DIR";

function parseArgs(argv: readonly string[]): Engine {
  const unknown = argv.filter((a) => a !== "--adf" && a !== "--server");
  if (unknown.length > 0) {
    console.error(`unknown argument(s): ${unknown.join(" ")}\nusage: npm run demo [-- --adf]`);
    process.exit(2);
  }
  return argv.includes("--adf") ? "adf" : "server";
}

/** The parent of an --adf run: certificate, child with NODE_EXTRA_CA_CERTS, its exit code; the certificate removed. */
function respawnTrustingFake(): void {
  const cert = makeSelfSignedCert();
  const child = spawn(process.execPath, [__filename, ...process.argv.slice(2)], {
    env: { ...process.env, NODE_EXTRA_CA_CERTS: cert.certPath, [CERT_DIR_ENV]: cert.dir },
    stdio: "inherit",
  });
  // Ctrl-C reaches the child from the terminal too; forwarding is for a signal sent to this process alone. The child
  // stops once, however many signals it gets.
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  process.on("SIGINT", forward("SIGINT"));
  process.on("SIGTERM", forward("SIGTERM"));
  child.on("exit", (code, signal) => {
    cert.remove();
    process.exit(code ?? (signal !== null ? 130 : 1));
  });
}

async function run(engine: Engine): Promise<void> {
  let stopping = false;
  const interrupt = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping Azurite and the host …`);
    void stopAll().then(() => process.exit(130));
  };
  process.on("SIGINT", () => interrupt("SIGINT"));
  process.on("SIGTERM", () => interrupt("SIGTERM"));

  const certDir = process.env[CERT_DIR_ENV];
  try {
    await runScenario({
      engine,
      ...(certDir !== undefined && {
        adfCert: { cert: fs.readFileSync(path.join(certDir, "cert.pem"), "utf8"), key: fs.readFileSync(path.join(certDir, "key.pem"), "utf8") },
      }),
    });
    await stopAll();
    process.exit(0);
  } catch (err) {
    if (stopping) return;
    stopping = true;
    const message = err instanceof Error ? err.message : String(err);
    console.error(`\n✘ DEMO FAILED: ${err instanceof CheckFailed ? "" : "unexpected error: "}${message}`);
    if (!(err instanceof CheckFailed) && err instanceof Error && err.stack !== undefined) console.error(err.stack);
    if (hostLog.length > 0) console.error(`\nlast host messages:\n  ${hostLog.slice(-20).join("\n  ")}`);
    await stopAll();
    process.exit(1);
  }
}

const engine = parseArgs(process.argv.slice(2));
if (engine === "adf" && process.env[CERT_DIR_ENV] === undefined) respawnTrustingFake();
else void run(engine);
