/**
 * rclone as the benchmarks' reference: Debian's package, its remotes given as container SAS URLs in the environment
 * (never on the command line). Debian's rclone 1.60 builds `https://<account>.<endpoint>` from an `endpoint` setting,
 * which cannot address Azurite's path-style accounts, and its emulator switch knows only devstoreaccount1 on port
 * 10000. rclone runs as an asynchronous child: a synchronous spawn would stop this process's event loop, and Azurite's
 * stderr pipe (drained by this process) would fill and stall Azurite under rclone's requests.
 */
import { spawn, spawnSync } from "node:child_process";

import { type ContainerClient, ContainerSASPermissions } from "@azure/storage-blob";

/** rclone on the PATH, installed from Debian's packages when missing (needs root); false if it cannot be. */
export function ensureRclone(): boolean {
  if (spawnSync("rclone", ["version"], { stdio: "ignore" }).status === 0) return true;
  console.log("rclone is missing: apt-get install -y rclone …");
  spawnSync("apt-get", ["update", "-qq"], { stdio: "inherit" });
  spawnSync("apt-get", ["install", "-y", "-qq", "rclone"], { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  return spawnSync("rclone", ["version"], { stdio: "ignore" }).status === 0;
}

/** Remote `SRC:` reads `source`, remote `DST:` addresses `destination` (write access when `write`), for six hours. */
export async function rcloneRemotes(source: ContainerClient, destination: ContainerClient, write: boolean): Promise<NodeJS.ProcessEnv> {
  const expiresOn = new Date(Date.now() + 6 * 3600_000);
  return {
    ...process.env,
    RCLONE_CONFIG_SRC_TYPE: "azureblob",
    RCLONE_CONFIG_SRC_SAS_URL: await source.generateSasUrl({ permissions: ContainerSASPermissions.parse("rl"), expiresOn }),
    RCLONE_CONFIG_DST_TYPE: "azureblob",
    RCLONE_CONFIG_DST_SAS_URL: await destination.generateSasUrl({ permissions: ContainerSASPermissions.parse(write ? "racwdl" : "rl"), expiresOn }),
  };
}

/** Runs rclone with `args`; its wall time, exit code and the tail of its stderr. */
export function runRclone(args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ ms: number; code: number | null; stderrTail: string }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn("rclone", args, { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
    child.on("error", reject);
    child.on("close", (code) => resolve({ ms: performance.now() - start, code, stderrTail: stderr.trim().split("\n").slice(-3).join(" | ") }));
  });
}
