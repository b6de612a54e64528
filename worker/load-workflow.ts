import { basename, extname, resolve } from "node:path";
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

/** How Node loads a module of this extension: said in every load error. */
function formatTried(path: string): string {
  switch (extname(path)) {
    case ".ts":
      return "as TypeScript with its types stripped (ESM or CommonJS by its syntax and the nearest package.json)";
    case ".mts":
      return "as TypeScript with its types stripped, as an ES module";
    case ".cts":
      return "as TypeScript with its types stripped, as CommonJS";
    case ".mjs":
      return "as an ES module";
    case ".cjs":
      return "as CommonJS";
    default:
      return "as JavaScript (ESM or CommonJS by its syntax and the nearest package.json)";
  }
}

/** What to do about the load errors users meet, by Node's error code. */
function loadFixHint(path: string, error: unknown): string {
  const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : "";
  const message = error instanceof Error ? error.message : "";
  switch (code) {
    case "ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX":
    case "ERR_INVALID_TYPESCRIPT_SYNTAX":
      return "Node runs TypeScript by stripping types: use erasable syntax only (no enum, namespace or constructor parameter properties; `import type` for types), or compile it to JavaScript";
    case "ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING":
      return "Node does not strip types under node_modules: compile that package to JavaScript";
    case "ERR_MODULE_NOT_FOUND":
    case "ERR_UNSUPPORTED_DIR_IMPORT":
      if (message.includes(`${basename(path)}'`))
        return "check the path (it is relative to the working directory)";
      return /Cannot find package/.test(message)
        ? "install the package next to the module (npm install), or check its name"
        : "ES modules import local files with their file extension (`./helper.ts`, not `./helper`)";
    case "ERR_REQUIRE_ASYNC_MODULE":
      return "a CommonJS module cannot require() an ES module with top-level await: use import, or an .mjs/.mts module";
    default:
      return /Cannot use import statement outside a module|Unexpected token 'export'/.test(message)
        ? 'the file was read as CommonJS because the nearest package.json says "type": "commonjs": set "type": "module" there, or name the file .mts/.mjs'
        : "";
  }
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
      `cannot load workflow module '${path}' ${formatTried(path)}: ${describeLoadError(error)}` +
        (loadFixHint(path, error) === "" ? "" : `. Fix: ${loadFixHint(path, error)}`),
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
