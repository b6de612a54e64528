import { resolveOptions } from "../contract/index.ts";
import {
  reportVersions,
  type DeadLetter,
  type PartitionBacklog,
  type VersionReport,
  type WorkflowStore,
} from "../worker/store/index.ts";
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
  const [depth, workers, metrics, versions] = await Promise.all([
    store.depth(),
    store.listWorkers(),
    store.readMetrics(),
    store.readVersions(),
  ]);
  const { workflow } = store;
  const report = reportVersions(versions, workers);
  if (json) {
    const { deadLettered, leaseReclaims } = metrics;
    const { rollout, partitions = [] } = versions;
    return `${JSON.stringify({ workflow, ...depth, workers: workers.length, deadLettered, leaseReclaims, rollout, versions: report, partitions }, null, 2)}\n`;
  }
  const partitions = versions.partitions ?? [];
  return [
    `workflow ${workflow}: ready ${depth.ready}, in flight ${depth.inFlight}, delayed ${depth.delayed}, dead ${depth.dead}; workers ${workers.length}`,
    ...report.map(versionLine),
    // One line per partition of a partitioned workflow: a skew (one hot partition) shows here.
    ...(partitions.length > 1 ? partitions.map(partitionLine) : []),
  ]
    .map((line) => `${line}\n`)
    .join("");
}

/** One version of `queue stats`: runs are pinned to their version, so each has its own queue. */
function versionLine(v: VersionReport): string {
  const line = `  version ${v.version} (${v.role}): ready ${v.ready}, in flight ${v.inFlight}, delayed ${v.delayed}; workers ${v.workers}`;
  return v.stranded
    ? `${line}; STRANDED: no worker of version ${v.version} is running and new runs go elsewhere; start one (WorkflowDeployment spec.version ${v.version}) to finish its runs`
    : line;
}

const partitionLine = (p: PartitionBacklog): string =>
  `  partition ${p.partition}: ready ${p.ready}, in flight ${p.inFlight}, delayed ${p.delayed}, dead ${p.dead}`;

async function dead(store: WorkflowStore, limit: number, json: boolean): Promise<string> {
  const letters = await store.deadLetters(limit);
  if (json) return `${JSON.stringify(letters, null, 2)}\n`;
  if (letters.length === 0) return `workflow ${store.workflow}: no dead letters\n`;
  return letters.map(deadLine).join("");
}

const deadLine = ({ at, item, error }: DeadLetter): string =>
  `${new Date(at).toISOString()}  ${item.node || "-"}  run ${item.runId || "-"}  attempt ${item.attempt}  ` +
  `${error.code}: ${error.message}\n`;
