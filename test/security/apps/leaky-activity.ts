/**
 * A small app for the history test: an activity registered the way every product activity is (registerActivity), that
 * fails with an SDK-like error quoting secrets, and an orchestration that calls it once.
 */
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import * as df from "durable-functions";

import { registerActivity } from "../../../src/durable/register-activity";

/** Every form a secret takes in real SDK and ARM errors: SAS (plain, encoded, JSON-escaped), keys, tokens. */
export const LEAKED_SECRET = "LEAKEDSECRET0123456789";

const message = [
  `GET https://datalake1.blob.core.windows.net/raw/a.csv?sv=2024-08-04&sig=${LEAKED_SECRET}&se=2026-12-01 failed`,
  `source=https%3A%2F%2Fdatalake1.blob.core.windows.net%2Fraw%2Fa.csv%3Fsv%3D1%26sig%3D${LEAKED_SECRET}`,
  String.raw`{"url":"https://x/y?sv=1\u0026sig=${LEAKED_SECRET}"}`,
  `Authorization: SharedKey datalake1:${LEAKED_SECRET}`,
  `AccountKey=${LEAKED_SECRET};`,
  `Authorization: Bearer ${LEAKED_SECRET}`,
].join("\n");

registerActivity("LeakyActivity", () => () => Promise.reject(new Error(message)));

const leaky: OrchestrationHandler = function* (context: OrchestrationContext) {
  return (yield context.df.callActivity("LeakyActivity", null)) as unknown;
};
df.app.orchestration("LeakyOrchestration", leaky);
