import { createHash, randomUUID } from "node:crypto";
import { FloxideError, type ErrorInfo, type EventRecord } from "../../sdk/index.ts";
import type {
  BackendOptions,
  ClaimNext,
  ClaimOptions,
  DeadLetterAction,
  RedriveResult,
  CreateRunRequest,
  StoreBackend,
  WorkflowStore,
} from "../contract.ts";
import {
  isTerminal,
  type Checkpoint,
  type Claim,
  type CommitResult,
  type DeadLetter,
  type ErrorRecord,
  type ItemState,
  type ItemStatus,
  type LeaseCheck,
  type NodeMetrics,
  type QueueDepth,
  type RunInfo,
  type RunOutput,
  type RunStatus,
  type StepOutcome,
  type WorkItem,
  type WorkerLiveness,
  type Rollout,
  type WorkflowMetrics,
  type WorkflowVersions,
} from "../types.ts";
import { checkRolloutRequest, DEFAULT_VERSION, totalDepth, type RolloutRequest } from "../versions.ts";
import { Deque } from "./deque.ts";

/** Copies a value the way a JSON store would, so the memory backend never aliases caller objects. */
const copy = <T>(value: T): T => (value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T));

interface JoinSlot {
  readonly values: Map<number, unknown>;
  readonly count: number;
  readonly joinItem: WorkItem;
}

interface RunRecord {
  info: Mutable<Omit<RunInfo, "outputs">> & { outputs: RunOutput[] };
  readonly events: EventRecord[];
  readonly parked: WorkItem[];
  readonly heldItems: Map<string, WorkItem>;
  readonly joins: Map<string, JoinSlot>;
  readonly items: Map<string, Mutable<ItemState>>;
  checkpoint: Checkpoint | null;
  expiresAt: number | null;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface Lease {
  claim: Claim;
  deadline: number;
}

const ZERO_NODE: NodeMetrics = { completed: 0, failed: 0, retried: 0, held: 0, durationMsTotal: 0 };

/** One version's queue (Redis: the per-version keys, keys.ts). */
interface VersionQueue {
  readonly ready: Deque<WorkItem>;
  readonly leases: Map<string, Lease>;
  readonly delayed: { at: number; item: WorkItem }[];
  readonly since: number;
}

/** Everything of one workflow, shared by the stores of its versions. */
class MemoryWorkflowData {
  readonly queues = new Map<string, VersionQueue>();
  rollout: Rollout = { current: null, ramp: null };
  readonly dead: DeadLetter[] = [];
  readonly runs = new Map<string, RunRecord>();
  readonly idempotency = new Map<string, string>();
  readonly errors: ErrorRecord[] = [];
  readonly workers = new Map<string, { liveness: WorkerLiveness; expiresAt: number }>();
  readonly waiters = new Set<() => void>();
  readonly nodeMetrics = new Map<string, Mutable<NodeMetrics>>();
  readonly counters = {
    runsStarted: 0,
    runsCompleted: 0,
    runsFailed: 0,
    runsCancelled: 0,
    leaseReclaims: 0,
    deadLettered: 0,
  };

  /** The version's queue; using a version registers it (as create-run.lua does). */
  queue(version: string): VersionQueue {
    let queue = this.queues.get(version);
    if (queue === undefined) {
      queue = { ready: new Deque(), leases: new Map(), delayed: [], since: Date.now() };
      this.queues.set(version, queue);
    }
    return queue;
  }
}

/** The embedded store: one process, no persistence. Same contract and semantics as Redis. */
export class MemoryWorkflowStore implements WorkflowStore {
  readonly workflow: string;
  readonly version: string;
  private readonly retentionMs: number;
  private readonly data: MemoryWorkflowData;

  constructor(
    workflow: string,
    options: BackendOptions = {},
    version: string = DEFAULT_VERSION,
    data: MemoryWorkflowData = new MemoryWorkflowData(),
  ) {
    this.workflow = workflow;
    this.version = version;
    this.retentionMs = options.retentionMs ?? 24 * 3600_000;
    this.data = data;
  }

  /** This version's queue: the one its claims, leases and reclaims use. */
  private get q(): VersionQueue {
    return this.data.queue(this.version);
  }

  /** The queue of the version a run is pinned to. */
  private queueOf(run: RunRecord): VersionQueue {
    return this.data.queue(run.info.version);
  }

  // ---- queue ---------------------------------------------------------------------------------

