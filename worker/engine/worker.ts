import { backoffDelayMs, type Backoff } from "../../common/backoff.ts";
import type { Logger } from "../sdk/index.ts";
import type { Claim, CommitResult, StepOutcome, WorkflowStore } from "../store/index.ts";
import type { ContextCache } from "./context-cache.ts";
import type { LeaseKeeper } from "./lease-keeper.ts";
import type { StoreHealth } from "./store-health.ts";
import { runStep, StepAbort, type CompiledWorkflow } from "./step.ts";

/** After a store error the loop waits 100 ms, doubling per failure in a row, at most 5 s. */
const LOOP_BACKOFF: Backoff = { growth: "exponential", initialMs: 100, maxMs: 5000 };

/** What happened to one claimed item, for metrics and progress displays. */
export interface StepReport {
  readonly claim: Claim;
  readonly outcome: StepOutcome;
  /** null when the step was not committed (lease lost, or released on shutdown). */
  readonly commit: CommitResult | null;
}

export interface WorkerDeps {
  readonly id: string;
  readonly store: WorkflowStore;
  readonly workflow: CompiledWorkflow;
  readonly contexts: ContextCache;
  readonly keeper: LeaseKeeper;
  readonly log: Logger;
  readonly leaseMs: number;
  /** How long an idle claim blocks in the store before looping (it re-checks the stop signal). */
  readonly blockMs: number;
  readonly onStep?: (report: StepReport) => void;
  /** Called after every loop iteration, successful or not: the loop is not stuck. */
  readonly onIteration?: () => void;
  readonly random?: () => number;
  /** Told of every loop iteration's store outcome (a corrupt key makes the store unusable). */
  readonly health?: StoreHealth;
}

/**
 * One claim loop: claim -> load context -> run node -> commit, until stopped. While claiming,
 * each commit also claims the loop's next item (one round trip per step when busy); the loop
 * falls back to a blocking claim when none was ready.
 */
export class DistributedWorker {
  private readonly deps: WorkerDeps;
  /** Claimed by the last commit, not yet run. */
  private next: Claim | null = null;

  constructor(deps: WorkerDeps) {
    this.deps = deps;
  }

  get id(): string {
    return this.deps.id;
  }

  /**
   * Claims at most one item (blocking up to blockMs) and processes it. False when none came.
   * Given `stopClaiming` (the claim loop), its commit also claims the next item for the next call.
   */
  async runOnce(stopClaiming?: AbortSignal): Promise<boolean> {
    const { store, keeper, leaseMs, blockMs } = this.deps;
    const options =
      stopClaiming === undefined
        ? { workerId: this.id, leaseMs, blockMs }
        : { workerId: this.id, leaseMs, blockMs, signal: stopClaiming };
    const claim = this.next ?? (await store.claim(options));
    this.next = null;
    if (claim === null) return false;
    const stop = keeper.hold(claim);
    try {
      const outcome = await runStep(this.deps, claim, stop);
      const reason = stop.aborted ? stop.reason : null;
      const commit = await this.settle(claim, outcome, reason, stopClaiming);
      this.deps.onStep?.({ claim, outcome, commit });
      if (commit?.status === "run-finished" || commit?.status === "lease-lost")
        this.deps.contexts.forget(claim.item.runId);
    } finally {
      keeper.drop(claim);
    }
    return true;
  }

  private async settle(
    claim: Claim,
    outcome: StepOutcome,
    reason: unknown,
    stopClaiming: AbortSignal | undefined,
  ): Promise<CommitResult | null> {
    if (reason instanceof StepAbort && reason.reason === "shutdown") {
      // Drain deadline passed mid-step: hand the item back without counting an attempt.
      await this.deps.store.release([claim]);
      return null;
    }
    if (reason instanceof StepAbort && reason.reason === "lease-lost") return null;
    const { leaseMs } = this.deps;
    const claimNext =
      stopClaiming === undefined || stopClaiming.aborted ? undefined : { workerId: this.id, leaseMs };
    const result = await this.deps.store.commit(claim, outcome, claimNext);
    if (result.next !== undefined) {
      // Draining began while the commit was on its way: hand the item straight back.
      if (stopClaiming?.aborted !== false) await this.deps.store.release([result.next]);
      else this.next = result.next;
    }
    if (result.status !== "committed") {
      this.deps.log.info(
        { run: claim.item.runId, item: claim.item.id, node: claim.item.node, result: result.status },
        "step not committed",
      );
    }
    return result;
  }

  /** Loops until `stop` aborts; store errors are logged and retried with a capped backoff. */
  async runForever(stop: AbortSignal): Promise<void> {
    let failures = 0;
    while (!stop.aborted) {
      try {
        await this.runOnce(stop);
        failures = 0;
        this.deps.health?.succeeded("claim loop");
        this.deps.onIteration?.();
      } catch (error) {
        failures += 1;
        this.deps.onIteration?.();
        const delay = backoffDelayMs(LOOP_BACKOFF, failures);
        // A corrupt key fails every call until fixed: StoreHealth logs it once, not per retry.
        if (this.deps.health?.failed("claim loop", error) !== true)
          this.deps.log.error({ err: error, worker: this.id, retryInMs: delay }, "worker loop error");
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          stop.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
        });
      }
    }
    await this.releaseNext();
  }

  /** A claim taken by the last commit that the stopped loop will not run goes back to the queue. */
  private async releaseNext(): Promise<void> {
    const claim = this.next;
    this.next = null;
    if (claim === null) return;
    try {
      await this.deps.store.release([claim]);
    } catch (error) {
      // Not lost: the lease expires and the item is reclaimed (attempt + 1).
      this.deps.log.warn({ err: error, item: claim.item.id }, "releasing the next claim failed");
    }
  }
}
