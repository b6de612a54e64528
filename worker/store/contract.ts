import type {
  Checkpoint,
  Claim,
  CommitResult,
  DeadLetter,
  ErrorRecord,
  EventRecord,
  ItemState,
  LeaseCheck,
  QueueDepth,
  RunInfo,
  RunStatus,
  StepOutcome,
  WorkItem,
  WorkerLiveness,
  WorkflowMetrics,
  WorkflowVersions,
} from "./types.ts";
import type { RolloutRequest } from "./versions.ts";

export interface ClaimOptions {
  readonly workerId: string;
  readonly leaseMs: number;
  /** How long to block waiting for an item when none is ready (0 = do not block). */
  readonly blockMs: number;
  /** Ends a blocked claim early (drain): the claim then returns null. */
  readonly signal?: AbortSignal;
}

/** Leased delivery of work items. Items of finished runs are dropped, items of paused runs parked. */
export interface WorkQueue {
  claim(options: ClaimOptions): Promise<Claim | null>;
  /** Heartbeat: pushes the deadline of every still-valid lease to now + leaseMs. */
  extendLeases(claims: readonly Claim[], leaseMs: number): Promise<LeaseCheck[]>;
  /** Gives leased items back without counting an attempt (graceful drain). */
  release(claims: readonly Claim[]): Promise<number>;
  /** Re-delivers items whose lease expired (attempt + 1), dead-lettering those out of attempts. */
  reclaimExpired(): Promise<{ requeued: number; deadLettered: number }>;
  /** The workflow's depth, summed over its versions (readVersions has each one's). */
  depth(): Promise<QueueDepth>;
  deadLetters(limit?: number): Promise<DeadLetter[]>;
}

/** What a commit needs to also claim the next ready item (a non-blocking claim). */
export type ClaimNext = Pick<ClaimOptions, "workerId" | "leaseMs">;

/** Applies the result of one step atomically: context events, follow-ups, joins, state, metrics, ack. */
export interface StepCommitter {
  /**
   * With `claimNext`, the same atomic operation then claims the next ready item as a
   * non-blocking claim would (whatever the commit's status), so a busy worker needs one round
   * trip per step: the result's `next`.
   */
  commit(claim: Claim, outcome: StepOutcome, claimNext?: ClaimNext): Promise<CommitResult>;
}

export interface CreateRunRequest {
  readonly runId: string;
  readonly idempotencyKey: string | null;
  readonly input: unknown;
  readonly version: string;
  readonly startItem: WorkItem;
}

export interface RunInfoStore {
  /**
   * Creates the run and enqueues its first item, unless the idempotency key names a run already.
   * The run's version is chosen by the store from the rollout state (`request.version`, the
   * starter's, when there is none); the first item is re-labelled with it.
   */
  createRun(request: CreateRunRequest): Promise<{ runId: string; created: boolean }>;
  /**
   * A run id for a new run, when the store places runs by id (Redis partitions: one whose
   * partition is the idempotency key's). Absent: any unique id will do.
   */
  newRunId?(idempotencyKey: string | null): string;
  getRun(runId: string): Promise<RunInfo | null>;
  listRuns(options?: { status?: RunStatus; limit?: number }): Promise<RunInfo[]>;
  /** No new item of the run starts until resume; steps in flight finish. */
  pauseRun(runId: string): Promise<RunInfo>;
  /** Un-parks paused items and re-delivers held ones. */
  resumeRun(runId: string): Promise<RunInfo>;
  /** Ends the run: nothing of it is committed afterwards; in-flight steps see their signal abort. */
  cancelRun(runId: string, reason: string): Promise<RunInfo>;
}

/** What to do with a dead letter: re-enqueue its item with a fresh attempt count, or drop it. */
export type DeadLetterAction = "redrive" | "discard";

export interface RedriveResult {
  /** The run the item went back to (null for a discard). */
  readonly runId: string | null;
  /** The run's status afterwards: a failed run is revived (null for a discard). */
  readonly runStatus: RunStatus | null;
}

export interface DeadLetterControl {
  /**
   * Takes the dead letter of item `itemId` out of the dead list. `redrive` enqueues the item
   * again at attempt 1 and revives its run if the dead letter failed it; refused (nothing
   * changes) with DeadLetterNotFound, RunNotFound (the run expired), RunFinished (completed or
   * cancelled since) or InvalidItem (a set-aside entry no worker can run: discard it).
   */
  redriveDeadLetter(itemId: string, action: DeadLetterAction): Promise<RedriveResult>;
}

export interface ContextStore {
  /** Events with seq > afterSeq, in sequence order (at most `limit`). */
  readEvents(runId: string, afterSeq: number, limit?: number): Promise<EventRecord[]>;
  /**
   * Changes whenever the store may have lost acknowledged writes since it last changed (Redis:
   * each new connection, since a restart or failover can roll the data back). State a worker
   * derived from the store before the change is suspect. Absent: the store never loses writes.
   */
  readonly connectionEpoch?: number;
}

export interface CheckpointStore {
  saveCheckpoint(runId: string, checkpoint: Checkpoint): Promise<void>;
  loadCheckpoint(runId: string): Promise<Checkpoint | null>;
}

export interface WorkItemStateStore {
  listItems(runId: string): Promise<ItemState[]>;
}

export interface MetricsStore {
  readMetrics(): Promise<WorkflowMetrics>;
}

export interface ErrorStore {
  listErrors(options?: { runId?: string; limit?: number }): Promise<ErrorRecord[]>;
}

export interface LivenessStore {
  heartbeat(liveness: WorkerLiveness, ttlMs: number): Promise<void>;
  listWorkers(): Promise<WorkerLiveness[]>;
}

/**
 * Runs are pinned to the workflow version they started on: a store serves the queue of one
 * version (its `version`: the worker's), new runs get the version the rollout state chooses.
 */
export interface VersionStore {
  /** The version whose items this store's queue operations claim, retry and reclaim. */
  readonly version: string;
  /** The rollout state and each version that may still hold items, with its backlog. */
  readVersions(): Promise<WorkflowVersions>;
  /** Sets the version new runs get (idempotent: a ramp's period starts when first written). */
  writeRollout(request: RolloutRequest): Promise<void>;
  /** Forgets a retired version; false (nothing changes) while it has items or is in the rollout. */
  forgetVersion(version: string): Promise<boolean>;
}

/** Everything one workflow's workers and orchestrator need, for one backend. */
export interface WorkflowStore
  extends
    WorkQueue,
    DeadLetterControl,
    StepCommitter,
    RunInfoStore,
    ContextStore,
    CheckpointStore,
    WorkItemStateStore,
    MetricsStore,
    ErrorStore,
    LivenessStore,
    VersionStore {
  readonly workflow: string;
  /**
   * Refuses (InvalidConfig) data this store cannot serve: another key layout or partition count
   * recorded (Redis). Absent: nothing to check. Every call checks it too; a worker calls it first
   * to refuse at start.
   */
  checkLayout?(): Promise<void>;
}

/** A backend (memory, Redis) hands out one store per workflow name. */
export interface StoreBackend {
  readonly kind: "memory" | "redis";
  /**
   * The store of `workflow` whose queue operations serve `version` (default DEFAULT_VERSION, for
   * tools that only read and start runs; a worker names its module's version).
   */
  forWorkflow(workflow: string, version?: string): WorkflowStore;
  /** Reachability check used by /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface BackendOptions {
  /** How long a finished run's records are kept (milliseconds). */
  readonly retentionMs?: number;
}

export type { WorkItem };
