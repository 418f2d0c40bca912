import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { describe, it } from "node:test";

import { isPortInUse } from "../../dev/azurite";
import { recordPid } from "../../dev/pid-log";
import { waitFor } from "../support/wait-for";

describe("Azurite helper when its owner dies", { timeout: 600_000 }, () => {
  it("exits with a test process that is killed without calling stop()", async () => {
    const azuriteModule = path.join(__dirname, "../../dev/azurite.js");
    const script = `require(${JSON.stringify(azuriteModule)}).startAzurite().then((a) => console.log(JSON.stringify({ pid: a.pid, port: a.blobPort })));`;
    const owner = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    recordPid(owner.pid, "startAzurite");
    const line = await new Promise<string>((resolve) => owner.stdout.once("data", (d: Buffer) => resolve(d.toString())));
    const { pid, port } = JSON.parse(line) as { pid: number; port: number };
    assert.ok(await isPortInUse(port));
    owner.kill("SIGKILL");
    // Azurite exits and frees its port after its owner was killed.
    await waitFor(
      async () => {
        try {
          process.kill(pid, 0);
          return "running";
        } catch {
          return (await isPortInUse(port)) ? "exited, port still in use" : "gone";
        }
      },
      { until: (state) => state === "gone", describe: `Azurite (pid ${pid}) to exit and free port ${port}`, timeoutMs: 10_000, intervalMs: 100 },
    );
  });
});
