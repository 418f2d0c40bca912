/**
 * The baseline the benches compare listing work with: one container listed flat, page after page, by the app's own
 * List Blobs request and reader (src/storage/list-blobs-page.ts) — the cheapest way this process can list, so a ratio
 * against it is what the product adds to the listing, not what the SDK's slower parser would hide.
 */
import type { ContainerClient } from "@azure/storage-blob";

import { listBlobsPage } from "../src/storage/list-blobs-page";

export async function bareListing(container: ContainerClient, include: { snapshots?: boolean; metadata?: boolean } = {}): Promise<{ entries: number; pages: number }> {
  let entries = 0;
  let pages = 0;
  let marker: string | undefined;
  do {
    const page = await listBlobsPage(container, {
      maxResults: 5000,
      metadata: include.metadata !== false,
      snapshots: include.snapshots === true,
      ...(marker !== undefined && { marker }),
    });
    entries += page.items.length;
    pages += 1;
    marker = page.nextMarker;
  } while (marker !== undefined);
  return { entries, pages };
}
