import { randomUUID } from "node:crypto";
import { setMaxListeners } from "node:events";
import { hostname } from "node:os";
import { eraseTypes, FloxideError, type Logger, type WorkflowDef } from "../sdk/index.ts";
import type { WorkflowStore } from "../store/index.ts";
import { ContextCache } from "./context-cache.ts";
import { LeaseKeeper } from "./lease-keeper.ts";
import { StoreHealth } from "./store-health.ts";
import { CompiledWorkflow, StepAbort } from "./step.ts";
import { DistributedWorker, type StepReport } from "./worker.ts";

export interface WorkerPoolOptions<S = unknown, E = unknown> {
  readonly store: WorkflowStore;
  readonly workflow: WorkflowDef<S, E>;
  /** Concurrent claim loops in this process. */
  readonly concurrency?: number;
  readonly leaseMs?: number;
  readonly heartbeatMs?: number;
  readonly blockMs?: number;
  readonly reclaimEveryMs?: number;
  /**
   * Period of the liveness report (default 2 s; the record lives 3 periods, so a killed worker
   * stops being counted within 6 s by the Redis clock; one 3-command call per period). A change
   * of status (idle, busy, draining) is reported within a second, whatever the period; turning
   * busy at once, when the first item is claimed: the operator spares busy pods when it scales
   * in, and a pod that had just claimed a long step but still read idle could be the one removed.
   */
  readonly livenessEveryMs?: number;
  /** Prefix of the loop ids; defaults to a random id per pool (never reused across pods). */
  readonly workerId?: string;
  /** The host reported in the liveness record (default: the host name, a pod's name). */
  readonly host?: string;
  readonly log?: Logger;
  readonly onStep?: (report: StepReport) => void;
  readonly onReclaim?: (result: { requeued: number; deadLettered: number }) => void;
  readonly random?: () => number;
}

const silent: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** N claim loops sharing one lease keeper and context cache, with a graceful drain. */
export class WorkerPool<S = unknown, E = unknown> {
  readonly id: string;
  private readonly options: WorkerPoolOptions<S, E>;
  private readonly keeper: LeaseKeeper;
  private readonly workers: DistributedWorker[];
  private readonly stopClaiming = new AbortController();
  private loops: Promise<void>[] = [];
  private livenessTimer: NodeJS.Timeout | undefined;
  private reportedStatus: "idle" | "busy" | "draining" | undefined;
  private state: "new" | "running" | "draining" | "stopped" = "new";
  private readonly log: Logger;
  private lastProgressAt = Date.now();
  private readonly health: StoreHealth;

