/**
 * The local loop shared by `floxide demo` and `floxide dev`: a store (Redis or memory), a fleet
 * of workers (processes or in-process pools) and the local scaler polling between them.
 */
import type { WorkflowDef } from "../../worker/sdk/index.ts";
import type { WorkflowMetrics, WorkflowStore } from "../../worker/store/index.ts";
import { PoolFleet, ProcessFleet, type Fleet, type FleetEvent } from "./fleet.ts";
import type { LocalStore } from "./local-store.ts";
import { LocalScaler, localScaling, type ScaleEvent } from "./scaler.ts";

export interface LocalClusterOptions {
  readonly local: LocalStore;
  readonly workflow: WorkflowDef<unknown, unknown>;
  /** Absolute path of the workflow module the worker processes load. */
  readonly workflowModule: string;
  readonly concurrency: number;
  readonly maxWorkers: number;
  readonly targetPerWorker: number;
  /** How long a worker drains before it is stopped (default 10 s: the examples' steps are short). */
  readonly drainTimeoutSeconds?: number;
  /** How often the scaler reads the backlog (default 250 ms: a local run reacts at once). */
  readonly pollMs?: number;
  readonly namePrefix: string;
  readonly env: NodeJS.ProcessEnv;
  readonly onScale?: (event: ScaleEvent) => void;
  readonly onFleetEvent?: (event: FleetEvent) => void;
}

/** Steps executed so far, from the store's per-node counters (every worker's, every process's). */
export function stepsOf(metrics: WorkflowMetrics): number {
  let steps = 0;
  for (const node of Object.values(metrics.nodes))
    steps += node.completed + node.failed + node.retried + node.held;
  return steps;
}

export class LocalCluster {
  readonly store: WorkflowStore;
  readonly fleet: Fleet;
  readonly scaler: LocalScaler;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<unknown> = Promise.resolve();

  private readonly options: LocalClusterOptions;

  constructor(options: LocalClusterOptions) {
    this.options = options;
    const { local, workflow } = options;
    this.store = local.backend.forWorkflow(workflow.name, workflow.version);
    const common = {
      concurrency: options.concurrency,
      drainTimeoutSeconds: options.drainTimeoutSeconds ?? 10,
      namePrefix: options.namePrefix,
      ...(options.onFleetEvent === undefined ? {} : { onEvent: options.onFleetEvent }),
    };
    this.fleet =
      local.redisUrl === undefined
        ? new PoolFleet({ ...common, store: this.store, workflow })
        : new ProcessFleet({
            ...common,
            workflowModule: options.workflowModule,
            redisUrl: local.redisUrl,
            keyPrefix: local.keyPrefix,
            env: options.env,
          });
    this.scaler = new LocalScaler(
      this.store,
      this.fleet,
      localScaling(options.maxWorkers, options.targetPerWorker),
      options.onScale,
    );
  }

  /** Starts polling: one tick at a time, every `pollMs`. */
  start(): void {
    if (this.timer !== undefined) return;
    let busy = false;
    const tick = (): void => {
      if (busy) return; // a slow store: skip this poll rather than queue them up
      busy = true;
      this.ticking = this.scaler.tick().finally(() => (busy = false));
    };
    tick();
    this.timer = setInterval(tick, this.options.pollMs ?? 250);
  }

  /** Stops the scaler and drains every worker (`force` kills them instead). */
  async stop(force = false): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
    await this.fleet.stop(force);
  }
}
