import { parse, UsageError } from "./usage.ts";
import { openCliBackend } from "./backend.ts";

const USAGE = `usage: floxide queue stats <workflow-name> [--redis <url>] [--key-prefix <p>] [--json]`;

export async function queue(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values, positionals } = parse(
    args,
    { redis: { type: "string" }, "key-prefix": { type: "string" }, json: { type: "boolean" } },
    USAGE,
  );
  const [action, workflow] = positionals;
  if (action !== "stats" || workflow === undefined) throw new UsageError(USAGE);
  const backend = await openCliBackend(values.redis, values["key-prefix"], env);
  try {
    const store = backend.forWorkflow(workflow);
    const [depth, workers, metrics] = await Promise.all([
      store.depth(),
      store.listWorkers(),
      store.readMetrics(),
    ]);
    const stats = {
      workflow,
      ...depth,
      workers: workers.length,
      deadLettered: metrics.deadLettered,
      leaseReclaims: metrics.leaseReclaims,
    };
    process.stdout.write(
      values.json === true
        ? `${JSON.stringify(stats, null, 2)}\n`
        : `workflow ${workflow}: ready ${depth.ready}, in flight ${depth.inFlight}, delayed ${depth.delayed}, dead ${depth.dead}; workers ${workers.length}\n`,
    );
    return 0;
  } finally {
    await backend.close();
  }
}