  constructor(options: WorkerPoolOptions<S, E>) {
    this.options = options;
    this.id = options.workerId ?? `worker-${randomUUID().slice(0, 8)}`;
    this.log = options.log ?? silent;
    // Every claim loop listens on the one drain signal.
    setMaxListeners(0, this.stopClaiming.signal);
    const leaseMs = options.leaseMs ?? 30_000;
    const workflow = new CompiledWorkflow(eraseTypes(options.workflow));
    // Runs are pinned to their version: a pool claims only the queue of its module's version.
    if (options.store.version !== workflow.def.version) {
      throw new FloxideError(
        "InvalidConfig",
        `the store serves version '${options.store.version}' of '${options.store.workflow}', the workflow ` +
          `module is version '${workflow.def.version}': open the store with forWorkflow(name, def.version)`,
      );
    }
    const contexts = new ContextCache(options.store, workflow.def.context);
    this.keeper = new LeaseKeeper(
      options.store,
      {
        leaseMs,
        heartbeatMs: options.heartbeatMs ?? Math.floor(leaseMs / 3),
        reclaimEveryMs: options.reclaimEveryMs ?? Math.max(100, Math.floor(leaseMs / 2)),
      },
      this.log,
    );
    if (options.onReclaim !== undefined) this.keeper.onReclaim = options.onReclaim;
    this.health = new StoreHealth(this.log);
    this.keeper.health = this.health;
    const progress = (): void => {
      this.lastProgressAt = Date.now();
    };
    this.keeper.onRenew = progress;
    const concurrency = options.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1)
      throw new RangeError("concurrency must be an integer >= 1");
    this.workers = Array.from(
      { length: concurrency },
      (_, index) =>
        new DistributedWorker({
          id: `${this.id}/${index}`,
          store: options.store,
          workflow,
          contexts,
          keeper: this.keeper,
          log: this.log,
          leaseMs,
          blockMs: options.blockMs ?? 5000,
          onIteration: progress,
          health: this.health,
          ...(options.onStep === undefined ? {} : { onStep: options.onStep }),
          ...(options.random === undefined ? {} : { random: options.random }),
        }),
    );
  }

  /** Milliseconds since a claim loop last finished an iteration or the leases were renewed. */
  sinceProgressMs(): number {
    return Date.now() - this.lastProgressAt;
  }

  /** Why the store answers but cannot be used (a corrupt key, named), or null. */
  get storeProblem(): string | null {
    return this.health.problem;
  }

  get inFlight(): number {
    return this.keeper.size;
  }

  get status(): "new" | "running" | "draining" | "stopped" {
    return this.state;
  }

  start(): void {
    if (this.state !== "new") return;
    this.state = "running";
    this.lastProgressAt = Date.now();
    this.keeper.start();
    const everyMs = this.options.livenessEveryMs ?? 2_000;
    const checkMs = Math.min(1000, everyMs);
    this.keeper.onBusy = () => {
      if (this.state === "running" && this.reportedStatus !== "busy") void this.reportLiveness(everyMs * 3);
    };
    let sinceReport = 0;
    // Checked locally every second: Redis hears of a status change at once and of an unchanged
    // status once a period, so an idle worker costs Redis little and the scaler's view of who
    // is busy is at most a second old.
    this.livenessTimer = setInterval(() => {
      sinceReport += checkMs;
      if (sinceReport < everyMs && this.livenessStatus() === this.reportedStatus) return;
      sinceReport = 0;
      void this.reportLiveness(everyMs * 3);
    }, checkMs);
    void this.reportLiveness(everyMs * 3);
    this.loops = this.workers.map((worker) => worker.runForever(this.stopClaiming.signal));
  }

  private livenessStatus(): "idle" | "busy" | "draining" {
    return this.state === "draining" ? "draining" : this.keeper.size > 0 ? "busy" : "idle";
  }

  private async reportLiveness(ttlMs: number): Promise<void> {
    const status = this.livenessStatus();
    try {
      await this.options.store.heartbeat(
        {
          workerId: this.id,
          status,
          inFlight: this.keeper.size,
          at: Date.now(),
          concurrency: this.workers.length,
          host: this.options.host ?? hostname(),
        },
        ttlMs,
      );
      this.reportedStatus = status;
      this.health.succeeded("liveness");
    } catch (error) {
      if (!this.health.failed("liveness", error)) this.log.warn({ err: error }, "liveness heartbeat failed");
    }
  }

  /**
   * Graceful drain: stop claiming, let in-flight steps finish for up to `graceMs`, then abort the
   * rest and hand their items back to the queue (no attempt counted).
   */
  async stop(options: { graceMs?: number } = {}): Promise<void> {
    if (this.state === "stopped") return;
    if (this.state === "new") {
      this.state = "stopped";
      return;
    }
    this.state = "draining";
    this.stopClaiming.abort();
    const graceMs = options.graceMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), graceMs);
    });
    const all = Promise.all(this.loops);
    if ((await Promise.race([all, deadline])) === "timeout") {
      this.log.warn(
        { inFlight: this.keeper.size },
        "drain deadline passed: releasing leases of unfinished steps",
      );
      this.keeper.abortAll(new StepAbort("shutdown", "worker is shutting down"));
      await all;
    }
    clearTimeout(timer);
    clearInterval(this.livenessTimer);
    this.keeper.stop();
    this.state = "stopped";
    await this.reportLiveness(1);
  }
}
