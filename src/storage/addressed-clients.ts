/**
 * Every blob and container client the app builds from a name comes from here, and addresses exactly that container
 * and that name — or is not built. The SDK appends a blob name to the container URL and lets URL parsing resolve dot
 * segments: `getBlobClient("../other/x")` of container `raw` addresses blob `x` of container `other`, and `a/./b`
 * addresses `a/b`. Names are checked at the boundaries (names.ts); this is the last line: it compares the built
 * client's URL path with the container and name it was asked for.
 */
import type { BlobClient, BlobServiceClient, BlockBlobClient, ContainerClient } from "@azure/storage-blob";

import { blobNameProblem, CONTAINER_NAME_RULE, isValidContainerName } from "../domain/names";

export class UnsafeNameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnsafeNameError";
  }
}

/** The URL path of `url`, percent-decoded (undefined when it is not valid percent-encoding). */
function decodedPath(url: string): string | undefined {
  try {
    return decodeURIComponent(new URL(url).pathname);
  } catch {
    return undefined;
  }
}

function assertAddresses(parentUrl: string, childUrl: string, name: string, what: string): void {
  const parent = decodedPath(parentUrl);
  const child = decodedPath(childUrl);
  const expected = parent === undefined ? undefined : `${parent.replace(/\/$/, "")}/${name}`;
  if (child === undefined || child !== expected) {
    throw new UnsafeNameError(`the ${what} ${JSON.stringify(name)} would address another resource; refused`);
  }
}

export function containerClient(service: BlobServiceClient, container: string): ContainerClient {
  if (!isValidContainerName(container)) throw new UnsafeNameError(`${JSON.stringify(container)} is not a valid container name: ${CONTAINER_NAME_RULE}`);
  const client = service.getContainerClient(container);
  assertAddresses(service.url, client.url, container, "container name");
  return client;
}

export function blobClient(container: ContainerClient, blob: string): BlobClient {
  const problem = blobNameProblem(blob);
  if (problem !== undefined) throw new UnsafeNameError(`blob name ${JSON.stringify(blob)} refused: ${problem}`);
  const client = container.getBlobClient(blob);
  assertAddresses(container.url, client.url, blob, "blob name");
  return client;
}

export function blockBlobClient(container: ContainerClient, blob: string): BlockBlobClient {
  return blobClient(container, blob).getBlockBlobClient();
}

/** The client of `blob` in `container` of `service`, both names checked. */
export function blobIn(service: BlobServiceClient, container: string, blob: string): BlobClient {
  return blobClient(containerClient(service, container), blob);
}