  async claim(options: ClaimOptions): Promise<Claim | null> {
    const blockUntil = Date.now() + options.blockMs;
    while (true) {
      const claim = this.tryClaim(options);
      if (claim !== null) return claim;
      const now = Date.now();
      if (now >= blockUntil || options.signal?.aborted === true) return null;
      const nextDue = this.q.delayed[0]?.at ?? Infinity;
      await this.waitForWork(Math.min(blockUntil, nextDue) - now, options.signal);
    }
  }

  private tryClaim(options: ClaimOptions): Claim | null {
    const now = Date.now();
    this.promoteDue(now);
    for (let item = this.q.ready.shift(); item !== undefined; item = this.q.ready.shift()) {
      const run = this.data.runs.get(item.runId);
      if (run === undefined || isTerminal(run.info.status)) {
        if (run !== undefined) this.setItem(run, item, "cancelled");
        continue;
      }
      if (run.info.status === "paused") {
        run.parked.push(item);
        this.setItem(run, item, "parked");
        continue;
      }
      const claim: Claim = {
        item: copy(item),
        token: randomUUID(),
        workerId: options.workerId,
        deadline: now + options.leaseMs,
        contextSeq: run.events.length,
      };
      this.q.leases.set(claim.token, { claim, deadline: claim.deadline });
      this.setItem(run, item, "running");
      if (run.info.status === "queued") {
        run.info.status = "running";
        run.info.startedAt = now;
      }
      return claim;
    }
    return null;
  }

