/**
 * Records each process the tests start (Azurite, local host children) in the file named by TEST_PID_FILE, one line
 * "<pid> <marker>" each, where the marker is part of that process's command line. `.ci/run` sets the variable and at
 * the end looks for exactly these processes, so it never has to look for other jobs' Azurite or hosts by name.
 */
import fs from "node:fs";

export const PID_FILE_ENV = "TEST_PID_FILE";

export function recordPid(pid: number | undefined, marker: string): void {
  const file = process.env[PID_FILE_ENV];
  if (file === undefined || file === "" || pid === undefined) return;
  fs.appendFileSync(file, `${pid} ${marker}\n`);
}
