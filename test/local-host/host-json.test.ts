/**
 * host.json as the Functions host and the Durable extension read it: the task hub name (default, `%SETTING%`, the
 * extension's validation message), `AzureFunctionsJobHost__` app settings over host.json, and `functionTimeout`.
 * The product's own host.json is loaded the way Azure would load it, with no app setting naming a hub.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";

import { OUT_ROOT } from "../../local-host";
import { findRepoRoot } from "../../local-host/app-loader";
import { formatTimeSpan, loadHostJson, parseTimeSpan, resolveSetting } from "../../local-host/host-json";

const dirs: string[] = [];
/** A folder holding only this host.json. */
function appWith(hostJson: unknown): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "host-json-"));
  dirs.push(dir);
  fs.writeFileSync(path.join(dir, "host.json"), JSON.stringify(hostJson));
  return dir;
}

const HUB_ERROR = (name: string) =>
  new RegExp(`^Error: Task hub name '${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}' should contain only alphanumeric characters, start with a letter, and have length between 3 and 45\\.$`);

describe("host.json as the host reads it", () => {
  after(() => {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  describe("task hub name", () => {
    it("the product's host.json names no hub: on Azure the extension uses the app's name, letters and digits only", () => {
      const repo = findRepoRoot(OUT_ROOT);
      assert.equal(loadHostJson(repo, {}, { WEBSITE_SITE_NAME: "datalake-backup-prod" }).hubName, "datalakebackupprod");
      assert.equal(loadHostJson(repo, {}, {}).hubName, "TestHubName");
    });

    it("makes a site name that starts with a digit or is too short valid, as the extension does", () => {
      const app = appWith({ version: "2.0" });
      assert.equal(loadHostJson(app, {}, { WEBSITE_SITE_NAME: "42-backup" }).hubName, "t42backup");
      assert.equal(loadHostJson(app, {}, { WEBSITE_SITE_NAME: "ab" }).hubName, "abHub");
      assert.equal(loadHostJson(app, {}, { WEBSITE_SITE_NAME: "x".repeat(60) }).hubName, "x".repeat(45));
    });

    it("fails startup when %SETTING% in hubName does not resolve, naming the literal as the extension does", () => {
      const app = appWith({ version: "2.0", extensions: { durableTask: { hubName: "%TASK_HUB_NAME%" } } });
      assert.throws(() => loadHostJson(app, {}, {}), HUB_ERROR("%TASK_HUB_NAME%"));
    });

    it("resolves %SETTING% in hubName from the app settings, ignoring case", () => {
      const app = appWith({ version: "2.0", extensions: { durableTask: { hubName: "%TASK_HUB_NAME%" } } });
      assert.equal(loadHostJson(app, {}, { TASK_HUB_NAME: "NightlyHub" }).hubName, "NightlyHub");
      assert.equal(loadHostJson(app, {}, { task_hub_name: "NightlyHub" }).hubName, "NightlyHub");
    });

    it("rejects a hub name the Azure Storage provider cannot use", () => {
      const app = appWith({ version: "2.0" });
      const over = (hubName: string) => ({ AzureFunctionsJobHost__extensions__durableTask__hubName: hubName });
      assert.throws(() => loadHostJson(app, {}, over("backup-hub")), HUB_ERROR("backup-hub"));
      assert.throws(() => loadHostJson(app, {}, over("1hub")), HUB_ERROR("1hub"));
      assert.throws(() => loadHostJson(app, {}, over("")), HUB_ERROR(""));
      assert.equal(loadHostJson(app, {}, over("B".repeat(50))).hubName, "B".repeat(50));
      assert.throws(() => loadHostJson(app, {}, over("B".repeat(51))), HUB_ERROR("B".repeat(51)));
    });
  });

  describe("AzureFunctionsJobHost__ app settings", () => {
    it("override host.json values at their path, with case-insensitive keys", () => {
      const app = appWith({ version: "2.0", functionTimeout: "00:10:00", extensions: { durableTask: { hubName: "FromFile" }, queues: { maxDequeueCount: 5 } } });
      const settings = loadHostJson(app, {}, {
        AzureFunctionsJobHost__extensions__durableTask__hubName: "FromSetting",
        azurefunctionsjobhost__Extensions__Queues__MaxDequeueCount: "2",
        AzureFunctionsJobHost__functionTimeout: "00:00:02",
      });
      assert.equal(settings.hubName, "FromSetting");
      assert.equal(settings.queues.maxDequeueCount, 2);
      assert.equal(settings.functionTimeoutMs, 2000);
    });

    it("add values host.json does not have, and win over a test's own overrides", () => {
      const app = appWith({ version: "2.0" });
      const settings = loadHostJson(app, { extensions: { durableTask: { maxOrchestrationActions: 7 } } }, {
        AzureFunctionsJobHost__extensions__durableTask__maxOrchestrationActions: "3",
        AzureFunctionsJobHost__extensions__http__routePrefix: "backup",
      });
      assert.equal(settings.maxOrchestrationActions, 3);
      assert.equal(settings.routePrefix, "backup");
    });

    it("fail startup with the configuration binder's message when a value has the wrong type", () => {
      const app = appWith({ version: "2.0" });
      assert.throws(
        () => loadHostJson(app, {}, { AzureFunctionsJobHost__extensions__queues__maxDequeueCount: "two" }),
        /^Error: Failed to convert configuration value at 'AzureFunctionsJobHost:extensions:queues:maxDequeueCount' to type 'System\.Int32'\.$/,
      );
    });
  });

  describe("functionTimeout", () => {
    it("defaults to 30 minutes, -1 means no limit, and less than a second is refused as by the host", () => {
      const app = appWith({ version: "2.0" });
      assert.equal(loadHostJson(app, {}, {}).functionTimeoutMs, 30 * 60_000);
      assert.equal(loadHostJson(app, {}, { AzureFunctionsJobHost__functionTimeout: "-1" }).functionTimeoutMs, undefined);
      assert.throws(
        () => loadHostJson(app, {}, { AzureFunctionsJobHost__functionTimeout: "00:00:00.5" }),
        /^Error: FunctionTimeout must be greater than 00:00:01 and less than 10675199\.02:48:05\.4775807\.$/,
      );
    });

    it("reads and prints TimeSpans as .NET does", () => {
      assert.equal(parseTimeSpan("00:10:00"), 600_000);
      assert.equal(parseTimeSpan("1.02:00:00"), 26 * 3600_000);
      assert.equal(parseTimeSpan("00:00:01.5"), 1500);
      assert.equal(parseTimeSpan("2"), 2 * 86_400_000);
      assert.throws(() => parseTimeSpan("00:61:00"), /not a TimeSpan/);
      assert.equal(formatTimeSpan(600_000), "00:10:00");
      assert.equal(formatTimeSpan(26 * 3600_000), "1.02:00:00");
      assert.equal(formatTimeSpan(1500), "00:00:01.5000000");
    });
  });

  describe("%SETTING% in binding properties", () => {
    it("resolves app settings ignoring case, and fails with the name resolver's message otherwise", () => {
      assert.equal(resolveSetting("%BACKUP_QUEUE%", { backup_queue: "backup-requests" }), "backup-requests");
      assert.equal(resolveSetting("pre-%A%-%B%", { A: "x", B: "y" }), "pre-x-y");
      assert.throws(() => resolveSetting("%MISSING%", {}), /^Error: '%MISSING%' does not resolve to a value\.$/);
      assert.throws(() => resolveSetting("50%", {}), /^Error: The '%' at position 2 does not have a closing '%'$/);
    });
  });
});
