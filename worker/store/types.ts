import type { ErrorInfo, EventDraft, EventRecord } from "../sdk/index.ts";

/** One level of fan-out: item `index` of `count` spawned by one `nextAll` towards one successor. */
export interface FanFrame {
  readonly id: string;
  readonly index: number;
  readonly count: number;
}

/** A unit of work: run `node` of run `runId` on `input`. Serialised as JSON in every store. */
export interface WorkItem {
  readonly id: string;
  readonly runId: string;
  readonly workflow: string;
  readonly version: string;
  readonly node: string;
  readonly input: unknown;
  /** The number of the delivery this item is waiting for: 1 first, +1 per retry or reclaim. */
  readonly attempt: number;
  /** Deliveries allowed before the item is dead-lettered. */
  readonly maxAttempts: number;
  /** The fan-out stack, innermost last; a join pops one frame. */
  readonly frames: readonly FanFrame[];
  readonly enqueuedAt: number;
}

/** A leased delivery. `token` fences every later write: a reclaimed lease cannot commit. */
export interface Claim {
  readonly item: WorkItem;
  readonly token: string;
  readonly workerId: string;
  readonly deadline: number;
  /**
   * The run's last event sequence when the item was claimed. A worker whose cached context is
   * at this sequence skips reading the log; absent means "unknown, read since the cache".
   */
  readonly contextSeq?: number;
}

export type RunStatus = "queued" | "running" | "paused" | "completed" | "failed" | "cancelled";
export const TERMINAL_RUN_STATUSES: readonly RunStatus[] = ["completed", "failed", "cancelled"];
export const isTerminal = (status: RunStatus): boolean => TERMINAL_RUN_STATUSES.includes(status);

export interface RunOutput {
  readonly node: string;
  readonly itemId: string;
  readonly value: unknown;
}

export interface RunInfo {
  readonly runId: string;
  readonly workflow: string;
  readonly version: string;
  readonly status: RunStatus;
  readonly input: unknown;
  readonly createdAt: number;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
  readonly outputs: readonly RunOutput[];
  readonly error: ErrorInfo | null;
  readonly idempotencyKey: string | null;
  /** Items ready, leased, delayed for retry or parked by a pause: the run is quiescent at 0. */
  readonly pending: number;
  /** Items parked by `hold`, waiting for resume or cancel. */
  readonly held: number;
}

export type ItemStatus =
  "queued" | "running" | "retrying" | "held" | "parked" | "completed" | "failed" | "dead" | "cancelled";

export interface ItemState {
  readonly itemId: string;
  readonly runId: string;
  readonly node: string;
  readonly status: ItemStatus;
  readonly attempt: number;
  readonly updatedAt: number;
  /** Time spent in the node over all attempts, in milliseconds. */
  readonly durationMs: number;
  readonly lastError: ErrorInfo | null;
}

/** Arrival of one fan-out branch at a join. `joinItem` is the item that fires when all are in. */
export interface JoinArrival {
  readonly frame: FanFrame;
  readonly value: unknown;
  /** Template of the join's own item (input is filled in by the store when it fires). */
  readonly joinItem: WorkItem;
}

/** What a finished step asks the store to apply, atomically and fenced by the lease. */
export type StepOutcome =
  | {
      readonly kind: "success";
      readonly events: readonly EventDraft[];
      readonly followUps: readonly WorkItem[];
      readonly arrivals: readonly JoinArrival[];
      readonly outputs: readonly RunOutput[];
      /** Set when the node returned `hold`: the item is parked instead of completed. */
      readonly hold: { readonly reason: string | null } | null;
      readonly durationMs: number;
    }
  | {
      readonly kind: "retry";
      readonly error: ErrorInfo;
      readonly delayMs: number;
      readonly durationMs: number;
    }
  /** The node failed for good and has onFailure edges: follow-ups carry the failed input. */
  | {
      readonly kind: "fallback";
      readonly error: ErrorInfo;
      readonly followUps: readonly WorkItem[];
      readonly durationMs: number;
    }
  /** The run fails: `abort` (deadLetter false) or a permanent failure with no fallback (true). */
  | {
      readonly kind: "fail";
      readonly error: ErrorInfo;
      readonly deadLetter: boolean;
      readonly durationMs: number;
    };

