/**
 * The Redis WorkflowStore: every state change is one Lua script (see the `.lua` files here);
 * this class encodes arguments, calls scripts, reads with plain commands and decodes replies.
 * Semantics are those of the memory store (worker/store/memory/backend.ts).
 */
import { randomUUID } from "node:crypto";
import type { Durability } from "../../../contract/index.ts";
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
  QueueDepth,
  RunInfo,
  RunStatus,
  StepOutcome,
  WorkItem,
  WorkerLiveness,
  WorkflowMetrics,
  WorkflowVersions,
} from "../types.ts";
import { BlockingClaimer, type ClaimAttempt, type ClaimRequest } from "./claimer.ts";
import { commitArgs, createRunArgs } from "./commit-args.ts";
import { CommitBatcher, type CommitReply } from "./commit-batch.ts";
import {
  decodeCheckpoint,
  decodeDeadLetter,
  decodeErrorRecord,
  decodeEvent,
  decodeItem,
  decodeItemStates,
  decodeLiveness,
  decodeMetrics,
  decodeRunInfo,
  toFields,
  toJson,
} from "./codec.ts";
import type { RedisClient } from "./connection.ts";
import { totalDepth, type RolloutRequest } from "../versions.ts";
import { execPipeline, readWorkflowVersions, type WorkflowVersionDepths } from "./depth.ts";
import {
  checkVersion,
  decodeLayoutRecord,
  LAYOUT_VERSION,
  layoutRecord,
  partitionMismatch,
  type WorkflowKeys,
} from "./keys.ts";
import { decodeReply, WorkerLivenessSchema } from "./reply-schemas.ts";
import { rolloutArgs } from "./rollout.ts";
import { callReplicated } from "./replicated-call.ts";
import { keysFor, runScript, type ScriptName, type SendFcall } from "./scripts.ts";
import { needsStaging, stageFollowUps } from "./stage.ts";

export interface RedisStoreConfig {
  readonly client: RedisClient;
  readonly keys: WorkflowKeys;
  readonly retentionMs: number;
  readonly reclaimGuardMs: number;
  readonly reclaimBatch: number;
  /** `replicated`: a commit counts once a replica confirmed it (replicated-call.ts). */
  readonly durability: Durability;
  readonly createBlocker: () => RedisClient;
  /** Counts the client's connections (see ContextStore.connectionEpoch). */
  readonly connectionEpoch: () => number;
  /** The workflow's partition count, recorded beside the layout version (keys.ts). */
  readonly partitions: number;
  /** Runs before this partition's layout check (partition 0's check, for the others). */
  readonly checkFirst?: () => Promise<void>;
}

const unexpected = (script: string, reply: unknown): FloxideError =>
  new FloxideError(
    "StoreUnavailable",
    `unexpected reply from redis script '${script}': ${JSON.stringify(reply)}`,
  );

function replyArray(script: string, reply: unknown): unknown[] {
  if (!Array.isArray(reply)) throw unexpected(script, reply);
  return reply as unknown[];
}

/** A worker id ends at the first newline of a lease record (includes/items.lua). */
function checkWorkerId(workerId: string): string {
  if (workerId.includes("\n")) {
    throw new FloxideError("InvalidInput", `worker id ${JSON.stringify(workerId)} contains a newline`);
  }
  return workerId;
}

const strings = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : []);

export class RedisWorkflowStore implements WorkflowStore {
  readonly workflow: string;
  readonly version: string;
  private readonly config: RedisStoreConfig;
  private readonly claimer: BlockingClaimer;
  private readonly batcher: CommitBatcher;
  /** The layout check of the current connection epoch (see checkLayout). */
  private layout: { readonly epoch: number; readonly check: Promise<void> } | null = null;

  constructor(config: RedisStoreConfig) {
    this.config = config;
    this.workflow = config.keys.workflow;
    this.version = config.keys.version;
    this.batcher = new CommitBatcher(this.workflow, (args, deadline) => this.commitCall(args, deadline), {
      whole: config.durability === "replicated",
    });
    this.claimer = new BlockingClaimer({
      attempt: (requests) => this.attemptClaim(requests),
      release: async (claim) => void (await this.release([claim])),
      createBlocker: config.createBlocker,
      wakeKey: this.wakeKey,
    });
  }

  get connectionEpoch(): number {
    return this.config.connectionEpoch();
  }

