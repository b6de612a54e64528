/**
 * Fresh imports of a workflow module for `floxide dev`: every load goes through tsx's
 * namespaced `tsImport`, so an edited module (and the local files it imports) is read again
 * instead of coming from the ESM cache.
 */
import { watch, type FSWatcher } from "node:fs";
import { basename, dirname, extname } from "node:path";
import { pathToFileURL } from "node:url";
import { tsImport } from "tsx/esm/api";
import { importWorkflow } from "../../worker/load-workflow.ts";
import type { WorkflowDef } from "../../worker/sdk/index.ts";

/** Imports `path` (absolute) afresh; throws InvalidWorkflow with the reason, as the worker does. */
export function importWorkflowFresh(path: string): Promise<WorkflowDef<unknown, unknown>> {
  return importWorkflow(path, () => tsImport(pathToFileURL(path).href, import.meta.url));
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
