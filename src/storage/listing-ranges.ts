/**
 * The directories directly under a prefix, from one page of a hierarchical listing (delimiter `/`): what
 * src/domain/listing-ranges.ts splits a container by. Undefined when the top level does not fit one page (then the
 * container is listed as one range: finding its directories would cost about as much as listing it).
 */
import type { ContainerClient } from "@azure/storage-blob";

import { isContainerNotFound } from "./list-source-page";

/** Undefined too when more than `maxLevelNames` blobs sit directly under the prefix. */
export async function topDirectories(container: ContainerClient, root: string, maxLevelNames = Number.POSITIVE_INFINITY): Promise<string[] | undefined> {
  try {
    const pages = container.listBlobsByHierarchy("/", { ...(root !== "" && { prefix: root }) }).byPage({ maxPageSize: 5000 });
    const first = await pages.next();
    if (first.done === true) return [];
    const token = first.value.continuationToken;
    if (token !== undefined && token !== "") return undefined;
    if (first.value.segment.blobItems.length > maxLevelNames) return undefined;
    return (first.value.segment.blobPrefixes ?? []).map((p) => p.name);
  } catch (err) {
    // No backup container yet: it has no directories.
    if (isContainerNotFound(err)) return [];
    throw err;
  }
}