  /** The wake marker an idle claim of this store blocks on (claimer.ts). */
  get wakeKey(): string {
    return this.config.keys.key("wake");
  }

  /** Calls one function with the keys it declares (`runId`: the run a run-control acts on). */
  private async script(
    name: ScriptName,
    args: readonly (string | number)[],
    runId?: string,
    send?: SendFcall,
  ): Promise<unknown> {
    const { client, keys, retentionMs } = this.config;
    await this.checkLayout();
    return runScript(client, name, keysFor(keys, name, runId), [keys.base, retentionMs, ...args], send);
  }

  /** One commit call; `replicated`: with a WAIT on the same connection, confirmed before `deadline`. */
  private commitCall(args: (string | number)[], deadline: number): Promise<unknown> {
    const { client, keys, durability } = this.config;
    if (durability === "fast") return this.script("commit", args);
    const routeKey = keysFor(keys, "commit")[0] as string;
    return this.script("commit", args, undefined, (fcall) =>
      callReplicated(client, routeKey, fcall, deadline),
    );
  }

  /**
   * Refuses keys written in a layout this code does not know (and records ours on a new
   * workflow). Checked once per connection: a restart or failover may bring other data.
   */
  checkLayout(): Promise<void> {
    const epoch = this.config.connectionEpoch();
    if (this.layout?.epoch === epoch) return this.layout.check;
    const { keys, partitions, checkFirst } = this.config;
    const key = keys.key("layout");
    const check = (async () => {
      await checkFirst?.();
      const replies = await execPipeline(
        this.client.pipeline().set(key, layoutRecord(partitions), "NX").get(key),
        `layout version of '${this.workflow}'`,
      );
      const found = decodeLayoutRecord(String(replies[1]));
      if (found.layout !== LAYOUT_VERSION) {
        throw new FloxideError(
          "InvalidConfig",
          `the Redis keys of workflow '${this.workflow}' (${key}) have layout version ${found.layout}; this worker ` +
            `knows only version ${LAYOUT_VERSION}: run a release that writes that layout, or use another keyPrefix`,
          { workflow: this.workflow, layout: found.layout },
        );
      }
      if (found.partitions !== partitions) {
        throw partitionMismatch(this.workflow, key, found.partitions ?? 0, partitions);
      }
    })();
    this.layout = { epoch, check };
    check.catch(() => {
      if (this.layout?.check === check) this.layout = null;
    });
    return check;
  }

  private get client(): RedisClient {
    return this.config.client;
  }

  // ---- queue -------------------------------------------------------------------------------------

  claim(options: ClaimOptions): Promise<Claim | null> {
    return this.claimer.claim(options);
  }

  /** One run of the claim function for up to one item per request (the claimers call it). */
  async attemptClaim(requests: readonly ClaimRequest[]): Promise<ClaimAttempt> {
    const args: (string | number)[] = [this.workflow, (requests[0] as ClaimRequest).leaseMs];
    const workers = new Map<string, string>();
    for (const { workerId } of requests) {
      const token = randomUUID();
      workers.set(token, checkWorkerId(workerId));
      args.push(token, workerId);
    }
    const reply = replyArray("claim", await this.script("claim", args));
    const [kind, due] = reply;
    if (kind === "empty") {
      const nextDue = Number(due);
      return { kind: "empty", nextDueMs: nextDue < 0 ? null : nextDue };
    }
    if (kind === "again") return { kind: "again" };
    if (kind !== "items") throw unexpected("claim", reply);
    const claims: Claim[] = [];
    for (let i = 2; i + 3 < reply.length; i += 4) {
      const token = String(reply[i]);
      const workerId = workers.get(token);
      if (workerId === undefined || typeof reply[i + 1] !== "string") throw unexpected("claim", reply);
      const claim = await this.toClaim(reply[i + 1] as string, token, workerId, reply[i + 2], reply[i + 3]);
      if (claim !== null) claims.push(claim);
    }
    return claims.length === 0 ? { kind: "again" } : { kind: "claimed", claims };
  }

  /** A claimed item as a Claim; null when it cannot be decoded (it is dead-lettered then). */
  private async toClaim(
    raw: string,
    token: string,
    workerId: string,
    deadline: unknown,
    contextSeq: unknown,
  ): Promise<Claim | null> {
    let item: WorkItem;
    try {
      item = decodeItem(raw);
    } catch (error) {
      await this.rejectLeased(raw, token, workerId, error as Error);
      return null;
    }
    return { item, token, workerId, deadline: Number(deadline), contextSeq: Number(contextSeq) };
  }

