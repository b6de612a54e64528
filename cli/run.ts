import { readFile } from "node:fs/promises";
import { loadWorkflowModule } from "../worker/load-workflow.ts";
import { Orchestrator } from "../worker/engine/index.ts";
import { FloxideError, type WorkflowDef } from "../worker/sdk/index.ts";
import { isTerminal, type RunInfo, type RunStatus } from "../worker/store/index.ts";
import { openCliBackend } from "./backend.ts";
import { nodeRows, renderRunReport } from "./show.ts";
import { parse, UsageError, intOption } from "./usage.ts";

const USAGE = `usage:
  floxide run start <workflow-module> --input <json|@file> [--id <idempotency-key>] [--wait] [--timeout S]
  floxide run status|wait|cancel|pause|resume <run-id> --workflow <name|module> [--timeout S]
  floxide run list --workflow <name|module> [--status <status>] [--limit N]
  floxide run errors <run-id> --workflow <name|module>
  floxide run show <run-id> --workflow <name|module>   status, per-node table, errors, output, event timeline
common: --redis <url> (or FLOXIDE_REDIS_URL), --key-prefix <p> (or FLOXIDE_KEY_PREFIX), --json
exit codes: 0 ok, 1 run failed or not found, 2 usage error`;

const STATUSES: readonly RunStatus[] = ["queued", "running", "paused", "completed", "failed", "cancelled"];

const OPTIONS = {
  input: { type: "string" },
  id: { type: "string" },
  wait: { type: "boolean" },
  timeout: { type: "string" },
  workflow: { type: "string" },
  status: { type: "string" },
  limit: { type: "string" },
  redis: { type: "string" },
  "key-prefix": { type: "string" },
  json: { type: "boolean" },
} as const;

/** Parses `--input`: inline JSON, or `@path` to a JSON file. Errors say which and why. */
export async function readInput(text: string | undefined): Promise<unknown> {
  if (text === undefined) throw new UsageError("--input is required (JSON, or @file with JSON)");
  const source = text.startsWith("@")
    ? await readFile(text.slice(1), "utf8").catch((error: Error) => {
        throw new UsageError(`cannot read input file '${text.slice(1)}': ${error.message}`);
      })
    : text;
  try {
    return JSON.parse(source) as unknown;
  } catch (error) {
    throw new UsageError(
      `--input is not valid JSON${text.startsWith("@") ? ` (in ${text.slice(1)})` : ""}: ${(error as Error).message}`,
    );
  }
}

const looksLikeModule = (value: string): boolean => /\.(m?[jt]s)$/.test(value) || value.includes("/");

