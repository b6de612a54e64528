import { resolveOptions } from "../contract/index.ts";
import { loadWorkflowModule } from "../worker/load-workflow.ts";
import { graphOf, toDot, toMermaid } from "../worker/sdk/index.ts";
import { GRAPH_OPTIONS } from "./command-options.ts";
import type { Invocation } from "./program.ts";

/** `floxide graph <module>`: Mermaid (default), DOT or, with --json, the graph as data. */
export async function graphAction({ args, flags, json, env }: Invocation): Promise<number> {
  const { format } = resolveOptions(GRAPH_OPTIONS, flags, env);
  const def = await loadWorkflowModule(args[0] as string);
  process.stdout.write(
    json ? `${JSON.stringify(graphOf(def), null, 2)}\n` : format === "dot" ? toDot(def) : toMermaid(def),
  );
  return 0;
}