  /**
   * The claim script checks an item's header; should the full decode still fail, the item can
   * never run: dead-letter it (failing its run) rather than let it bounce between workers.
   */
  private async rejectLeased(raw: string, token: string, workerId: string, error: Error): Promise<void> {
    const header = JSON.parse(raw) as WorkItem;
    const claim: Claim = { item: header, token, workerId, deadline: 0 };
    await this.commit(claim, {
      kind: "fail",
      error: { code: "InvalidItem", message: error.message, node: header.node },
      deadLetter: true,
      durationMs: 0,
    });
  }

  async extendLeases(claims: readonly Claim[], leaseMs: number): Promise<LeaseCheck[]> {
    if (claims.length === 0) return [];
    const reply = replyArray("extend", await this.script("extend", [leaseMs, ...claims.map((c) => c.token)]));
    return reply.map((check) => {
      if (check !== "ok" && check !== "lost" && check !== "run-finished") throw unexpected("extend", reply);
      return check;
    });
  }

  async release(claims: readonly Claim[]): Promise<number> {
    if (claims.length === 0) return 0;
    return Number(
      await this.script(
        "release",
        claims.map((claim) => claim.token),
      ),
    );
  }

  async reclaimExpired(): Promise<{ requeued: number; deadLettered: number }> {
    const { reclaimGuardMs, reclaimBatch } = this.config;
    const reply = replyArray("reclaim", await this.script("reclaim", [reclaimGuardMs, reclaimBatch]));
    return { requeued: Number(reply[0]), deadLettered: Number(reply[1]) };
  }

  async depth(): Promise<QueueDepth> {
    return totalDepth(await this.readVersionDepths());
  }

  private async readVersionDepths(): Promise<WorkflowVersionDepths> {
    const found = await readWorkflowVersions(this.client, [this.workflow], {
      prefix: this.config.keys.prefix,
      partitions: this.config.partitions,
    });
    return found.get(this.workflow) as WorkflowVersionDepths;
  }

  // ---- versions ----------------------------------------------------------------------------------

  async readVersions(): Promise<WorkflowVersions> {
    const { rollout, versions, partitions } = await this.readVersionDepths();
    return { rollout, versions, partitions };
  }

  async writeRollout(request: RolloutRequest): Promise<void> {
    await this.writeRolloutAt(request);
  }

  /** Writes the rollout to this partition; `until`: see rolloutArgs. Returns the ramp's end or -1. */
  async writeRolloutAt(request: RolloutRequest, until?: number): Promise<number> {
    return Number(await this.script("write-rollout", rolloutArgs(request, until)));
  }

  async forgetVersion(version: string): Promise<boolean> {
    return Number(await this.script("forget-version", [checkVersion(version)])) === 1;
  }

  async deadLetters(limit = 100): Promise<DeadLetter[]> {
    if (limit <= 0) return [];
    return (await this.client.lrange(this.config.keys.key("dead"), -limit, -1)).map(decodeDeadLetter);
  }

  async redriveDeadLetter(itemId: string, action: DeadLetterAction): Promise<RedriveResult> {
    const reply = replyArray("redrive", await this.script("redrive", [itemId, action, this.workflow]));
    const [status, first, second] = reply.map(String);
    if (status === "ok") {
      return action === "discard"
        ? { runId: null, runStatus: null }
        : { runId: first as string, runStatus: second as RunStatus };
    }
    if (status === "NotFound")
      throw new FloxideError(
        "DeadLetterNotFound",
        `no dead letter of item '${itemId}' in '${this.workflow}'`,
        {
          itemId,
        },
      );
    if (status === "NotAnItem")
      throw new FloxideError(
        "InvalidItem",
        `dead letter of '${itemId}' holds no runnable item (${first}): discard it`,
        {
          itemId,
        },
      );
    if (status === "RunNotFound")
      throw new FloxideError("RunNotFound", `run '${first}' of dead letter '${itemId}' expired: discard it`, {
        itemId,
        runId: first,
      });
    if (status === "RunFinished")
      throw new FloxideError("RunFinished", `run '${first}' of dead letter '${itemId}' is ${second}`, {
        itemId,
        runId: first,
      });
    throw unexpected("redrive", reply);
  }

