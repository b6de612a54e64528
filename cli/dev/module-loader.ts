/**
 * Fresh imports of a workflow module for `floxide dev`: every load goes through tsx's
 * namespaced `tsImport`, so an edited module (and the local files it imports) is read again
 * instead of coming from the ESM cache.
 */
import { watch, type FSWatcher } from "node:fs";
import { basename, dirname, extname } from "node:path";
import { pathToFileURL } from "node:url";
import { tsImport } from "tsx/esm/api";
import { FloxideError, type WorkflowDef } from "../../worker/sdk/index.ts";

function isWorkflowDef(value: unknown): value is WorkflowDef<unknown, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const candidate = value as Partial<WorkflowDef<unknown, unknown>>;
  return (
    typeof candidate.name === "string" && candidate.nodes instanceof Map && candidate.edges instanceof Map
  );
}

/** Imports `path` (absolute) afresh; throws InvalidWorkflow with the reason, as the worker does. */
export async function importWorkflowFresh(path: string): Promise<WorkflowDef<unknown, unknown>> {
  let module: Record<string, unknown>;
  try {
    module = (await tsImport(pathToFileURL(path).href, import.meta.url)) as Record<string, unknown>;
  } catch (error) {
    const reason =
      error instanceof Error &&
      "code" in error &&
      typeof error.code === "string" &&
      error.name === "FloxideError"
        ? `${error.code}: ${error.message}`
        : String((error as Error).message ?? error);
    throw new FloxideError(
      "InvalidWorkflow",
      `cannot load workflow module '${path}': ${reason}`,
      { path },
      { cause: error },
    );
  }
  // A module compiled as CommonJS nests its exports one level down.
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

const SOURCE = new Set([".ts", ".mts", ".cts", ".js", ".mjs", ".cjs", ".json"]);

/**
 * Calls `onChange` once per burst of edits (editors write several times) to a source file in
 * the module's directory. Returns the watcher to close.
 */
export function watchModule(path: string, onChange: (file: string) => void, debounceMs = 300): FSWatcher {
  let timer: NodeJS.Timeout | undefined;
  let changed = basename(path);
  const watcher = watch(dirname(path), (_event, filename) => {
    const name = filename === null ? basename(path) : filename.toString();
    if (!SOURCE.has(extname(name))) return;
    changed = name;
    clearTimeout(timer);
    timer = setTimeout(() => onChange(changed), debounceMs);
  });
  watcher.on("close", () => clearTimeout(timer));
  return watcher;
}
