/** JSON schemas the API validates its input with (fastify checks them before any handler). */

/** A workflow name as keys.ts accepts it (it forms the Redis hash tag). */
export const WORKFLOW = { type: "string", minLength: 1, maxLength: 200, pattern: "^[^{}\\s]+$" } as const;

/** A run or item id. */
export const ID = { type: "string", minLength: 1, maxLength: 500 } as const;

/** An object of `workflow` plus `properties`, nothing else; `required` names the mandatory keys. */
export function workflowObject(properties: Record<string, object> = {}, required: readonly string[] = []) {
  return {
    type: "object",
    required: ["workflow", ...required],
    additionalProperties: false,
    properties: { workflow: WORKFLOW, ...properties },
  } as const;
}