  // ---- commit ------------------------------------------------------------------------------------

  /**
   * Commits go to Redis in batches: every commit of this process asked for in the same tick
   * is one call (commit-batch.ts), each fenced by its own lease. A large fan-out is staged
   * first, under the same lease (stage.ts), and published by that one call.
   */
  async commit(claim: Claim, outcome: StepOutcome, claimNext?: ClaimNext): Promise<CommitResult> {
    const staged = outcome.kind === "success" && needsStaging(outcome.followUps);
    const args = commitArgs(this.workflow, claim, outcome, staged);
    if (staged) {
      const send = (stageArgs: (string | number)[]): Promise<unknown> => this.script("stage", stageArgs);
      if ((await stageFollowUps(send, this.workflow, claim, outcome.followUps)) === "lease-lost")
        return { status: "lease-lost" };
    }
    const next =
      claimNext === undefined
        ? undefined
        : { token: randomUUID(), workerId: checkWorkerId(claimNext.workerId), leaseMs: claimNext.leaseMs };
    const entry = { args, deadline: claim.deadline };
    let reply: CommitReply;
    try {
      reply = await this.batcher.commit(next === undefined ? entry : { ...entry, next });
    } catch (error) {
      if (next !== undefined) await this.releaseUnconfirmedNext(error, next);
      throw error;
    }
    let result: CommitResult;
    if (reply.status === "lease-lost") result = { status: "lease-lost" };
    else if (reply.status === "corrupt")
      result = { status: "run-finished", run: "failed", corrupt: reply.run };
    else if (reply.status === "committed" || reply.status === "run-finished")
      result = { status: reply.status, run: reply.run as RunStatus };
    else throw unexpected("commit", reply);
    if (next === undefined || reply.next === undefined) return result;
    const { raw, deadline, contextSeq } = reply.next;
    const nextClaim = await this.toClaim(raw, next.token, next.workerId, deadline, contextSeq);
    return nextClaim === null ? result : { ...result, next: nextClaim };
  }

  /**
   * An unconfirmed replicated commit claimed this loop's next item, which the loop will not run
   * now: hand it back (attempt unchanged) rather than let it wait for its lease and count an
   * attempt. Best effort: if the release fails or a failover loses it, the lease expires.
   */
  private async releaseUnconfirmedNext(
    error: unknown,
    next: { token: string; workerId: string },
  ): Promise<void> {
    if (!(error instanceof FloxideError)) return;
    const claimed = error.details.next as CommitReply["next"] | undefined;
    if (claimed === undefined) return;
    try {
      const { raw, deadline, contextSeq } = claimed;
      const claim = await this.toClaim(raw, next.token, next.workerId, deadline, contextSeq);
      if (claim !== null) await this.release([claim]);
    } catch {
      // Not lost: the lease expires and the item is reclaimed (attempt + 1).
    }
  }

  // ---- runs --------------------------------------------------------------------------------------

  async createRun(request: CreateRunRequest): Promise<{ runId: string; created: boolean }> {
    checkVersion(request.version);
    if (request.startItem.version !== request.version) {
      throw new FloxideError(
        "InvalidInput",
        `run ${request.runId}: its first item is of version '${request.startItem.version}', the run of '${request.version}'`,
        { runId: request.runId },
      );
    }
    const reply = replyArray(
      "create-run",
      await this.script("create-run", createRunArgs(this.workflow, request)),
    );
    return { runId: String(reply[0]), created: Number(reply[1]) === 1 };
  }

  async getRun(runId: string): Promise<RunInfo | null> {
    const [runs] = await this.readRuns([runId]);
    return runs ?? null;
  }

  /** Run infos of the given ids in one call (one instant), skipping runs that expired. */
  private async readRuns(runIds: readonly string[]): Promise<RunInfo[]> {
    if (runIds.length === 0) return [];
    const reply = replyArray("read-runs", await this.script("read-runs", runIds));
    const infos: RunInfo[] = [];
    for (const run of reply) {
      const fields = toFields(run);
      if (Object.keys(fields).length > 0) infos.push(decodeRunInfo(fields));
    }
    return infos;
  }

