import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { describe, it } from "node:test";

import { isPortInUse } from "../../dev/azurite";
import { recordPid } from "../../dev/pid-log";

async function waitUntil(condition: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

describe("Azurite helper when its owner dies", () => {
  it("exits with a test process that is killed without calling stop()", async () => {
    const azuriteModule = path.join(__dirname, "../../dev/azurite.js");
    const script = `require(${JSON.stringify(azuriteModule)}).startAzurite().then((a) => console.log(JSON.stringify({ pid: a.pid, port: a.blobPort })));`;
    const owner = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    recordPid(owner.pid, "startAzurite");
    const line = await new Promise<string>((resolve) => owner.stdout.once("data", (d: Buffer) => resolve(d.toString())));
    const { pid, port } = JSON.parse(line) as { pid: number; port: number };
    assert.ok(await isPortInUse(port));
    owner.kill("SIGKILL");
    const gone = await waitUntil(async () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return !(await isPortInUse(port));
      }
    }, 10_000);
    assert.ok(gone, "Azurite exited and freed its port after its owner was killed");
  });
});