export async function run(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values, positionals } = parse(args, OPTIONS, USAGE);
  const [action, target] = positionals;
  if (action === undefined || (target === undefined && action !== "list")) throw new UsageError(USAGE);
  const json = values.json === true;
  const timeoutMs = intOption(values.timeout, "timeout", 300, 1, 86400) * 1000;
  const print = (info: unknown, text: string): void => {
    process.stdout.write(json ? `${JSON.stringify(info, null, 2)}\n` : `${text}\n`);
  };

  let def: WorkflowDef<unknown, unknown> | null = null;
  let workflowName: string;
  let input: unknown = null;
  if (action === "start") {
    input = await readInput(values.input);
    def = await loadWorkflowModule(target as string);
    workflowName = def.name;
  } else {
    if (values.workflow === undefined)
      throw new UsageError(`--workflow is required for 'run ${action}'\n\n${USAGE}`);
    if (looksLikeModule(values.workflow)) {
      def = await loadWorkflowModule(values.workflow);
      workflowName = def.name;
    } else workflowName = values.workflow;
  }

  const backend = await openCliBackend(values.redis, values["key-prefix"], env);
  try {
    const store = backend.forWorkflow(workflowName);
    const orchestrator = def === null ? null : new Orchestrator(store, def);
    const exitFor = (info: RunInfo): number =>
      info.status === "failed" || info.status === "cancelled" ? 1 : 0;
    const need = (runId: string | undefined): string => {
      if (runId === undefined) throw new UsageError(`run ${action} needs a run id\n\n${USAGE}`);
      return runId;
    };
    switch (action) {
      case "start": {
        const started = await (orchestrator as Orchestrator).start(
          input,
          values.id === undefined ? {} : { idempotencyKey: values.id },
        );
        if (values.wait !== true) {
          print(
            started,
            started.created ? started.runId : `${started.runId} (existing run for key '${values.id}')`,
          );
          return 0;
        }
        const info = await (orchestrator as Orchestrator).wait(started.runId, { timeoutMs, pollMs: 100 });
        print(info, describe(info));
        return exitFor(info);
      }
      case "status": {
        const info = await store.getRun(need(target));
        if (info === null)
          throw new FloxideError("RunNotFound", `run '${target}' not found in workflow '${workflowName}'`);
        print(info, describe(info));
        return 0;
      }
      case "wait": {
        const deadline = Date.now() + timeoutMs;
        let info = await store.getRun(need(target));
        while (info !== null && !isTerminal(info.status) && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          info = await store.getRun(need(target));
        }
        if (info === null)
          throw new FloxideError("RunNotFound", `run '${target}' not found in workflow '${workflowName}'`);
        print(info, describe(info));
        return isTerminal(info.status) ? exitFor(info) : 1;
      }
      case "cancel":
      case "pause":
      case "resume": {
        const runId = need(target);
        const info =
          action === "cancel"
            ? await store.cancelRun(runId, "cancelled with floxide run cancel")
            : action === "pause"
              ? await store.pauseRun(runId)
              : await store.resumeRun(runId);
        print(info, describe(info));
        return 0;
      }
      case "list": {
        if (values.status !== undefined && !STATUSES.includes(values.status as RunStatus)) {
          throw new UsageError(`--status must be one of ${STATUSES.join(", ")}`);
        }
        const limit = intOption(values.limit, "limit", 50, 1, 10_000);
        const runs = await store.listRuns(
          values.status === undefined ? { limit } : { status: values.status as RunStatus, limit },
        );
        print(
          runs,
          runs
            .map(
              (info) => `${info.runId}  ${info.status.padEnd(9)}  ${new Date(info.createdAt).toISOString()}`,
            )
            .join("\n") || "no runs",
        );
        return 0;
      }
      case "show": {
        const runId = need(target);
        const info = await store.getRun(runId);
        if (info === null)
          throw new FloxideError("RunNotFound", `run '${runId}' not found in workflow '${workflowName}'`);
        const [items, errors, events] = await Promise.all([
          store.listItems(runId),
          store.listErrors({ runId, limit: 1000 }),
          store.readEvents(runId, 0),
        ]);
        const report = { run: info, nodes: nodeRows(items), items, errors, events };
        print(report, renderRunReport(report));
        return 0;
      }
      case "errors": {
        const errors = await store.listErrors({ runId: need(target) });
        print(
          errors,
          errors
            .map(
              (e) =>
                `${new Date(e.at).toISOString()}  ${e.node}  attempt ${e.attempt}  ${e.action}  ${e.error.code}: ${e.error.message}`,
            )
            .join("\n") || "no errors",
        );
        return 0;
      }
      default:
        throw new UsageError(`unknown action '${action}'\n\n${USAGE}`);
    }
  } finally {
    await backend.close();
  }
}

export function describe(info: RunInfo): string {
  const lines = [`run ${info.runId}: ${info.status}`, `  workflow ${info.workflow}@${info.version}`];
  if (info.startedAt !== null) lines.push(`  started ${new Date(info.startedAt).toISOString()}`);
  if (info.finishedAt !== null) lines.push(`  finished ${new Date(info.finishedAt).toISOString()}`);
  if (info.pending > 0 || info.held > 0) lines.push(`  pending ${info.pending}, held ${info.held}`);
  for (const output of info.outputs) lines.push(`  output (${output.node}): ${JSON.stringify(output.value)}`);
  if (info.error !== null)
    lines.push(
      `  error: ${info.error.code}: ${info.error.message}${info.error.node ? ` (node ${info.error.node})` : ""}`,
    );
  return lines.join("\n");
}
