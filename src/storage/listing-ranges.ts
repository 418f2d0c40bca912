/**
 * The directories directly under a prefix and how many blobs sit beside them, from one page of a hierarchical listing
 * (delimiter `/`): what src/domain/listing-ranges.ts splits a container by. Undefined when the top level does not fit
 * one page (then the container is listed as one range: finding its directories would cost about as much as listing it).
 */
import type { ContainerClient } from "@azure/storage-blob";

import type { TopLevel } from "../domain/listing-ranges";
import { listBlobsPage } from "./list-blobs-page";
import { isContainerNotFound } from "./list-source-page";

/** Undefined too when more than `maxLevelNames` blobs sit directly under the prefix. */
export async function topLevelOf(container: ContainerClient, root: string, maxLevelNames = Number.POSITIVE_INFINITY): Promise<TopLevel | undefined> {
  try {
    const page = await listBlobsPage(container, { delimiter: "/", ...(root !== "" && { prefix: root }), maxResults: 5000 });
    if (page.nextMarker !== undefined) return undefined;
    if (page.items.length > maxLevelNames) return undefined;
    return { directories: page.prefixes, blobs: page.items.length };
  } catch (err) {
    // No backup container yet: it has no directories.
    if (isContainerNotFound(err)) return { directories: [], blobs: 0 };
    throw err;
  }
}
