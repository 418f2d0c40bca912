/**
 * Runs Azurite's own CLI entry point in this process, and exits as soon as the parent goes away (our stdin closes).
 * Without this watchdog a test runner killed mid-run would leave Azurite listening on its ports.
 */
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));

// Azurite's CLI reads process.argv, which the parent filled with its options, and starts on load; it ships no typed
// module to import.
// eslint-disable-next-line @typescript-eslint/no-require-imports
require("azurite/dist/src/azurite.js");
