/**
 * Runs Azurite's own CLI entry point in this process, and stops as soon as the parent goes away (our stdin closes).
 * Without this watchdog a test runner killed mid-run would leave Azurite listening on its ports.
 *
 * In memory, stopping is exiting. With `--location` (a persisted run), Azurite keeps its metadata in LokiJS databases
 * saved every 5 s, so exiting at once would lose the last seconds of writes: stopping then goes through Azurite's own
 * shutdown (its SIGTERM listener closes the servers and saves the databases), and the process exits when that is done.
 */
const persisted = process.argv.includes("--location");
let stopping = false;

function stop(): void {
  // Azurite adds its own SIGTERM listener once it has started; before that there is nothing to save.
  const azuriteStarted = process.listenerCount("SIGTERM") > 1;
  if (!persisted || !azuriteStarted) process.exit(0);
  if (stopping) return;
  stopping = true;
  // Nothing of ours may keep the process alive while Azurite closes; a close that hangs is cut short.
  process.stdin.destroy();
  setTimeout(() => process.exit(0), 10_000).unref();
}

// The parent reads our stdout until Azurite says it listens (dev/azurite.ts). A parent that is gone makes a write there
// fail with EPIPE; unhandled, that would crash Azurite in the middle of its own shutdown, before it saved its data.
process.stdout.on("error", () => undefined);
process.stderr.on("error", () => undefined);

process.on("SIGTERM", stop);
process.on("SIGINT", stop);
// A parent that went away (even killed with SIGKILL) closes our stdin: stop as if told to.
const stopForParent = (): void => {
  if (persisted) process.kill(process.pid, "SIGTERM");
  else process.exit(0);
};
process.stdin.on("end", stopForParent);
process.stdin.on("error", stopForParent);
process.stdin.resume();

// Azurite's CLI reads process.argv, which the parent filled with its options, and starts on load; it ships no typed
// module to import.
// eslint-disable-next-line @typescript-eslint/no-require-imports
require("azurite/dist/src/azurite.js");
