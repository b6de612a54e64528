/**
 * The Redis WorkflowStore of a workflow of P > 1 partitions (keys.ts): one RedisWorkflowStore per
 * partition, each calling its functions on its own slot, and this class routing each operation:
 * a run's operations go to its partition (partitionOf its id), a claim's to its run's, claims
 * sweep the partitions (partition-claimer.ts), and workflow-wide reads merge or sum them.
 * A workflow of one partition uses RedisWorkflowStore alone (backend.ts): nothing here costs a
 * P = 1 workflow a command.
 */
import { randomUUID } from "node:crypto";
import { FloxideError, type EventRecord } from "../../sdk/index.ts";
import type {
  ClaimNext,
  ClaimOptions,
  CreateRunRequest,
  DeadLetterAction,
  RedriveResult,
  WorkflowStore,
} from "../contract.ts";
import type {
  Checkpoint,
  Claim,
  CommitResult,
  DeadLetter,
  ErrorRecord,
  ItemState,
  LeaseCheck,
  NodeMetrics,
  QueueDepth,
  RunInfo,
  RunStatus,
  StepOutcome,
  WorkerLiveness,
  WorkflowMetrics,
  WorkflowVersions,
} from "../types.ts";
import { totalDepth, type RolloutRequest } from "../versions.ts";
import type { RedisClient } from "./connection.ts";
import { readWorkflowVersions, type WorkflowVersionDepths } from "./depth.ts";
import { partitionOf, runIdIn } from "./keys.ts";
import { PartitionClaimer } from "./partition-claimer.ts";
import { writeRolloutToPartitions } from "./rollout.ts";
import type { RedisWorkflowStore } from "./store.ts";

export interface PartitionedStoreConfig {
  /** The store of each partition, partition i at index i (P > 1). */
  readonly parts: readonly RedisWorkflowStore[];
  readonly client: RedisClient;
  readonly prefix: string;
  readonly createBlocker: () => RedisClient;
  readonly connectionEpoch: () => number;
}

const sumMetrics = (all: readonly WorkflowMetrics[]): WorkflowMetrics => {
  const nodes: Record<string, NodeMetrics> = {};
  for (const metrics of all) {
    for (const [node, counts] of Object.entries(metrics.nodes)) {
      const seen = nodes[node];
      nodes[node] =
        seen === undefined
          ? counts
          : {
              completed: seen.completed + counts.completed,
              failed: seen.failed + counts.failed,
              retried: seen.retried + counts.retried,
              held: seen.held + counts.held,
              durationMsTotal: seen.durationMsTotal + counts.durationMsTotal,
            };
    }
  }
  const sum = (name: Exclude<keyof WorkflowMetrics, "nodes">): number =>
    all.reduce((acc, metrics) => acc + metrics[name], 0);
  return {
    nodes,
    runsStarted: sum("runsStarted"),
    runsCompleted: sum("runsCompleted"),
    runsFailed: sum("runsFailed"),
    runsCancelled: sum("runsCancelled"),
    leaseReclaims: sum("leaseReclaims"),
    deadLettered: sum("deadLettered"),
    parked: sum("parked"),
  };
};

/** The newest `limit` records of all partitions, oldest first (as each partition's list). */
const newest = <T extends { readonly at: number }>(lists: readonly T[][], limit: number): T[] =>
  lists
    .flat()
    .sort((a, b) => a.at - b.at)
    .slice(-limit);

export class PartitionedRedisStore implements WorkflowStore {
  readonly workflow: string;
  readonly version: string;
  readonly partitions: number;
  private readonly config: PartitionedStoreConfig;
  private readonly claimer: PartitionClaimer;

  constructor(config: PartitionedStoreConfig) {
    const first = config.parts[0] as RedisWorkflowStore;
    this.config = config;
    this.workflow = first.workflow;
    this.version = first.version;
    this.partitions = config.parts.length;
    this.claimer = new PartitionClaimer({
      partitions: this.partitions,
      attempt: (partition, requests) => this.part(partition).attemptClaim(requests),
      release: async (claim) => void (await this.release([claim])),
      createBlocker: config.createBlocker,
      wakeKey: (partition) => this.part(partition).wakeKey,
    });
  }

  get connectionEpoch(): number {
    return this.config.connectionEpoch();
  }

  private part(partition: number): RedisWorkflowStore {
    return this.config.parts[partition] as RedisWorkflowStore;
  }

