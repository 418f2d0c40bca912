/**
 * GET /api/containers/{container}/versions?blob=<name> — the versions of one blob that the backup holds (source
 * last-modified, source ETag, size, when copied, and where: the backup blob, a snapshot or a blob version) and the
 * lake's snapshots, newest first, so an operator can pick a restore's `asOf`. `404` when neither knows the name; `403`
 * for a container outside the app's selection (the same rule as backups and restores).
 */
import { app, type HttpRequest, type HttpResponseInit } from "@azure/functions";

import { backupTargetOf, refusalHttpStatus } from "../domain/container-policy";
import { httpError } from "../domain/http-error";
import { isValidBlobName } from "../domain/names";
import { Triggers } from "../function-names";
import { runtime } from "../runtime";
import { blobVersions } from "../storage/blob-versions";

/** `code` carries the function key when a caller passes it in the URL. */
const ALLOWED_QUERY = new Set(["blob", "code"]);

export async function getBlobVersions(request: HttpRequest): Promise<HttpResponseInit> {
  const container = request.params.container ?? "";
  const { settings, clients } = runtime();
  // The same selection as backups and restores: a key that may read versions still sees only the containers this app
  // backs up, never an excluded one or the app's own reports and staging.
  const target = backupTargetOf(settings, container);
  if (!target.ok) return httpError(refusalHttpStatus(target.code), target.code, target.reason);
  // Read from the URL itself: the host's query map keeps one value per key, so a repeated `blob` would go unseen.
  const query = new URL(request.url).searchParams;
  const unknown = [...new Set(query.keys())].filter((k) => !ALLOWED_QUERY.has(k));
  if (unknown.length > 0) return httpError(400, "InvalidQuery", `unknown query parameter(s): ${unknown.join(", ")} (only blob)`);
  const blob = query.getAll("blob");
  if (blob.length !== 1 || blob[0] === undefined || !isValidBlobName(blob[0])) {
    return httpError(400, "InvalidQuery", "give the blob's name once, URL-encoded: ?blob=<name> (1–1024 characters)");
  }
  const name = blob[0];
  const { backupContainer } = target;
  const versions = await blobVersions(
    clients.source.service.getContainerClient(container),
    clients.backup.service.getContainerClient(backupContainer),
    name,
    settings.backupHistory,
  );
  if (versions.backup.length === 0 && versions.lake.length === 0) {
    return httpError(404, "BlobNotFound", `neither the lake container ${container} nor its backup ${backupContainer} holds "${name}"`);
  }
  return {
    status: 200,
    jsonBody: {
      container,
      blob: name,
      account: clients.source.accountName,
      backupAccount: clients.backup.accountName,
      backupContainer,
      history: settings.backupHistory,
      ...versions,
    },
  };
}

app.http(Triggers.httpGetBlobVersions, {
  route: "containers/{container}/versions",
  methods: ["GET"],
  authLevel: "function",
  handler: getBlobVersions,
});
