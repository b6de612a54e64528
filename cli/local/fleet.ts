/**
 * The local stand-in for a worker Deployment: a set of workers the local scaler grows and
 * shrinks. `ProcessFleet` runs real `floxide worker` processes (Redis); `PoolFleet` runs
 * in-process WorkerPools (memory backend). Scale-in drains: idle workers first, by SIGTERM (or
 * `pool.stop`), so a busy worker is the last to go and never loses a step.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { backoffDelayMs, type Backoff } from "../../common/backoff.ts";
import { eachLine } from "../../common/lines.ts";
import { optionArgs, WORKER_OPTIONS, type WorkerOption } from "../../contract/index.ts";
import { WorkerPool } from "../../worker/engine/index.ts";
import type { WorkflowDef } from "../../worker/sdk/index.ts";
import type { WorkflowStore } from "../../worker/store/index.ts";
import { CLI_ENTRY } from "../paths.ts";

export type WorkerPhase = "starting" | "running" | "draining";

export interface FleetEvent {
  readonly worker: string;
  readonly kind: "started" | "stopped" | "crashed";
  readonly detail: string;
}

export interface Fleet {
  readonly kind: "processes" | "in-process pools";
  /** Workers that count as replicas: starting or running (not draining). */
  readonly size: number;
  readonly running: number;
  readonly draining: number;
  /** Ids of the workers that count as replicas. */
  ids(): string[];
  /**
   * While held, no worker starts (the module on disk does not load: a new worker would crash).
   * Running workers keep the version they loaded.
   */
  held: boolean;
  /** Adds or drains workers; on scale-in, workers in `idle` go first, then those not yet started. */
  scaleTo(replicas: number, idle: ReadonlySet<string>): void;
  /** Drains every worker (the scaler starts fresh ones as the backlog needs them). */
  drainAll(): Promise<void>;
  /** Drains everything and waits; a second call (or `force`) kills what is left. */
  stop(force?: boolean): Promise<void>;
}

export interface FleetOptions {
  readonly concurrency: number;
  readonly drainTimeoutSeconds: number;
  readonly onEvent?: (event: FleetEvent) => void;
}

export interface ProcessFleetOptions extends FleetOptions {
  readonly workflowModule: string;
  readonly redisUrl: string;
  readonly keyPrefix: string;
  readonly env: NodeJS.ProcessEnv;
  readonly namePrefix: string;
}

interface ProcessWorker {
  readonly id: string;
  readonly child: ChildProcess;
  phase: WorkerPhase;
  readonly exited: Promise<void>;
  stderr: string;
}

/** After a worker crashes, wait before starting more: a module that fails on start must not spin. */
const CRASH_BACKOFF: Backoff = { growth: "exponential", initialMs: 1000, maxMs: 30_000 };

/**
 * The worker options a local worker process leaves to the worker's defaults, and why; it sets
 * every other one (a test holds each option of the contract to one or the other).
 */
export const LOCAL_WORKER_OPTIONS_LEFT_TO_DEFAULTS: Readonly<Partial<Record<WorkerOption, string>>> = {
  redisUsername: "the local Redis is named by its URL alone (a user goes in the URL)",
  redisPassword: "the local Redis is named by its URL alone (a password goes in the URL)",
  redisTlsCaFile: "a rediss:// URL is checked against the system's CAs",
  redisMode: "the local Redis is a standalone server",
  redisSentinelName: "the local Redis is a standalone server",
  leaseMs: "the worker's lease suits the examples",
  durability: "the local Redis is a standalone server without replicas (`replicated` would never confirm)",
  retentionSeconds: "the local loop reads its runs while it runs",
  workflowVersion: "the local workers run the version their module declares (a dev edit may change it)",
  partitions: "the local loop serves one workflow on one standalone Redis: one partition",
};

/** The flags of one local worker process, named by the worker's contract. */
export function workerProcessArgs(options: ProcessFleetOptions, id: string): string[] {
  return optionArgs(WORKER_OPTIONS, {
    workflow: options.workflowModule,
    redisUrl: options.redisUrl,
    keyPrefix: options.keyPrefix,
    concurrency: options.concurrency,
    drainTimeoutSeconds: options.drainTimeoutSeconds,
    port: 0,
    host: "127.0.0.1",
    blockMs: 1000,
    logLevel: "info",
    workerId: id,
  });
}

/** Picks `count` workers to drain: idle ones first, then ones still starting, then the newest. */
function victims<T extends { id: string; phase: WorkerPhase }>(
  active: readonly T[],
  count: number,
  idle: ReadonlySet<string>,
): T[] {
  const rank = (worker: T): number => (idle.has(worker.id) ? 0 : worker.phase === "starting" ? 1 : 2);
  return [...active]
    .map((worker, index) => ({ worker, index }))
    .sort((a, b) => rank(a.worker) - rank(b.worker) || b.index - a.index)
    .slice(0, count)
    .map((entry) => entry.worker);
}

/** What both fleets keep alike: their workers by id, numbered from 1, and which of them count. */
abstract class WorkerSet<W extends { readonly id: string; phase: WorkerPhase }> {
  protected readonly workers = new Map<string, W>();
  private started = 0;
  protected abstract readonly namePrefix: string;

  /** The id of the next worker to start. */
  protected nextId(): string {
    this.started += 1;
    return `${this.namePrefix}-${this.started}`;
  }

  protected active(): W[] {
    return [...this.workers.values()].filter((worker) => worker.phase !== "draining");
  }

  get size(): number {
    return this.active().length;
  }

  get draining(): number {
    return this.workers.size - this.size;
  }

  ids(): string[] {
    return this.active().map((worker) => worker.id);
  }
}

