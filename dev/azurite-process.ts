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

// Azurite's blob extent garbage collector runs every 10 minutes (DEFAULT_GC_INTERVAL_MS) and stops the server while
// it sweeps: it deletes each unreferenced extent's record with a LokiJS removal that rebuilds the extent collection's
// binary index (a sort of every record), one extent after another, in a chain of awaits on values that are never
// pending, so no request is answered until the last one is gone. In a 50,000-blob bench the collection 10 minutes in
// took 7 s; the one 20 minutes in, with about 200,000 blobs, snapshots and copies in the instance, held the server for
// 8 minutes without one answer (Azurite's CPU profile: 464 s in MemoryExtentStore.deleteExtents → findAndRemove →
// ensureIndex). Azure has no such pause, and it made the large benches' times depend on whether a collection fell
// inside a timed run. In memory (tests, benches, the demo) the collector would only give back the memory of deleted
// and overwritten content, so it runs once at start, as Azurite always does, and then waits the longest time
// setTimeout takes (2^31 - 1 ms, 24.8 days; a larger value would fire at once). A persisted run keeps Azurite's
// schedule: there it deletes extent files, and nobody measures it.
if (!persisted) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const blobConstants = require("azurite/dist/src/blob/utils/constants.js") as { DEFAULT_GC_INTERVAL_MS: number };
  blobConstants.DEFAULT_GC_INTERVAL_MS = 2 ** 31 - 1;
}

// Azurite's CLI reads process.argv, which the parent filled with its options, and starts on load; it ships no typed
// module to import.
// eslint-disable-next-line @typescript-eslint/no-require-imports
require("azurite/dist/src/azurite.js");
