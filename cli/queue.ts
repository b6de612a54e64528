import type { DeadLetter, WorkflowStore } from "../worker/store/index.ts";
import { intOption, parse, UsageError } from "./usage.ts";
import { openCliBackend } from "./backend.ts";

const USAGE = `usage:
  floxide queue stats <workflow-name>              depth, workers and counters
  floxide queue dead <workflow-name> [--limit N]   the newest dead letters (default 20), oldest first
common: --redis <url> (or FLOXIDE_REDIS_URL), --key-prefix <p> (or FLOXIDE_KEY_PREFIX), --json`;

export async function queue(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      redis: { type: "string" },
      "key-prefix": { type: "string" },
      json: { type: "boolean" },
      limit: { type: "string" },
    },
    USAGE,
  );
  const [action, workflow, ...extra] = positionals;
  if ((action !== "stats" && action !== "dead") || workflow === undefined || extra.length > 0)
    throw new UsageError(USAGE);
  const limit = intOption(values.limit, "limit", 20, 1, 10_000);
  const backend = await openCliBackend(values.redis, values["key-prefix"], env);
  try {
    const store = backend.forWorkflow(workflow);
    const json = values.json === true;
    process.stdout.write(action === "stats" ? await stats(store, json) : await dead(store, limit, json));
    return 0;
  } finally {
    await backend.close();
  }
}

async function stats(store: WorkflowStore, json: boolean): Promise<string> {
  const [depth, workers, metrics] = await Promise.all([
    store.depth(),
    store.listWorkers(),
    store.readMetrics(),
  ]);
  const { workflow } = store;
  if (json) {
    const { deadLettered, leaseReclaims } = metrics;
    return `${JSON.stringify({ workflow, ...depth, workers: workers.length, deadLettered, leaseReclaims }, null, 2)}\n`;
  }
  return `workflow ${workflow}: ready ${depth.ready}, in flight ${depth.inFlight}, delayed ${depth.delayed}, dead ${depth.dead}; workers ${workers.length}\n`;
}

async function dead(store: WorkflowStore, limit: number, json: boolean): Promise<string> {
  const letters = await store.deadLetters(limit);
  if (json) return `${JSON.stringify(letters, null, 2)}\n`;
  if (letters.length === 0) return `workflow ${store.workflow}: no dead letters\n`;
  return letters.map(deadLine).join("");
}

const deadLine = ({ at, item, error }: DeadLetter): string =>
  `${new Date(at).toISOString()}  ${item.node || "-"}  run ${item.runId || "-"}  attempt ${item.attempt}  ` +
  `${error.code}: ${error.message}\n`;