  private waitForWork(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.data.waiters.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.data.waiters.add(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  private wake(): void {
    for (const waiter of [...this.data.waiters]) waiter();
  }

  private promoteDue(now: number): void {
    while (this.q.delayed.length > 0 && (this.q.delayed[0] as { at: number }).at <= now) {
      const { item } = this.q.delayed.shift() as { item: WorkItem };
      this.q.ready.push(item);
    }
  }

  private push(run: RunRecord, item: WorkItem): void {
    const stored = copy(item);
    run.info.pending += 1;
    this.setItem(run, stored, run.info.status === "paused" ? "parked" : "queued");
    if (run.info.status === "paused") run.parked.push(stored);
    else {
      this.queueOf(run).ready.push(stored);
      this.wake();
    }
  }

  async extendLeases(claims: readonly Claim[], leaseMs: number): Promise<LeaseCheck[]> {
    const now = Date.now();
    return claims.map((claim) => {
      const lease = this.q.leases.get(claim.token);
      if (lease === undefined) return "lost";
      const run = this.data.runs.get(claim.item.runId);
      if (run === undefined || isTerminal(run.info.status)) return "run-finished";
      lease.deadline = now + leaseMs;
      return "ok";
    });
  }

  async release(claims: readonly Claim[]): Promise<number> {
    let released = 0;
    for (const claim of claims) {
      if (!this.q.leases.delete(claim.token)) continue;
      released += 1;
      const run = this.data.runs.get(claim.item.runId);
      if (run === undefined || isTerminal(run.info.status)) continue;
      this.q.ready.unshift(claim.item);
      this.setItem(run, claim.item, "queued");
      this.wake();
    }
    return released;
  }

  async reclaimExpired(): Promise<{ requeued: number; deadLettered: number }> {
    const now = Date.now();
    let requeued = 0;
    let deadLettered = 0;
    for (const [token, lease] of this.q.leases) {
      if (lease.deadline > now) continue;
      this.q.leases.delete(token);
      const { item } = lease.claim;
      const run = this.data.runs.get(item.runId);
      this.data.counters.leaseReclaims += 1;
      if (run === undefined) continue;
      // Its worker died mid-step after the run finished: the item ends with the run.
      if (isTerminal(run.info.status)) {
        this.setItem(run, item, "cancelled");
        continue;
      }
      const error: ErrorInfo = {
        code: "LeaseLost",
        message: `lease of worker ${lease.claim.workerId} expired on attempt ${item.attempt}`,
        node: item.node,
      };
      this.recordError(item, error, item.attempt >= item.maxAttempts ? "dead" : "reclaim", now);
      if (item.attempt >= item.maxAttempts) {
        deadLettered += 1;
        this.deadLetter(run, item, error, now);
      } else {
        requeued += 1;
        const next = { ...item, attempt: item.attempt + 1 };
        run.info.pending -= 1;
        this.push(run, next);
      }
    }
    return { requeued, deadLettered };
  }

  async depth(): Promise<QueueDepth> {
    return totalDepth({ ...(await this.readVersions()), dead: this.data.dead.length });
  }

  // ---- versions ------------------------------------------------------------------------------

  async readVersions(): Promise<WorkflowVersions> {
    const versions = [...this.data.queues].map(([version, queue]) => ({
      version,
      since: queue.since,
      ready: queue.ready.length,
      inFlight: queue.leases.size,
      delayed: queue.delayed.length,
    }));
    return copy({ rollout: this.data.rollout, versions });
  }

  async writeRollout(request: RolloutRequest): Promise<void> {
    const { current, ramp } = checkRolloutRequest(request);
    const old = this.data.rollout.ramp;
    this.data.queue(current);
    if (ramp !== null) this.data.queue(ramp.version);
    this.data.rollout = {
      current,
      ramp:
        ramp === null
          ? null
          : {
              version: ramp.version,
              percent: ramp.percent,
              until: old?.version === ramp.version ? old.until : Date.now() + ramp.periodMs,
            },
    };
  }

  async forgetVersion(version: string): Promise<boolean> {
    const { rollout, queues } = this.data;
    const queue = queues.get(version);
    if (rollout.current === version || rollout.ramp?.version === version) return false;
    if (queue === undefined) return true;
    if (queue.ready.length + queue.leases.size + queue.delayed.length > 0) return false;
    queues.delete(version);
    return true;
  }

  /** The version a new run gets (create-run.lua's rule, with the same draw from the run id). */
  private chooseVersion(runId: string, starter: string): string {
    const { current, ramp } = this.data.rollout;
    if (ramp !== null) {
      const draw = parseInt(createHash("sha1").update(runId).digest("hex").slice(0, 8), 16) % 10_000;
      if (Date.now() >= ramp.until || draw < ramp.percent * 100) return ramp.version;
    }
    return current ?? starter;
  }

  async deadLetters(limit = 100): Promise<DeadLetter[]> {
    return copy(this.data.dead.slice(-limit));
  }

  async redriveDeadLetter(itemId: string, action: DeadLetterAction): Promise<RedriveResult> {
    const index = this.data.dead.findLastIndex((letter) => letter.item.id === itemId);
    const letter = this.data.dead[index];
    if (letter === undefined)
      throw new FloxideError(
        "DeadLetterNotFound",
        `no dead letter of item '${itemId}' in '${this.workflow}'`,
        {
          itemId,
        },
      );
    if (action === "discard") {
      this.data.dead.splice(index, 1);
      return { runId: null, runStatus: null };
    }
    const { item } = letter;
    if (item.workflow !== this.workflow)
      throw new FloxideError("InvalidItem", `dead letter of '${itemId}' holds no runnable item: discard it`, {
        itemId,
      });
    const run = this.data.runs.get(item.runId);
    if (run === undefined)
      throw new FloxideError(
        "RunNotFound",
        `run '${item.runId}' of dead letter '${itemId}' expired: discard it`,
        {
          itemId,
          runId: item.runId,
        },
      );
    const { status } = run.info;
    if (status === "completed" || status === "cancelled")
      throw new FloxideError("RunFinished", `run '${item.runId}' of dead letter '${itemId}' is ${status}`, {
        itemId,
        runId: item.runId,
      });
    this.data.dead.splice(index, 1);
    if (status === "failed") {
      // Revive (redrive.lua): items dropped while it was failed were never counted down.
      const live = ["queued", "running", "retrying", "parked"];
      run.info.pending = [...run.items.values()].filter(
        (state) => state.itemId !== itemId && live.includes(state.status),
      ).length;
      run.info.status = run.info.startedAt === null ? "queued" : "running";
      run.info.error = null;
      run.info.finishedAt = null;
      run.expiresAt = null;
    }
    this.push(run, { ...item, attempt: 1 });
    return { runId: item.runId, runStatus: run.info.status };
  }

  // ---- commit --------------------------------------------------------------------------------

  async commit(claim: Claim, outcome: StepOutcome, claimNext?: ClaimNext): Promise<CommitResult> {
    const result = this.applyCommit(claim, outcome);
    const next = claimNext === undefined ? null : this.tryClaim({ ...claimNext, blockMs: 0 });
    return next === null ? result : { ...result, next };
  }

  private applyCommit(claim: Claim, outcome: StepOutcome): CommitResult {
    const lease = this.q.leases.get(claim.token);
    if (lease === undefined) return { status: "lease-lost" };
    this.q.leases.delete(claim.token);
    const { item } = lease.claim;
    const run = this.data.runs.get(item.runId);
    if (run === undefined) return { status: "run-finished", run: "cancelled" };
    if (isTerminal(run.info.status)) {
      this.setItem(run, item, "cancelled");
      return { status: "run-finished", run: run.info.status };
    }
    const now = Date.now();
    const metrics = this.metricsFor(item.node);
    metrics.durationMsTotal += outcome.durationMs;
    this.addDuration(run, item, outcome.durationMs);
    switch (outcome.kind) {
      case "success": {
        for (const draft of outcome.events) {
          run.events.push(copy({ ...draft, seq: run.events.length + 1 }));
        }
        for (const followUp of outcome.followUps) this.push(run, followUp);
        for (const arrival of outcome.arrivals)
          this.arrive(run, arrival.frame, arrival.value, arrival.joinItem);
        for (const output of outcome.outputs) run.info.outputs.push(copy(output));
        if (outcome.hold !== null) {
          run.heldItems.set(item.id, item);
          run.info.held += 1;
          metrics.held += 1;
          this.setItem(run, item, "held");
        } else {
          metrics.completed += 1;
          this.setItem(run, item, "completed");
        }
        run.info.pending -= 1;
        break;
      }
      case "retry": {
        const next = { ...item, attempt: item.attempt + 1 };
        const at = now + outcome.delayMs;
        const { delayed } = this.queueOf(run);
        const index = delayed.findIndex((entry) => entry.at > at);
        delayed.splice(index === -1 ? delayed.length : index, 0, { at, item: next });
        this.wake();
        metrics.retried += 1;
        this.setItem(run, next, "retrying", outcome.error);
        this.recordError(item, outcome.error, "retry", now);
        break;
      }
      case "fallback": {
        for (const followUp of outcome.followUps) this.push(run, followUp);
        metrics.failed += 1;
        this.setItem(run, item, "failed", outcome.error);
        this.recordError(item, outcome.error, "fallback", now);
        run.info.pending -= 1;
        break;
      }
      case "fail": {
        metrics.failed += 1;
        this.recordError(item, outcome.error, outcome.deadLetter ? "dead" : "fail", now);
        if (outcome.deadLetter) this.deadLetter(run, item, outcome.error, now);
        else {
          this.setItem(run, item, "failed", outcome.error);
          run.info.pending -= 1;
          this.finish(run, "failed", outcome.error);
        }
        break;
      }
    }
    this.settleIfQuiescent(run);
    return { status: "committed", run: run.info.status };
  }

  private arrive(
    run: RunRecord,
    frame: WorkItem["frames"][number],
    value: unknown,
    joinItem: WorkItem,
  ): void {
    const key = `${frame.id}>${joinItem.node}`;
    let slot = run.joins.get(key);
    if (slot === undefined) {
      slot = { values: new Map(), count: frame.count, joinItem: copy(joinItem) };
      run.joins.set(key, slot);
    }
    // First arrival per slot wins: a second one can only come from a fork inside the branch.
    if (!slot.values.has(frame.index)) slot.values.set(frame.index, copy(value));
    if (slot.values.size < slot.count) return;
    run.joins.delete(key);
    const inputs = [...slot.values.entries()].sort(([a], [b]) => a - b).map(([, v]) => v);
    this.push(run, { ...slot.joinItem, input: inputs });
  }

  private deadLetter(run: RunRecord, item: WorkItem, error: ErrorInfo, now: number): void {
    this.data.dead.push({ item: copy(item), error, at: now });
    this.data.counters.deadLettered += 1;
    this.setItem(run, item, "dead", error);
    run.info.pending -= 1;
    this.finish(run, "failed", error);
  }

  private settleIfQuiescent(run: RunRecord): void {
    if (isTerminal(run.info.status) || run.info.pending > 0 || run.info.held > 0) return;
    if (run.joins.size > 0) {
      const [key, slot] = run.joins.entries().next().value as [string, JoinSlot];
      this.finish(run, "failed", {
        code: "JoinIncomplete",
        message: `join '${slot.joinItem.node}' got ${slot.values.size} of ${slot.count} branches (${key}) and nothing else is pending`,
        node: slot.joinItem.node,
      });
      return;
    }
    this.finish(run, "completed", null);
  }

  private finish(run: RunRecord, status: RunStatus, error: ErrorInfo | null): void {
    if (isTerminal(run.info.status)) return;
    const now = Date.now();
    run.info.status = status;
    run.info.error = error;
    run.info.finishedAt = now;
    run.expiresAt = now + this.retentionMs;
    for (const held of run.heldItems.values()) this.setItem(run, held, "cancelled");
    run.heldItems.clear();
    run.info.held = 0;
    if (status === "completed") this.data.counters.runsCompleted += 1;
    else if (status === "failed") this.data.counters.runsFailed += 1;
    else this.data.counters.runsCancelled += 1;
  }

  // ---- runs ----------------------------------------------------------------------------------

  async createRun(request: CreateRunRequest): Promise<{ runId: string; created: boolean }> {
    this.expireRuns();
    if (request.idempotencyKey !== null) {
      const existing = this.data.idempotency.get(request.idempotencyKey);
      if (existing !== undefined && this.data.runs.has(existing)) return { runId: existing, created: false };
    }
    if (this.data.runs.has(request.runId)) return { runId: request.runId, created: false };
    const version = this.chooseVersion(request.runId, request.version);
    const run: RunRecord = {
      info: {
        runId: request.runId,
        workflow: this.workflow,
        version,
        status: "queued",
        input: copy(request.input),
        createdAt: Date.now(),
        startedAt: null,
        finishedAt: null,
        outputs: [] as RunOutput[],
        error: null,
        idempotencyKey: request.idempotencyKey,
        pending: 0,
        held: 0,
      },
      events: [],
      parked: [],
      heldItems: new Map(),
      joins: new Map(),
      items: new Map(),
      checkpoint: null,
      expiresAt: null,
    };
    this.data.runs.set(request.runId, run);
    if (request.idempotencyKey !== null) this.data.idempotency.set(request.idempotencyKey, request.runId);
    this.data.counters.runsStarted += 1;
    this.push(run, { ...request.startItem, version });
    return { runId: request.runId, created: true };
  }

  async getRun(runId: string): Promise<RunInfo | null> {
    const run = this.data.runs.get(runId);
    return run === undefined ? null : copy(run.info);
  }

  async listRuns(options: { status?: RunStatus; limit?: number } = {}): Promise<RunInfo[]> {
    this.expireRuns();
    const all = [...this.data.runs.values()].map((run) => run.info);
    const matching =
      options.status === undefined ? all : all.filter((info) => info.status === options.status);
    return copy(matching.sort((a, b) => b.createdAt - a.createdAt).slice(0, options.limit ?? 100));
  }

  private requireRun(runId: string): RunRecord {
    const run = this.data.runs.get(runId);
    if (run === undefined) throw new FloxideError("RunNotFound", `run '${runId}' not found`, { runId });
    return run;
  }

  async pauseRun(runId: string): Promise<RunInfo> {
    const run = this.requireRun(runId);
    if (isTerminal(run.info.status)) {
      throw new FloxideError("RunFinished", `run '${runId}' is ${run.info.status}`, { runId });
    }
    run.info.status = "paused";
    return copy(run.info);
  }

  async resumeRun(runId: string): Promise<RunInfo> {
    const run = this.requireRun(runId);
    if (isTerminal(run.info.status)) {
      throw new FloxideError("RunFinished", `run '${runId}' is ${run.info.status}`, { runId });
    }
    run.info.status = run.info.startedAt === null ? "queued" : "running";
    for (const item of run.parked.splice(0)) {
      this.queueOf(run).ready.push(item);
      this.setItem(run, item, "queued");
    }
    for (const item of run.heldItems.values()) {
      run.info.held -= 1;
      this.push(run, item);
    }
    run.heldItems.clear();
    this.wake();
    return copy(run.info);
  }

  async cancelRun(runId: string, reason: string): Promise<RunInfo> {
    const run = this.requireRun(runId);
    this.finish(run, "cancelled", { code: "Cancelled", message: reason });
    for (const item of run.parked.splice(0)) this.setItem(run, item, "cancelled");
    return copy(run.info);
  }

  private expireRuns(): void {
    const now = Date.now();
    for (const [runId, run] of this.data.runs) {
      if (run.expiresAt === null || run.expiresAt > now) continue;
      this.data.runs.delete(runId);
      if (run.info.idempotencyKey !== null) this.data.idempotency.delete(run.info.idempotencyKey);
    }
  }

  // ---- context, checkpoints, items -------------------------------------------------------------

  async readEvents(runId: string, afterSeq: number, limit = Infinity): Promise<EventRecord[]> {
    const run = this.data.runs.get(runId);
    if (run === undefined) return [];
    return copy(run.events.slice(afterSeq, afterSeq + Math.min(limit, run.events.length)));
  }

  async saveCheckpoint(runId: string, checkpoint: Checkpoint): Promise<void> {
    const run = this.data.runs.get(runId);
    if (run !== undefined && (run.checkpoint === null || run.checkpoint.seq < checkpoint.seq)) {
      run.checkpoint = copy(checkpoint);
    }
  }

  async loadCheckpoint(runId: string): Promise<Checkpoint | null> {
    return copy(this.data.runs.get(runId)?.checkpoint ?? null);
  }

  async listItems(runId: string): Promise<ItemState[]> {
    const run = this.data.runs.get(runId);
    return run === undefined ? [] : copy([...run.items.values()]);
  }

  private setItem(run: RunRecord, item: WorkItem, status: ItemStatus, error?: ErrorInfo): void {
    const existing = run.items.get(item.id);
    run.items.set(item.id, {
      itemId: item.id,
      runId: item.runId,
      node: item.node,
      status,
      attempt: item.attempt,
      updatedAt: Date.now(),
      durationMs: existing?.durationMs ?? 0,
      lastError: error ?? existing?.lastError ?? null,
    });
  }

  private addDuration(run: RunRecord, item: WorkItem, ms: number): void {
    const state = run.items.get(item.id);
    if (state !== undefined) state.durationMs += ms;
  }

  // ---- metrics, errors, liveness -------------------------------------------------------------

  private metricsFor(node: string): Mutable<NodeMetrics> {
    let metrics = this.data.nodeMetrics.get(node);
    if (metrics === undefined) {
      metrics = { ...ZERO_NODE };
      this.data.nodeMetrics.set(node, metrics);
    }
    return metrics;
  }

  async readMetrics(): Promise<WorkflowMetrics> {
    let parked = 0;
    for (const run of this.data.runs.values())
      if (!isTerminal(run.info.status)) parked += run.parked.length + run.heldItems.size;
    return copy({ nodes: Object.fromEntries(this.data.nodeMetrics), ...this.data.counters, parked });
  }

  private recordError(item: WorkItem, error: ErrorInfo, action: ErrorRecord["action"], at: number): void {
    this.data.errors.push({
      runId: item.runId,
      itemId: item.id,
      node: item.node,
      attempt: item.attempt,
      error,
      action,
      at,
    });
    if (this.data.errors.length > 10_000) this.data.errors.splice(0, this.data.errors.length - 10_000);
  }

  async listErrors(options: { runId?: string; limit?: number } = {}): Promise<ErrorRecord[]> {
    const matching =
      options.runId === undefined
        ? this.data.errors
        : this.data.errors.filter((e) => e.runId === options.runId);
    return copy(matching.slice(-(options.limit ?? 100)));
  }

  async heartbeat(liveness: WorkerLiveness, ttlMs: number): Promise<void> {
    const entry = { liveness: copy({ ...liveness, version: this.version }), expiresAt: Date.now() + ttlMs };
    this.data.workers.set(liveness.workerId, entry);
  }

  async listWorkers(): Promise<WorkerLiveness[]> {
    const now = Date.now();
    for (const [id, entry] of this.data.workers) if (entry.expiresAt <= now) this.data.workers.delete(id);
    return copy([...this.data.workers.values()].map((entry) => entry.liveness));
  }
}

export class MemoryBackend implements StoreBackend {
  readonly kind = "memory" as const;
  private readonly stores = new Map<string, MemoryWorkflowStore>();
  private readonly data = new Map<string, MemoryWorkflowData>();
  private readonly options: BackendOptions;

  constructor(options: BackendOptions = {}) {
    this.options = options;
  }

  forWorkflow(workflow: string, version: string = DEFAULT_VERSION): MemoryWorkflowStore {
    const id = `${workflow}\n${version}`;
    let store = this.stores.get(id);
    if (store === undefined) {
      let data = this.data.get(workflow);
      if (data === undefined) this.data.set(workflow, (data = new MemoryWorkflowData()));
      store = new MemoryWorkflowStore(workflow, this.options, version, data);
      this.stores.set(id, store);
    }
    return store;
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}
}
