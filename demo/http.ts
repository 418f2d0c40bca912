/**
 * The producer's side of the HTTP API, done as an ADF Web activity does it: POST the starter, take the `202` and its
 * `Location`, and GET that URL while it answers `202`; the final `200` carries the instance's status and output.
 */
export interface FinalStatus {
  readonly instanceId: string;
  readonly runtimeStatus: string;
  readonly output: unknown;
  readonly customStatus: unknown;
}

export class HttpStepError extends Error {}

/** POSTs `url` (optional JSON body), then follows `Location` until the instance is no longer running. */
export async function startAndFollow(
  url: string,
  body: unknown,
  onProgress: (customStatus: unknown) => void,
  timeoutMs = 120_000,
): Promise<FinalStatus> {
  const started = await fetch(url, {
    method: "POST",
    ...(body !== undefined && { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
  });
  const location = started.headers.get("location");
  if (started.status !== 202 || location === null) {
    throw new HttpStepError(`POST ${new URL(url).pathname} answered ${started.status} (expected 202 + Location): ${await started.text()}`);
  }
  const deadline = Date.now() + timeoutMs;
  let lastProgress = "";
  for (;;) {
    const res = await fetch(location);
    const status = (await res.json()) as FinalStatus;
    if (res.status === 200) return status;
    if (res.status !== 202) throw new HttpStepError(`GET Location answered ${res.status}: ${JSON.stringify(status)}`);
    const progress = JSON.stringify(status.customStatus ?? null);
    if (progress !== lastProgress && status.customStatus !== null && status.customStatus !== undefined) onProgress(status.customStatus);
    lastProgress = progress;
    if (Date.now() > deadline) throw new HttpStepError(`${status.instanceId} still ${status.runtimeStatus} after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
