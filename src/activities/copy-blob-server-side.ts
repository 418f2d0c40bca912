/** Copy engine `server`: one conditional server-side copy of the resolved version (src/copy/server-copy.ts). */
import * as df from "durable-functions";

import type { BlobAccount } from "../config/clients";
import { DEFAULT_SERVER_COPY_OPTIONS, serverCopy, type ServerCopyOptions } from "../copy/server-copy";
import { type CopyResult, copyResultSchema, serverCopyInputSchema } from "../domain/blob-backup-activities";
import { Activities } from "../function-names";
import { runtime } from "../runtime";

export function createCopyBlobServerSideActivity(
  deps: { readonly source: BlobAccount; readonly backup: BlobAccount },
  options: ServerCopyOptions = DEFAULT_SERVER_COPY_OPTIONS,
) {
  return async (raw: unknown): Promise<CopyResult> => copyResultSchema.parse(await serverCopy(deps.source, deps.backup, serverCopyInputSchema.parse(raw), options));
}

df.app.activity(Activities.copyBlobServerSide, {
  handler: (input: unknown) => createCopyBlobServerSideActivity(runtime().clients)(input),
});