export class ProcessFleet extends WorkerSet<ProcessWorker> implements Fleet {
  readonly kind = "processes";
  held = false;
  private readonly options: ProcessFleetOptions;
  protected readonly namePrefix: string;

  constructor(options: ProcessFleetOptions) {
    super();
    this.options = options;
    this.namePrefix = options.namePrefix;
    process.once("exit", this.killAll);
  }

  private readonly killAll = (): void => {
    for (const worker of this.workers.values()) worker.child.kill("SIGKILL");
  };

  get running(): number {
    return [...this.workers.values()].filter((worker) => worker.phase === "running").length;
  }

  scaleTo(replicas: number, idle: ReadonlySet<string>): void {
    const active = this.active();
    // After crashes, wait before starting more: a module that fails on start must not spin.
    if (!this.held && Date.now() >= this.backoffUntil)
      for (let i = active.length; i < replicas; i += 1) this.spawnWorker();
    for (const worker of victims(active, active.length - replicas, idle)) this.drain(worker);
  }

  private crashes = 0;
  private backoffUntil = 0;

  private spawnWorker(): void {
    const { options } = this;
    const id = this.nextId();
    const child = spawn(process.execPath, [CLI_ENTRY, "worker", ...workerProcessArgs(options, id)], {
      env: options.env,
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group: the terminal's Ctrl-C reaches only the CLI, which drains the
      // workers once, in order (a second signal would make a worker skip its drain).
      detached: true,
    });
    const worker: ProcessWorker = {
      id,
      child,
      phase: "starting",
      exited: once(child, "exit").then(() => undefined),
      stderr: "",
    };
    this.workers.set(id, worker);
    eachLine(child.stdout, (line) => {
      if (worker.phase === "starting" && line.includes('"msg":"worker started"')) {
        worker.phase = "running";
        this.crashes = 0;
        options.onEvent?.({ worker: id, kind: "started", detail: `pid ${child.pid}` });
      }
    });
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      worker.stderr = (worker.stderr + chunk).slice(-4000);
    });
    child.once("exit", (code, signal) => {
      const wasDraining = worker.phase === "draining";
      this.workers.delete(id);
      if (wasDraining && code === 0) {
        options.onEvent?.({ worker: id, kind: "stopped", detail: "drained" });
      } else {
        this.crashes += 1;
        this.backoffUntil = Date.now() + backoffDelayMs(CRASH_BACKOFF, this.crashes);
        const last = worker.stderr.trim().split("\n").slice(-3).join(" | ");
        options.onEvent?.({
          worker: id,
          kind: "crashed",
          detail: `exited with ${code ?? signal}${last === "" ? "" : `: ${last}`}`,
        });
      }
    });
  }

  private drain(worker: ProcessWorker): void {
    if (worker.phase === "draining") return;
    worker.phase = "draining";
    worker.child.kill("SIGTERM");
  }

  async drainAll(): Promise<void> {
    const all = [...this.workers.values()];
    for (const worker of all) this.drain(worker);
    await Promise.all(all.map((worker) => worker.exited));
  }

  async stop(force = false): Promise<void> {
    if (force) this.killAll();
    await this.drainAll();
    process.removeListener("exit", this.killAll);
  }
}

export interface PoolFleetOptions extends FleetOptions {
  readonly store: WorkflowStore;
  readonly workflow: WorkflowDef<unknown, unknown>;
  readonly namePrefix: string;
}

interface PoolWorker {
  readonly id: string;
  readonly pool: WorkerPool;
  phase: WorkerPhase;
  stopped?: Promise<void>;
}

export class PoolFleet extends WorkerSet<PoolWorker> implements Fleet {
  readonly kind = "in-process pools";
  /** Pools run the definition already loaded, so a broken file on disk cannot crash them. */
  held = false;
  private readonly options: PoolFleetOptions;
  protected readonly namePrefix: string;
  private workflow: WorkflowDef<unknown, unknown>;

  constructor(options: PoolFleetOptions) {
    super();
    this.options = options;
    this.namePrefix = options.namePrefix;
    this.workflow = options.workflow;
  }

  /** Workers started from now on run this definition (dev reload). */
  setWorkflow(workflow: WorkflowDef<unknown, unknown>): void {
    this.workflow = workflow;
  }

  get running(): number {
    return this.size;
  }

  scaleTo(replicas: number, idle: ReadonlySet<string>): void {
    const active = this.active();
    for (let i = active.length; i < replicas; i += 1) this.startPool();
    for (const worker of victims(active, active.length - replicas, idle)) this.drain(worker);
  }

  private startPool(): void {
    const id = this.nextId();
    const pool = new WorkerPool({
      store: this.options.store,
      workflow: this.workflow,
      concurrency: this.options.concurrency,
      workerId: id,
      blockMs: 200,
      livenessEveryMs: 500,
    });
    this.workers.set(id, { id, pool, phase: "running" });
    pool.start();
    this.options.onEvent?.({ worker: id, kind: "started", detail: "in-process pool" });
  }

  private drain(worker: PoolWorker): Promise<void> {
    if (worker.stopped !== undefined) return worker.stopped;
    worker.phase = "draining";
    worker.stopped = worker.pool.stop({ graceMs: this.options.drainTimeoutSeconds * 1000 }).then(() => {
      this.workers.delete(worker.id);
      this.options.onEvent?.({ worker: worker.id, kind: "stopped", detail: "drained" });
    });
    return worker.stopped;
  }

  async drainAll(): Promise<void> {
    await Promise.all([...this.workers.values()].map((worker) => this.drain(worker)));
  }

  async stop(force = false): Promise<void> {
    if (force) {
      await Promise.all([...this.workers.values()].map((worker) => worker.pool.stop({ graceMs: 0 })));
    }
    await this.drainAll();
  }
}
