/**
 * Lists the container names of the lake, so reconciliation covers containers created since its last run without any
 * configuration. Names only: a lake has at most thousands of containers.
 */
import type { BlobServiceClient } from "@azure/storage-blob";
import { z } from "zod";

import { registerActivity } from "../durable/register-activity";
import { Activities } from "../function-names";

export const lakeContainersSchema = z.strictObject({ containers: z.array(z.string()) });
export type LakeContainers = z.infer<typeof lakeContainersSchema>;

export function createListLakeContainersActivity(source: BlobServiceClient): () => Promise<LakeContainers> {
  return async () => {
    const containers: string[] = [];
    for await (const page of source.listContainers().byPage({ maxPageSize: 5000 })) {
      for (const item of page.containerItems) if (item.deleted !== true) containers.push(item.name);
    }
    return { containers };
  };
}

registerActivity(Activities.listLakeContainers, ({ clients }) => createListLakeContainersActivity(clients.source.service));
