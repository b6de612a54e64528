/**
 * The blocking claim of one workflow store. Every concurrent blocking `claim()` of a process
 * queues here; one loop serves them in order: it runs the claim function once for all the
 * waiters (one item each: the process's free concurrency, so nothing is leased ahead of a loop
 * that could run it) and, when nothing is ready, blocks in Redis (BZPOPMIN on the wake marker, on a dedicated
 * connection) until an enqueue wakes it, the next retry falls due, or the earliest waiter's
 * time is up. So an idle process sends two commands per block period, however many claim
 * loops it runs, and an enqueued item is claimed as soon as Redis hands over the marker.
 *
 * The marker is only a doorbell: items never leave Redis outside a lease (the claim script
 * moves them), so a worker dying between BZPOPMIN and the claim script loses nothing.
 */
import { FloxideError } from "../../sdk/index.ts";
import type { ClaimOptions } from "../contract.ts";
import type { Claim } from "../types.ts";
import type { RedisClient } from "./connection.ts";

export type ClaimAttempt =
  /** One claim per request, in request order, for the first requests (at least one). */
  | { readonly kind: "claimed"; readonly claims: readonly Claim[] }
  /** Nothing ready; `nextDueMs` is how soon the earliest retry falls due (null: none). */
  | { readonly kind: "empty"; readonly nextDueMs: number | null }
  /** Skipped many dead entries: try again at once. */
  | { readonly kind: "again" };

export interface ClaimerDeps {
  /** One run of the claim function, for up to one item per request (all with one lease length). */
  attempt(requests: readonly ClaimRequest[]): Promise<ClaimAttempt>;
  /** Gives back a claim nobody waits for any more (the store was closed meanwhile). */
  release(claim: Claim): Promise<void>;
  /** A new connection for blocking commands (never shared: BZPOPMIN holds it). */
  createBlocker(): RedisClient;
  readonly wakeKey: string;
}

export type ClaimRequest = Pick<ClaimOptions, "workerId" | "leaseMs">;

/** Most items one claim call leases (a process's waiting claim loops beyond it wait a call). */
export const MAX_CLAIM_BATCH = 64;

/** A blocking claim() waiting in a claimer's queue (this one's and partition-claimer.ts'). */
export interface Waiter {
  readonly options: ClaimOptions;
  deadline: number;
  resolve(claim: Claim | null): void;
  reject(error: unknown): void;
  detach(): void;
}

/**
 * Queues a blocking claim in `waiters`: its promise settles when the claimer settles the waiter.
 * An abort of its signal makes its deadline now (like the memory store: one last try, then null)
 * and calls `onAbort`, for the claimer to end its wait early.
 */
export function enqueueWaiter(
  waiters: Waiter[],
  options: ClaimOptions,
  onAbort: (waiter: Waiter) => void,
): Promise<Claim | null> {
  return new Promise<Claim | null>((resolve, reject) => {
    const aborted = (): void => {
      waiter.deadline = Date.now();
      onAbort(waiter);
    };
    const waiter: Waiter = {
      options,
      deadline: options.signal?.aborted === true ? Date.now() : Date.now() + options.blockMs,
      resolve,
      reject,
      detach: () => options.signal?.removeEventListener("abort", aborted),
    };
    options.signal?.addEventListener("abort", aborted, { once: true });
    waiters.push(waiter);
  });
}

/** Takes a waiter out of the queue and hands it its claim (or null). */
export function settleWaiter(waiters: Waiter[], waiter: Waiter, claim: Claim | null): void {
  const index = waiters.indexOf(waiter);
  if (index !== -1) waiters.splice(index, 1);
  waiter.detach();
  waiter.resolve(claim);
}

/** Extra time a blocking command may take past its own timeout before it is presumed stuck. */
export const STUCK_GRACE_MS = 2000;
/** How long an empty claim result stands in for a new claim call (see recentlyEmpty). */
export const RECENT_EMPTY_MS = 1000;

export class BlockingClaimer {
  private readonly deps: ClaimerDeps;
  private readonly waiters: Waiter[] = [];
  private pumping = false;
  private closed = false;
  private blocker: RedisClient | null = null;
  /** Set while blocked: when the block ends on its own, and how to end it early. */
  private blocked: { readonly until: number; interrupt(): void } | null = null;
  /** The last claim script run that found nothing, if no block has happened since. */
  private lastEmpty: { readonly at: number; readonly nextDueMs: number | null } | null = null;

  constructor(deps: ClaimerDeps) {
    this.deps = deps;
  }

  async claim(options: ClaimOptions): Promise<Claim | null> {
    if (this.closed) throw new FloxideError("StoreUnavailable", "the redis store is closed");
    if (options.blockMs <= 0) return this.claimNow(options);
    const claim = enqueueWaiter(this.waiters, options, (waiter) => this.interruptIfEarlier(waiter.deadline));
    const waiter = this.waiters.at(-1) as Waiter;
    if (this.pumping) this.interruptIfEarlier(waiter.deadline);
    else void this.pump();
    return claim;
  }

  /** A non-blocking claim bypasses the queue: it must not wait behind a blocked one. */
  private async claimNow(options: ClaimOptions): Promise<Claim | null> {
    while (true) {
      const result = await this.attemptFor([options]);
      if (result.kind === "claimed") return result.claims[0] ?? null;
      if (result.kind === "empty") return null;
    }
  }

