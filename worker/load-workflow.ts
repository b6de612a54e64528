import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { FloxideError, type WorkflowDef } from "./sdk/index.ts";

function isWorkflowDef(value: unknown): value is WorkflowDef<unknown, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const candidate = value as Partial<WorkflowDef<unknown, unknown>>;
  return (
    typeof candidate.name === "string" &&
    typeof candidate.version === "string" &&
    typeof candidate.start === "string" &&
    candidate.nodes instanceof Map &&
    candidate.edges instanceof Map
  );
}

/** Imports a workflow module (default export, or a named `workflow` export) and checks what it exports. */
export async function loadWorkflowModule(
  path: string,
  cwd = process.cwd(),
): Promise<WorkflowDef<unknown, unknown>> {
  const url = pathToFileURL(resolve(cwd, path)).href;
  let module: Record<string, unknown>;
  try {
    module = (await import(url)) as Record<string, unknown>;
  } catch (error) {
    const reason =
      error instanceof FloxideError
        ? `${error.code}: ${error.message}`
        : String((error as Error).message ?? error);
    throw new FloxideError(
      "InvalidWorkflow",
      `cannot load workflow module '${path}': ${reason}`,
      { path },
      { cause: error },
    );
  }
  const def = module.default ?? module.workflow;
  if (!isWorkflowDef(def)) {
    throw new FloxideError(
      "InvalidWorkflow",
      `workflow module '${path}' must export a workflow (made with workflow()) as its default export; found ${Object.keys(module).join(", ") || "no exports"}`,
      { path },
    );
  }
  return def;
}
