import { randomUUID } from "node:crypto";
import { eraseTypes, FloxideError, foldEvents, type EventRecord, type WorkflowDef } from "../sdk/index.ts";
import {
  isTerminal,
  unstorableReason,
  type ErrorRecord,
  type ItemState,
  type RunInfo,
  type RunStatus,
  type WorkflowMetrics,
  type WorkflowStore,
} from "../store/index.ts";
import { CompiledWorkflow } from "./step.ts";

export interface StartOptions {
  /** A second start with the same key returns the first run instead of starting another. */
  readonly idempotencyKey?: string;
  readonly runId?: string;
}

/** Starts and controls runs of one workflow: the library behind `floxide run` and the demo. */
export class Orchestrator<S = unknown, E = unknown> {
  private readonly store: WorkflowStore;
  private readonly workflow: CompiledWorkflow;

  constructor(store: WorkflowStore, def: WorkflowDef<S, E>) {
    if (store.workflow !== def.name) {
      throw new FloxideError("InvalidConfig", `store is for workflow '${store.workflow}', not '${def.name}'`);
    }
    this.store = store;
    this.workflow = new CompiledWorkflow(eraseTypes(def));
  }

  async start(input: unknown, options: StartOptions = {}): Promise<{ runId: string; created: boolean }> {
    const problem = unstorableReason(input, "input");
    if (problem !== null) {
      throw new FloxideError("InvalidInput", `run input cannot be stored: ${problem}`, {});
    }
    let serialised: string | undefined;
    try {
      serialised = JSON.stringify(input);
    } catch (error) {
      throw new FloxideError(
        "InvalidInput",
        `run input is not JSON-serialisable: ${String(error)}`,
        {},
        { cause: error },
      );
    }
    if (serialised === undefined)
      throw new FloxideError("InvalidInput", "run input is not JSON-serialisable");
    const bytes = Buffer.byteLength(serialised);
    if (bytes > this.workflow.def.maxPayloadBytes) {
      throw new FloxideError(
        "InvalidInput",
        `run input is ${bytes} bytes, over the limit of ${this.workflow.def.maxPayloadBytes} bytes (workflow maxPayloadBytes)`,
        { bytes },
      );
    }
    const runId = options.runId ?? this.store.newRunId?.(options.idempotencyKey ?? null) ?? randomUUID();
    const { def } = this.workflow;
    return this.store.createRun({
      runId,
      idempotencyKey: options.idempotencyKey ?? null,
      input,
      version: def.version,
      startItem: this.workflow.newItem(runId, def.start, input, []),
    });
  }

  async status(runId: string): Promise<RunInfo> {
    const info = await this.store.getRun(runId);
    if (info === null) throw new FloxideError("RunNotFound", `run '${runId}' not found`, { runId });
    return info;
  }

  /** Polls until the run reaches a terminal status (or `until` returns true), with a deadline. */
  async wait(
    runId: string,
    options: { timeoutMs?: number; pollMs?: number; until?: (info: RunInfo) => boolean } = {},
  ): Promise<RunInfo> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    const until = options.until ?? ((info: RunInfo) => isTerminal(info.status));
    while (true) {
      const info = await this.status(runId);
      if (until(info)) return info;
      if (Date.now() >= deadline) {
        throw new FloxideError(
          "WaitTimeout",
          `run '${runId}' still ${info.status} after ${options.timeoutMs ?? 60_000} ms`,
          {
            runId,
            status: info.status,
          },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 10));
    }
  }

  cancel(runId: string, reason = "cancelled by request"): Promise<RunInfo> {
    return this.store.cancelRun(runId, reason);
  }

  pause(runId: string): Promise<RunInfo> {
    return this.store.pauseRun(runId);
  }

  resume(runId: string): Promise<RunInfo> {
    return this.store.resumeRun(runId);
  }

  list(options: { status?: RunStatus; limit?: number } = {}): Promise<RunInfo[]> {
    return this.store.listRuns(options);
  }

  errors(runId?: string): Promise<ErrorRecord[]> {
    return this.store.listErrors(runId === undefined ? {} : { runId });
  }

  items(runId: string): Promise<ItemState[]> {
    return this.store.listItems(runId);
  }

  metrics(): Promise<WorkflowMetrics> {
    return this.store.readMetrics();
  }

  /** The run's full event log and the state folded from it. */
  async context(runId: string): Promise<{ state: S; events: EventRecord[] }> {
    const events = await this.store.readEvents(runId, 0);
    const spec = this.workflow.def.context;
    return { state: foldEvents(spec, spec.initial(), events) as S, events };
  }
}
