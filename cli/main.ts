/** The `floxide` command: one entry that dispatches to the parts. Thin by design. */
import { FloxideError } from "../worker/sdk/index.ts";
import { UsageError } from "./usage.ts";

const USAGE = `usage: floxide <command> [options]

commands:
  demo      run the video example locally and print a summary
  dev       run your workflow locally, autoscaled, reloaded on change
  worker    run a worker process (see 'floxide worker --help')
  operator  run the WorkflowDeployment operator
  run       start, inspect and control runs
  queue     queue depth of a workflow
  graph     print a workflow's graph as Mermaid or DOT
  help      show this text

Run 'floxide <command> --help' for a command's options.`;

type Command = (args: string[]) => Promise<number>;

const commands: Record<string, () => Promise<Command>> = {
  demo: async () => (await import("./demo.ts")).demo,
  dev: async () => (await import("./dev.ts")).dev,
  worker: async () => {
    const { workerMain } = await import("../worker/main.ts");
    return (args) => workerMain(args, process.env);
  },
  operator: async () => {
    const { operatorMain } = await import("../operator/main.ts");
    return (args) => operatorMain(args, process.env);
  },
  run: async () => (await import("./run.ts")).run,
  queue: async () => (await import("./queue.ts")).queue,
  graph: async () => (await import("./graph.ts")).graph,
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    process.stdout.write(`${USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  const load = commands[name];
  if (load === undefined) {
    process.stderr.write(`floxide: unknown command '${name}'\n\n${USAGE}\n`);
    return 2;
  }
  try {
    return await (
      await load()
    )(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`floxide ${name}: ${error.message}\n`);
      return 2;
    }
    if (error instanceof FloxideError) {
      process.stderr.write(`floxide ${name}: ${error.code}: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
