/**
 * The child side of ./host-child.ts: starts the local host with LOCAL_HOST_SETTINGS (and LOCAL_HOST_CLOCK,
 * LOCAL_HOST_STATE_DIR, LOCAL_HOST_QUEUE_LEASE_SECONDS) and reports its base URL.
 */
import { startLocalHost } from "../../local-host";

async function main(): Promise<void> {
  const settings = JSON.parse(process.env.LOCAL_HOST_SETTINGS ?? "{}") as Record<string, string>;
  const clock = process.env.LOCAL_HOST_CLOCK === "virtual" ? "virtual" : "real";
  const stateDir = process.env.LOCAL_HOST_STATE_DIR;
  const leaseSeconds = Number(process.env.LOCAL_HOST_QUEUE_LEASE_SECONDS ?? "");
  const host = await startLocalHost({
    settings,
    queuePollMs: 50,
    timerSchedules: false,
    clock,
    ...(stateDir !== undefined && stateDir !== "" && { stateDir }),
    ...(leaseSeconds > 0 && { queueMessageLeaseSeconds: leaseSeconds }),
  });
  process.stdout.write(`${JSON.stringify({ baseUrl: host.baseUrl })}\n`);
  process.stdin.resume();
  process.stdin.on("end", () => {
    void host.stop().then(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