  private ofRun(runId: string): RedisWorkflowStore {
    return this.part(partitionOf(runId, this.partitions));
  }

  /** Calls `call` on each partition at once, in partition order. */
  private each<T>(call: (part: RedisWorkflowStore) => Promise<T>): Promise<T[]> {
    return Promise.all(this.config.parts.map(call));
  }

  /** Runs `call` on the claims of each partition, answers in the claims' order. */
  private async byPartition<T>(
    claims: readonly Claim[],
    call: (part: RedisWorkflowStore, claims: Claim[]) => Promise<T[]>,
  ): Promise<T[]> {
    const groups = new Map<number, number[]>();
    claims.forEach((claim, index) => {
      const partition = partitionOf(claim.item.runId, this.partitions);
      groups.set(partition, [...(groups.get(partition) ?? []), index]);
    });
    const answers: T[] = [];
    await Promise.all(
      [...groups].map(async ([partition, indexes]) => {
        const replies = await call(
          this.part(partition),
          indexes.map((index) => claims[index] as Claim),
        );
        indexes.forEach((index, i) => {
          answers[index] = replies[i] as T;
        });
      }),
    );
    return answers;
  }

  // ---- queue -------------------------------------------------------------------------------------

  claim(options: ClaimOptions): Promise<Claim | null> {
    return this.claimer.claim(options);
  }

  extendLeases(claims: readonly Claim[], leaseMs: number): Promise<LeaseCheck[]> {
    return this.byPartition(claims, (part, mine) => part.extendLeases(mine, leaseMs));
  }

  async release(claims: readonly Claim[]): Promise<number> {
    const released = await this.byPartition(claims, async (part, mine) => {
      const count = await part.release(mine);
      return mine.map((_claim, i) => (i === 0 ? count : 0));
    });
    return released.reduce((sum, count) => sum + count, 0);
  }

  /** Every partition's sweep (its own guard): the lease sweep runs per partition. */
  async reclaimExpired(): Promise<{ requeued: number; deadLettered: number }> {
    const all = await this.each((part) => part.reclaimExpired());
    return {
      requeued: all.reduce((sum, one) => sum + one.requeued, 0),
      deadLettered: all.reduce((sum, one) => sum + one.deadLettered, 0),
    };
  }

  async depth(): Promise<QueueDepth> {
    return totalDepth(await this.readVersionDepths());
  }

  /** The versions and depths of every partition, merged (depth.ts: two round trips per node). */
  readVersionDepths(): Promise<WorkflowVersionDepths> {
    return this.checked(async () => {
      const found = await readWorkflowVersions(this.config.client, [this.workflow], {
        prefix: this.config.prefix,
        partitions: this.partitions,
      });
      return found.get(this.workflow) as WorkflowVersionDepths;
    });
  }

  /** Every partition's layout check (partition 0's first: it refuses another P). */
  async checkLayout(): Promise<void> {
    await Promise.all(this.config.parts.map((part) => part.checkLayout()));
  }

  /** Runs a plain read after partition 0's layout check (which refuses another P). */
  private async checked<T>(read: () => Promise<T>): Promise<T> {
    await this.part(0).checkLayout();
    return read();
  }

  async deadLetters(limit = 100): Promise<DeadLetter[]> {
    if (limit <= 0) return [];
    return newest(await this.each((part) => part.deadLetters(limit)), limit);
  }

  /** The dead letter's partition is not known from its item id: each partition is asked in turn. */
  async redriveDeadLetter(itemId: string, action: DeadLetterAction): Promise<RedriveResult> {
    let notFound: unknown;
    for (const part of this.config.parts) {
      try {
        return await part.redriveDeadLetter(itemId, action);
      } catch (error) {
        if (!(error instanceof FloxideError && error.code === "DeadLetterNotFound")) throw error;
        notFound = error;
      }
    }
    throw notFound;
  }

  // ---- commit ------------------------------------------------------------------------------------

  /** In the run's partition; claims next there while that partition has the process's turn. */
  commit(claim: Claim, outcome: StepOutcome, claimNext?: ClaimNext): Promise<CommitResult> {
    const partition = partitionOf(claim.item.runId, this.partitions);
    const chain = claimNext !== undefined && this.claimer.chain(partition) ? claimNext : undefined;
    return this.part(partition).commit(claim, outcome, chain);
  }

  // ---- runs --------------------------------------------------------------------------------------