export type CommitResult = (
  | { readonly status: "committed"; readonly run: RunStatus }
  | { readonly status: "lease-lost" }
  | { readonly status: "run-finished"; readonly run: RunStatus }
) & {
  /**
   * Set when the store found the run's data corrupt (naming the key and field): the item was
   * set aside (dead-lettered as CorruptEntry) and its run failed; nothing of the step applied.
   */
  readonly corrupt?: string;
  /**
   * Only when the commit was asked to claim next: the next ready item, leased to the same worker
   * in the same atomic operation (absent when none was ready).
   */
  readonly next?: Claim;
};

export type LeaseCheck = "ok" | "lost" | "run-finished";

export interface QueueDepth {
  readonly ready: number;
  readonly inFlight: number;
  readonly delayed: number;
  readonly dead: number;
}

export interface DeadLetter {
  readonly item: WorkItem;
  readonly error: ErrorInfo;
  readonly at: number;
}

export interface ErrorRecord {
  readonly runId: string;
  readonly itemId: string;
  readonly node: string;
  readonly attempt: number;
  readonly error: ErrorInfo;
  /** What happened next: retried, fell back, failed the run, was dead-lettered, lease reclaimed. */
  readonly action: "retry" | "fallback" | "fail" | "dead" | "reclaim";
  readonly at: number;
}

export interface NodeMetrics {
  readonly completed: number;
  readonly failed: number;
  readonly retried: number;
  readonly held: number;
  readonly durationMsTotal: number;
}

export interface WorkflowMetrics {
  readonly nodes: Readonly<Record<string, NodeMetrics>>;
  readonly runsStarted: number;
  readonly runsCompleted: number;
  readonly runsFailed: number;
  readonly runsCancelled: number;
  readonly leaseReclaims: number;
  readonly deadLettered: number;
  /** Items parked now (a gauge): held by `hold`, or kept by a paused run until it resumes. */
  readonly parked: number;
}

export interface WorkerLiveness {
  readonly workerId: string;
  readonly status: "idle" | "busy" | "draining";
  readonly inFlight: number;
  readonly at: number;
  /** The workflow version the worker serves (the store it heartbeats through). */
  readonly version?: string;
  /** The worker's claim loops (its most items in flight); absent in records written by hand. */
  readonly concurrency?: number;
  /** The worker's host name: the pod name in Kubernetes. */
  readonly host?: string;
}

/** A share of new runs sent to a new version until `until` (ms); afterwards all new runs are. */
export interface Ramp {
  readonly version: string;
  /** 0 to 100. */
  readonly percent: number;
  readonly until: number;
}

/**
 * Which version a new run is pinned to (the store chooses atomically at run creation): `current`,
 * or the ramp's version for its share. With neither, the version of whoever starts the run.
 */
export interface Rollout {
  readonly current: string | null;
  readonly ramp: Ramp | null;
}

/** The queue of one workflow version: what its workers still have to do. */
export interface VersionBacklog {
  readonly version: string;
  /** When the version got its first run or was first named by a rollout (ms). */
  readonly since: number;
  readonly ready: number;
  readonly inFlight: number;
  readonly delayed: number;
}

/** One partition's backlog (Redis partitions), summed over its versions. */
export interface PartitionBacklog extends QueueDepth {
  readonly partition: number;
}

/** The rollout state and every version that may still hold items. */
export interface WorkflowVersions {
  readonly rollout: Rollout;
  readonly versions: readonly VersionBacklog[];
  /** Each partition's backlog (a store of partitions: Redis); the versions' depths are their sum. */
  readonly partitions?: readonly PartitionBacklog[];
}

export interface Checkpoint<S = unknown> {
  readonly seq: number;
  readonly state: S;
}

export type { EventRecord, EventDraft };
