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

/**
 * A FloxideError's code and message. Checked by shape, not `instanceof`: a module loaded in its
 * own namespace (`floxide dev`'s fresh imports) has its own copy of the error class.
 */
function describeLoadError(error: unknown): string {
  if (
    error instanceof Error &&
    error.name === "FloxideError" &&
    "code" in error &&
    typeof error.code === "string"
  )
    return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

/**
 * The workflow a module exports (default export, or a named `workflow` export; a module compiled
 * as CommonJS nests them one level down), imported with `load`. Every failure is an
 * InvalidWorkflow error naming the module and the reason.
 */
export async function importWorkflow(
  path: string,
  load: () => Promise<unknown>,
): Promise<WorkflowDef<unknown, unknown>> {
  let module: Record<string, unknown>;
  try {
    module = (await load()) as Record<string, unknown>;
  } catch (error) {
    throw new FloxideError(
      "InvalidWorkflow",
      `cannot load workflow module '${path}': ${describeLoadError(error)}`,
      { path },
      { cause: error },
    );
  }
  const nested = module.default as Record<string, unknown> | undefined;
  const def = [module.default, module.workflow, nested?.default, nested?.workflow].find(isWorkflowDef);
  if (def === undefined) {
    throw new FloxideError(
      "InvalidWorkflow",
      `workflow module '${path}' must export a workflow (made with workflow()) as its default export; found ${Object.keys(module).join(", ") || "no exports"}`,
      { path },
    );
  }
  return def;
}

/** Imports a workflow module (relative to `cwd`) and checks what it exports. */
export function loadWorkflowModule(
  path: string,
  cwd = process.cwd(),
): Promise<WorkflowDef<unknown, unknown>> {
  return importWorkflow(path, () => import(pathToFileURL(resolve(cwd, path)).href));
}