  /**
   * A run id for a new run: random, and with an idempotency key one that hashes to the key's
   * partition (about P tries), so create-run finds the key and creates the run on one slot.
   */
  newRunId(idempotencyKey: string | null): string {
    if (idempotencyKey === null) return randomUUID();
    return runIdIn(partitionOf(idempotencyKey, this.partitions), this.partitions);
  }

  async createRun(request: CreateRunRequest): Promise<{ runId: string; created: boolean }> {
    const { runId, idempotencyKey } = request;
    if (
      idempotencyKey !== null &&
      partitionOf(idempotencyKey, this.partitions) !== partitionOf(runId, this.partitions)
    ) {
      throw new FloxideError(
        "InvalidInput",
        `run id '${runId}' and idempotency key '${idempotencyKey}' fall in different partitions of ` +
          `'${this.workflow}' (${this.partitions}): give only the idempotency key (a matching run id is chosen)`,
        { runId, idempotencyKey },
      );
    }
    return this.ofRun(runId).createRun(request);
  }

  getRun(runId: string): Promise<RunInfo | null> {
    return this.ofRun(runId).getRun(runId);
  }

  /** Newest first over every partition's index. */
  async listRuns(options: { status?: RunStatus; limit?: number } = {}): Promise<RunInfo[]> {
    const limit = options.limit ?? 100;
    const all = (await this.each((part) => part.listRuns({ ...options, limit }))).flat();
    return all.sort((a, b) => b.createdAt - a.createdAt).slice(0, limit);
  }

  pauseRun(runId: string): Promise<RunInfo> {
    return this.ofRun(runId).pauseRun(runId);
  }

  resumeRun(runId: string): Promise<RunInfo> {
    return this.ofRun(runId).resumeRun(runId);
  }

  cancelRun(runId: string, reason: string): Promise<RunInfo> {
    return this.ofRun(runId).cancelRun(runId, reason);
  }

  // ---- context, checkpoints, items ---------------------------------------------------------------

  readEvents(runId: string, afterSeq: number, limit?: number): Promise<EventRecord[]> {
    return this.ofRun(runId).readEvents(runId, afterSeq, limit);
  }

  saveCheckpoint(runId: string, checkpoint: Checkpoint): Promise<void> {
    return this.ofRun(runId).saveCheckpoint(runId, checkpoint);
  }

  loadCheckpoint(runId: string): Promise<Checkpoint | null> {
    return this.ofRun(runId).loadCheckpoint(runId);
  }

  listItems(runId: string): Promise<ItemState[]> {
    return this.ofRun(runId).listItems(runId);
  }

  // ---- versions ----------------------------------------------------------------------------------

  async readVersions(): Promise<WorkflowVersions> {
    const { rollout, versions, partitions } = await this.readVersionDepths();
    return { rollout, versions, partitions };
  }

  /**
   * Written to every partition (each create-run reads the rollout of its own slot), partition 0
   * first: the others take its ramp's end (writeRolloutToPartitions).
   */
  async writeRollout(request: RolloutRequest): Promise<void> {
    await writeRolloutToPartitions(this.partitions, (partition, until) =>
      this.part(partition).writeRolloutAt(request, until),
    );
  }

  /** Forgotten in every partition that can; true when all did. */
  async forgetVersion(version: string): Promise<boolean> {
    return (await this.each((part) => part.forgetVersion(version))).every(Boolean);
  }

  // ---- metrics, errors, liveness -----------------------------------------------------------------

  async readMetrics(): Promise<WorkflowMetrics> {
    return sumMetrics(await this.each((part) => part.readMetrics()));
  }

  async listErrors(options: { runId?: string; limit?: number } = {}): Promise<ErrorRecord[]> {
    if (options.runId !== undefined) return this.ofRun(options.runId).listErrors(options);
    const limit = options.limit ?? 100;
    if (limit <= 0) return [];
    return newest(await this.each((part) => part.listErrors({ limit })), limit);
  }

  /** Liveness lives in partition 0 (keys.ts): a heartbeat touches no run. */
  heartbeat(liveness: WorkerLiveness, ttlMs: number): Promise<void> {
    return this.part(0).heartbeat(liveness, ttlMs);
  }

  listWorkers(): Promise<WorkerLiveness[]> {
    return this.part(0).listWorkers();
  }

  close(): void {
    this.claimer.close();
    for (const part of this.config.parts) part.close();
  }
}