  private settle(waiter: Waiter, claim: Claim | null): void {
    settleWaiter(this.waiters, waiter, claim);
  }

  private async attemptFor(requests: readonly ClaimRequest[]): Promise<ClaimAttempt> {
    const result = await this.deps.attempt(requests);
    this.lastEmpty = result.kind === "empty" ? { at: Date.now(), nextDueMs: result.nextDueMs } : null;
    return result;
  }

  /**
   * When the claim script just found nothing and no block has happened since, run it again
   * only after blocking: anything enqueued since then has set the wake marker, so BZPOPMIN
   * returns at once. This saves a script call per block period when every claim loop of the
   * process times out together and immediately claims again.
   */
  private recentlyEmpty(): ClaimAttempt | null {
    const last = this.lastEmpty;
    if (last === null || Date.now() - last.at > RECENT_EMPTY_MS) return null;
    const elapsed = Date.now() - last.at;
    return {
      kind: "empty",
      nextDueMs: last.nextDueMs === null ? null : Math.max(0, last.nextDueMs - elapsed),
    };
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.waiters.length > 0 && !this.closed) {
        // Every waiting loop of the process (up to the batch bound) in one call: the claim takes
        // at most the free concurrency, so it never leases what this process cannot start.
        const leaseMs = (this.waiters[0] as Waiter).options.leaseMs;
        const batch = this.waiters.filter((w) => w.options.leaseMs === leaseMs).slice(0, MAX_CLAIM_BATCH);
        const result = this.recentlyEmpty() ?? (await this.attemptFor(batch.map((w) => w.options)));
        if (result.kind === "claimed") {
          const spare: Claim[] = [];
          result.claims.forEach((claim, index) => {
            const waiter = batch[index];
            if (waiter !== undefined && this.waiters.includes(waiter)) this.settle(waiter, claim);
            else spare.push(claim);
          });
          // A waiter that left meanwhile (the store closed): its item goes back at once.
          for (const claim of spare) await this.deps.release(claim);
          continue;
        }
        if (result.kind === "again") continue;
        const now = Date.now();
        for (const waiter of [...this.waiters]) if (waiter.deadline <= now) this.settle(waiter, null);
        if (this.waiters.length === 0) break;
        const until = Math.min(...this.waiters.map((waiter) => waiter.deadline));
        if (await this.block(Math.min(until - now, result.nextDueMs ?? Infinity))) {
          // No marker came for the whole block: nothing was enqueued, the queue is still empty
          // (unless a retry fell due, which ended the block: then the script must run).
          const elapsed = Date.now() - now;
          const nextDueMs = result.nextDueMs === null ? null : result.nextDueMs - elapsed;
          if (nextDueMs === null || nextDueMs > 0) this.lastEmpty = { at: Date.now(), nextDueMs };
        }
      }
    } catch (error) {
      // The same Redis failure would hit every waiter: hand it to all (the engine backs off).
      for (const waiter of this.waiters.splice(0)) {
        waiter.detach();
        waiter.reject(error);
      }
    } finally {
      this.pumping = false;
    }
  }

  /**
   * Waits for the wake marker, at most `ms` (at least 1 ms: BZPOPMIN's 0 means forever). True
   * when the wait timed out with no marker (not interrupted, no error).
   */
  private async block(ms: number): Promise<boolean> {
    const timeoutMs = Math.max(1, Math.ceil(ms));
    this.blocker ??= this.deps.createBlocker();
    const blocker = this.blocker;
    let interrupted = false;
    const interrupt = (): void => {
      // Once: every waiter that arrives before the block ends asks again, and each disconnect
      // of the same connection would add a listener to its socket.
      if (interrupted) return;
      interrupted = true;
      // Disconnecting is the one way to end a blocking command at once; the marker stays.
      if (this.blocker === blocker) this.blocker = null;
      blocker.disconnect();
    };
    // A blocking command whose connection died can hang in ioredis' offline queue: give up on it.
    const stuck = setTimeout(interrupt, timeoutMs + STUCK_GRACE_MS);
    this.blocked = { until: Date.now() + timeoutMs, interrupt };
    try {
      const marker = await blocker.bzpopmin(this.deps.wakeKey, timeoutMs / 1000);
      return marker === null && !interrupted;
    } catch (error) {
      if (!interrupted) {
        interrupt();
        throw new FloxideError(
          "StoreUnavailable",
          `blocking wait failed: ${(error as Error).message}`,
          {},
          {
            cause: error,
          },
        );
      }
      return false;
    } finally {
      clearTimeout(stuck);
      this.blocked = null;
      this.lastEmpty = null; // the marker may have been taken: only the script knows now
    }
  }

  private interruptIfEarlier(deadline: number): void {
    if (this.blocked !== null && deadline < this.blocked.until) this.blocked.interrupt();
  }

  /** Ends every blocked claim (null) and drops the blocking connection. */
  close(): void {
    this.closed = true;
    this.blocked?.interrupt();
    for (const waiter of [...this.waiters]) this.settle(waiter, null);
    this.blocker?.disconnect();
    this.blocker = null;
  }
}
