import { readFile } from "node:fs/promises";
import { resolveOptions, type OptionTable } from "../contract/index.ts";
import { loadWorkflowModule } from "../worker/load-workflow.ts";
import { Orchestrator } from "../worker/engine/index.ts";
import { FloxideError, type WorkflowDef } from "../worker/sdk/index.ts";
import { isTerminal, type RunInfo, type RunStatus } from "../worker/store/index.ts";
import { openCliBackend } from "./backend.ts";
import {
  RUN_LIST_OPTIONS,
  RUN_START_OPTIONS,
  RUN_TARGET_OPTIONS,
  RUN_WAIT_OPTIONS,
} from "./command-options.ts";
import { UsageError } from "./options.ts";
import type { Invocation } from "./program.ts";
import { nodeRows, renderRunReport } from "./show.ts";

const TABLES: Record<string, OptionTable> = {
  start: RUN_START_OPTIONS,
  wait: RUN_WAIT_OPTIONS,
  list: RUN_LIST_OPTIONS,
};

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

/** `floxide run <action> ...`: the subcommands of cli/program.ts. */
export async function runAction({
  name: action,
  args,
  flags,
  redis,
  json,
  switches,
  env,
}: Invocation): Promise<number> {
  const target = args[0];
  const values = resolveOptions(TABLES[action] ?? RUN_TARGET_OPTIONS, flags, env) as {
    readonly input?: string;
    readonly id?: string;
    readonly timeout?: number;
    readonly workflow?: string;
    readonly status?: string;
    readonly limit?: number;
  };
  const timeoutMs = (values.timeout ?? 300) * 1000;
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
    const workflow = values.workflow as string;
    if (looksLikeModule(workflow)) {
      def = await loadWorkflowModule(workflow);
      workflowName = def.name;
    } else workflowName = workflow;
  }

  const backend = await openCliBackend(redis, env);
  try {
    const store = backend.forWorkflow(workflowName);
    const orchestrator = def === null ? null : new Orchestrator(store, def);
    const exitFor = (info: RunInfo): number =>
      info.status === "failed" || info.status === "cancelled" ? 1 : 0;
    const need = (runId: string | undefined): string => {
      if (runId === undefined) throw new UsageError(`run ${action} needs a run id`);
      return runId;
    };
    switch (action) {
      case "start": {
        const started = await (orchestrator as Orchestrator).start(
          input,
          values.id === undefined ? {} : { idempotencyKey: values.id },
        );
        if (!switches.has("wait")) {
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
        const limit = values.limit ?? 50;
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
        throw new UsageError(`unknown action '${action}'`);
    }
  } finally {
    await backend.close();
  }
}

export function describe(info: RunInfo): string {
  const lines = [`run ${info.runId}: ${info.status}`, `  workflow ${info.workflow}@${info.version}`];
  if (info.startedAt !== null) lines.push(`  started ${new Date(info.startedAt).toISOString()}`);
  if (info.finishedAt !== null) lines.push(`  finished ${new Date(info.finishedAt).toISOString()}`);
  if (!isTerminal(info.status) && (info.pending > 0 || info.held > 0))
    lines.push(`  pending ${info.pending}, held ${info.held}`);
  for (const output of info.outputs) lines.push(`  output (${output.node}): ${JSON.stringify(output.value)}`);
  if (info.error !== null)
    lines.push(
      `  error: ${info.error.code}: ${info.error.message}${info.error.node ? ` (node ${info.error.node})` : ""}`,
    );
  return lines.join("\n");
}
