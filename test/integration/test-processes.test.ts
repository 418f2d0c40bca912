/**
 * The processes the tests start are recorded in TEST_PID_FILE, each with a marker from its command line, so that
 * `.ci/run` checks for exactly those at the end instead of looking for every Azurite or host on the machine by name.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";

import { startAzurite } from "../../dev/azurite";
import { PID_FILE_ENV } from "../../dev/pid-log";
import { startHostChild } from "../support/host-child";

/** Under .ci/run the file is already set (and checked there); alone, the test uses its own. */
const ownFile = process.env[PID_FILE_ENV] === undefined || process.env[PID_FILE_ENV] === "";
const file = ownFile ? path.join(fs.mkdtempSync(path.join(os.tmpdir(), "pids-")), "pids") : String(process.env[PID_FILE_ENV]);
process.env[PID_FILE_ENV] = file;

function recorded(): string[] {
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter(Boolean) : [];
}

/** The command line of a running process (Linux /proc), or undefined once it has exited. */
function commandLine(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return undefined;
  }
}

describe("processes started by the tests", { timeout: 60_000 }, () => {
  after(() => {
    if (ownFile) {
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
      delete process.env[PID_FILE_ENV];
    }
  });

  it("records Azurite and a local host child with a marker from their command lines", async () => {
    const azurite = await startAzurite();
    const host = await startHostChild({ ...azurite.settings }, {});
    try {
      const azuriteLine = recorded().find((line) => line.startsWith(`${azurite.pid} `));
      assert.ok(azuriteLine !== undefined, `Azurite ${azurite.pid} is not in ${recorded().join(" | ")}`);
      const [, marker = ""] = azuriteLine.split(" ");
      assert.ok(commandLine(azurite.pid)?.includes(marker), `${marker} is not in Azurite's command line`);

      assert.ok(recorded().includes(`${host.pid} host-child-main.js`), `host child ${host.pid} is not in ${recorded().join(" | ")}`);
      assert.ok(commandLine(host.pid)?.includes("host-child-main.js"));
    } finally {
      await host.stop();
      await azurite.stop();
    }
  });
});
