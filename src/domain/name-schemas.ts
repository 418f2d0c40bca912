/** zod schemas for names that cross a boundary (queue message, HTTP body, orchestration input), with the reason. */
import { z } from "zod";

import { blobNameProblem, CONTAINER_NAME_RULE, isValidContainerName } from "./names";

export const containerNameSchema = z.string().refine(isValidContainerName, `must be a container name: ${CONTAINER_NAME_RULE}`);

/** A blob name, or a listing prefix (the same rules: a prefix is the start of the names it selects). */
export const blobNameSchema = z.string().superRefine((name, ctx) => {
  const problem = blobNameProblem(name);
  if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
});
