/**
 * Fresh imports of a workflow module for `floxide dev`: every load imports the module under a
 * new generation (a URL query), and a resolve hook passes that generation on to every local
 * file it imports, so an edited module and its local imports are read again instead of coming
 * from the ESM cache. Packages (anything under node_modules) load once, as usual.
 */
import { watch, type FSWatcher } from "node:fs";
import { createRequire, registerHooks } from "node:module";
import { basename, dirname, extname, sep } from "node:path";
import { pathToFileURL } from "node:url";
import { importWorkflow } from "../../worker/load-workflow.ts";
import type { WorkflowDef } from "../../worker/sdk/index.ts";

const GENERATION = "floxide-dev-generation";
let generation = 0;
let hooked = false;

function passGenerationOn(): void {
  if (hooked) return;
  hooked = true;
  registerHooks({
    resolve(specifier, context, nextResolve) {
      const resolved = nextResolve(specifier, context);
      const parent = context.parentURL === undefined ? null : new URL(context.parentURL);
      const current = parent?.searchParams.get(GENERATION);
      if (current == null || !resolved.url.startsWith("file:") || resolved.url.includes("/node_modules/")) {
        return resolved;
      }
      const url = new URL(resolved.url);
      url.searchParams.set(GENERATION, current);
      return { ...resolved, url: url.href };
    },
  });
}

/** CommonJS files next to the module are cached by file name, not URL: forget them. */
function forgetCommonJs(dir: string): void {
  const cache = createRequire(import.meta.url).cache;
  for (const file of Object.keys(cache)) {
    if (file.startsWith(dir + sep) && !file.includes(`${sep}node_modules${sep}`)) delete cache[file];
  }
}

/** Imports `path` (absolute) afresh; throws InvalidWorkflow with the reason, as the worker does. */
export function importWorkflowFresh(path: string): Promise<WorkflowDef<unknown, unknown>> {
  passGenerationOn();
  forgetCommonJs(dirname(path));
  generation += 1;
  const url = pathToFileURL(path);
  url.searchParams.set(GENERATION, String(generation));
  return importWorkflow(path, () => import(url.href));
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
