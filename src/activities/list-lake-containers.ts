/**
 * Lists the container names of the lake, so reconciliation covers containers created since its last run without any
 * configuration. Names only: a lake has at most thousands of containers.
 */
import type { BlobServiceClient } from "@azure/storage-blob";
import * as df from "durable-functions";
import { z } from "zod";

import { Activities } from "../function-names";
import { runtime } from "../runtime";

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

df.app.activity(Activities.listLakeContainers, {
  handler: () => createListLakeContainersActivity(runtime().clients.source.service)(),
});
