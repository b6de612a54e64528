import { resolveOptions } from "../contract/index.ts";
import type { DeadLetter, WorkflowStore } from "../worker/store/index.ts";
import { openCliBackend } from "./backend.ts";
import { QUEUE_DEAD_OPTIONS } from "./command-options.ts";
import type { Invocation } from "./program.ts";

/** `floxide queue stats|dead <workflow-name>`. */
export async function queueAction({ name, args, flags, redis, json, env }: Invocation): Promise<number> {
  const workflow = args[0] as string;
  const { limit } = resolveOptions(QUEUE_DEAD_OPTIONS, flags, env);
  const backend = await openCliBackend(redis, env);
  try {
    const store = backend.forWorkflow(workflow);
    process.stdout.write(name === "stats" ? await stats(store, json) : await dead(store, limit, json));
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
