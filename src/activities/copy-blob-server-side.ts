/** Copy engine `server`: one conditional server-side copy of the resolved version (src/copy/server-copy.ts). */

import type { BlobAccount } from "../config/clients";
import { DEFAULT_SERVER_COPY_OPTIONS, serverCopy, type ServerCopyOptions } from "../copy/server-copy";
import { type CopyResult, copyResultSchema, serverCopyInputSchema } from "../domain/blob-backup-activities";
import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";

export function createCopyBlobServerSideActivity(
  deps: { readonly source: BlobAccount; readonly backup: BlobAccount },
  options: ServerCopyOptions = DEFAULT_SERVER_COPY_OPTIONS,
) {
  return async (raw: unknown): Promise<CopyResult> => copyResultSchema.parse(await serverCopy(deps.source, deps.backup, serverCopyInputSchema.parse(raw), options));
}

registerActivity(Activities.copyBlobServerSide, ({ clients }) => createCopyBlobServerSideActivity(clients));