  /** Newest first, from the one run index; a status filter reads past runs of other statuses. */
  async listRuns(options: { status?: RunStatus; limit?: number } = {}): Promise<RunInfo[]> {
    const limit = options.limit ?? 100;
    const index = this.config.keys.key("runs");
    const runs: RunInfo[] = [];
    // Index entries of expired runs linger until create-run prunes them: read past them too.
    const page = Math.max(limit, 100);
    for (let offset = 0; runs.length < limit; offset += page) {
      const ids = await this.client.zrevrange(index, offset, offset + page - 1);
      if (ids.length === 0) break;
      const infos = await this.readRuns(ids);
      for (const info of infos)
        if (options.status === undefined || info.status === options.status) runs.push(info);
      if (ids.length < page) break;
    }
    return runs.slice(0, limit);
  }

  private async control(name: ScriptName, runId: string, extra: string[] = []): Promise<RunInfo> {
    const reply = replyArray(name, await this.script(name, [runId, ...extra], runId));
    const [status, first] = reply;
    if (status === "ok") return decodeRunInfo(toFields(first));
    if (status === "RunNotFound")
      throw new FloxideError("RunNotFound", `run '${runId}' not found`, { runId });
    if (status === "RunFinished")
      throw new FloxideError("RunFinished", `run '${runId}' is ${String(first)}`, { runId });
    throw unexpected(name, reply);
  }

  pauseRun(runId: string): Promise<RunInfo> {
    return this.control("pause-run", runId);
  }

  resumeRun(runId: string): Promise<RunInfo> {
    return this.control("resume-run", runId);
  }

  cancelRun(runId: string, reason: string): Promise<RunInfo> {
    return this.control("cancel-run", runId, [reason]);
  }

  // ---- context, checkpoints, items ---------------------------------------------------------------

  /** Reads only the events after `afterSeq` (LRANGE from that offset): cost is per new event. */
  async readEvents(runId: string, afterSeq: number, limit = Infinity): Promise<EventRecord[]> {
    if (!Number.isInteger(afterSeq) || afterSeq < 0) {
      throw new FloxideError("InvalidInput", `afterSeq ${afterSeq} is not a sequence number`);
    }
    if (limit <= 0) return [];
    const stop = Number.isFinite(limit) ? afterSeq + Math.floor(limit) - 1 : -1;
    const raws = await this.client.lrange(this.config.keys.run("events", runId), afterSeq, stop);
    return raws.map((raw, index) => decodeEvent(raw, afterSeq + index + 1));
  }

  async saveCheckpoint(runId: string, checkpoint: Checkpoint): Promise<void> {
    await this.script(
      "save-checkpoint",
      [runId, checkpoint.seq, toJson(checkpoint.state, "checkpoint state")],
      runId,
    );
  }

  async loadCheckpoint(runId: string): Promise<Checkpoint | null> {
    return decodeCheckpoint(await this.client.hgetall(this.config.keys.run("checkpoint", runId)));
  }

  async listItems(runId: string): Promise<ItemState[]> {
    return decodeItemStates(runId, await this.client.hgetall(this.config.keys.run("run", runId)));
  }

  // ---- metrics, errors, liveness -----------------------------------------------------------------

  async readMetrics(): Promise<WorkflowMetrics> {
    return decodeMetrics(await this.client.hgetall(this.config.keys.key("metrics")));
  }

  async listErrors(options: { runId?: string; limit?: number } = {}): Promise<ErrorRecord[]> {
    const limit = options.limit ?? 100;
    if (limit <= 0) return [];
    const { keys } = this.config;
    const key = options.runId === undefined ? keys.key("errors") : keys.run("errors", options.runId);
    return (await this.client.lrange(key, -limit, -1)).map(decodeErrorRecord);
  }

  async heartbeat(liveness: WorkerLiveness, ttlMs: number): Promise<void> {
    const { workerId, status, inFlight, at, concurrency, host } = liveness;
    const fields = { workerId, status, inFlight, at, version: this.version, concurrency, host };
    // Checked before the write: a record readers would reject would hide a live worker.
    const record = JSON.stringify(decodeReply(WorkerLivenessSchema, fields, "worker liveness"));
    await this.script("heartbeat", [workerId, ttlMs, record]);
  }

  async listWorkers(): Promise<WorkerLiveness[]> {
    return strings(await this.script("list-workers", [])).map(decodeLiveness);
  }

  /** Ends blocked claims and drops the blocking connection (the shared client stays open). */
  close(): void {
    this.claimer.close();
  }
}
