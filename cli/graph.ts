import { loadWorkflowModule } from "../worker/load-workflow.ts";
import { toDot, toMermaid } from "../worker/sdk/index.ts";
import { parse, UsageError } from "./usage.ts";

const USAGE = "usage: floxide graph <workflow-module> [--format mermaid|dot]";

export async function graph(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { format: { type: "string" } }, USAGE);
  const [module] = positionals;
  if (module === undefined) throw new UsageError(USAGE);
  const format = values.format ?? "mermaid";
  if (format !== "mermaid" && format !== "dot")
    throw new UsageError(`--format must be mermaid or dot\n\n${USAGE}`);
  const def = await loadWorkflowModule(module);
  process.stdout.write(format === "dot" ? toDot(def) : toMermaid(def));
  return 0;
}
