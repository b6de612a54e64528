/**
 * The blocking claim of a workflow of P > 1 partitions (keys.ts). Like claimer.ts, every waiting
 * `claim()` of the process queues here and one loop serves them: it SWEEPS the partitions in
 * round-robin order from a cursor, one claim function call per partition for all the waiters,
 * until one returns items.
 *
 * The process works one partition at a time: the cursor's partition has the TURN. Every claim
 * loop of the process chains its steps there (commit and claim next, partitioned-store.ts), so a
 * tick's commits go to Redis in one partition's calls, as big as on a workflow of one partition;
 * spread over all P at once, each call would carry a P-th of the batch and its fixed work would
 * be paid per few steps (measured on a 3-master cluster, P = 6: 140-163 % of the standalone
 * Redis CPU per step). A turn lasts CLAIM_QUANTUM chained steps per item the turn claimed, then
 * the cursor moves on, so no partition starves: one with items gets a turn at least every P turns.
 * Each process starts at a random partition, so the processes of a workflow spread over them.
 *
 * When nothing is ready it waits for a DOORBELL: one watcher per partition blocks in Redis
 * (BZPOPMIN on the partition's wake marker, a dedicated connection each: Cluster refuses a
 * blocking command across slots) and rings when a marker comes. A partition that answered
 * "empty" is skipped by the next sweeps until its doorbell rings, a retry in it falls due, or
 * RECENT_EMPTY_MS passes without a wait that confirms it; a wait that times out with no ring
 * confirms every one (a marker set since the sweep would have rung). So an idle process sends
 * one BZPOPMIN per partition per block period and no claim call, and an enqueued item is claimed
 * as soon as its partition's watcher gets the marker. Watchers are never interrupted (no
 * reconnects): they end on their own when their block ends with nobody waiting.
 */
import { FloxideError } from "../../sdk/index.ts";
import type { ClaimOptions } from "../contract.ts";
import type { Claim } from "../types.ts";
import {
  enqueueWaiter,
  MAX_CLAIM_BATCH,
  RECENT_EMPTY_MS,
  settleWaiter,
  STUCK_GRACE_MS,
  type ClaimAttempt,
  type ClaimRequest,
  type Waiter,
} from "./claimer.ts";

/**
 * Chained steps a partition's turn lasts per item claimed in it (for one claim loop, this many
 * steps before its partition's turn ends): a busy partition cannot hold a process while others
 * wait, and a turn costs about one extra claim call per loop.
 */
export const CLAIM_QUANTUM = 16;
import type { RedisClient } from "./connection.ts";

export interface PartitionClaimerDeps {
  readonly partitions: number;
  /** One run of partition `partition`'s claim function, for up to one item per request. */
  attempt(partition: number, requests: readonly ClaimRequest[]): Promise<ClaimAttempt>;
  /** Gives back a claim nobody waits for any more (the store was closed meanwhile). */
  release(claim: Claim): Promise<void>;
  /** A new connection for one partition's blocking commands. */
  createBlocker(): RedisClient;
  /** The wake marker key of a partition (its queue's, claimer.ts). */
  wakeKey(partition: number): string;
}

interface KnownEmpty {
  /** When the partition was last seen or confirmed empty. */
  at: number;
  /** When its earliest retry falls due (Infinity: none). */
  readonly due: number;
}

export class PartitionClaimer {
  private readonly deps: PartitionClaimerDeps;
  private readonly waiters: Waiter[] = [];
  private pumping = false;
  private closed = false;
  /** The partition that has the turn: chained claims stay in it, the next sweep starts at it. */
  private cursor: number;
  /** Chained claims the turn has left (CLAIM_QUANTUM per item claimed in it). */
  private budget = 0;
  private readonly empty = new Map<number, KnownEmpty>();
  private readonly blockers: (RedisClient | null)[];
  private readonly watching: boolean[];
  /** Doorbell rings per partition so far. */
  private readonly rings: number[];
  private totalRings = 0;
  /** Ends the pump's current wait (a ring, a new earlier deadline, a failure, close). */
  private nudge: ((rang: boolean) => void) | null = null;
  private failure: Error | null = null;

  constructor(deps: PartitionClaimerDeps) {
    this.deps = deps;
    this.cursor = Math.floor(Math.random() * deps.partitions);
    this.blockers = Array.from({ length: deps.partitions }, () => null);
    this.watching = Array.from({ length: deps.partitions }, () => false);
    this.rings = Array.from({ length: deps.partitions }, () => 0);
  }

  async claim(options: ClaimOptions): Promise<Claim | null> {
    if (this.closed) throw new FloxideError("StoreUnavailable", "the redis store is closed");
    if (options.blockMs <= 0) return this.claimNow(options);
    const claim = enqueueWaiter(this.waiters, options, () => this.nudge?.(false));
    if (this.pumping) this.nudge?.(false);
    else void this.pump();
    return claim;
  }

  /**
   * Whether a step committed in `partition` claims its loop's next item there (true while the
   * partition has the turn and the turn has chained claims left). The turn's end moves the
   * cursor on: the loops' next claims sweep from the next partition.
   */
  chain(partition: number): boolean {
    if (partition !== this.cursor) return false;
    if (this.budget > 0) {
      this.budget -= 1;
      return true;
    }
    this.cursor = (partition + 1) % this.deps.partitions;
    return false;
  }

  /** `claims` items came from `partition`: it has (or keeps) the turn, CLAIM_QUANTUM steps each. */
  private took(partition: number, claims: number): void {
    if (partition !== this.cursor) {
      this.cursor = partition;
      this.budget = 0;
    }
    this.budget += CLAIM_QUANTUM * claims;
  }

  /** A non-blocking claim sweeps every partition (an enqueue since may not have rung yet). */
  private async claimNow(options: ClaimOptions): Promise<Claim | null> {
    for (let k = 0; k < this.deps.partitions; k += 1) {
      const partition = (this.cursor + k) % this.deps.partitions;
      const result = await this.attempt(partition, [options]);
      if (result.kind === "claimed") {
        this.took(partition, result.claims.length);
        return result.claims[0] ?? null;
      }
    }
    return null;
  }

  /** One partition's claim call, repeated while it skipped dead entries; records an empty answer. */
  private async attempt(partition: number, requests: readonly ClaimRequest[]): Promise<ClaimAttempt> {
    while (true) {
      const rings = this.rings[partition];
      const result = await this.deps.attempt(partition, requests);
      if (result.kind === "again") continue;
      // A ring during the call may be an enqueue the call did not see: then it proves nothing.
      if (result.kind === "empty" && rings === this.rings[partition]) {
        const now = Date.now();
        this.empty.set(partition, {
          at: now,
          due: result.nextDueMs === null ? Infinity : now + result.nextDueMs,
        });
      } else this.empty.delete(partition);
      return result;
    }
  }

  private knownEmpty(partition: number, now: number): boolean {
    const known = this.empty.get(partition);
    return known !== undefined && now - known.at <= RECENT_EMPTY_MS && now < known.due;
  }

  private settle(waiter: Waiter, claim: Claim | null): void {
    settleWaiter(this.waiters, waiter, claim);
  }

  /** Sweeps from the cursor; true when some waiters got items. */
  private async sweep(): Promise<boolean> {
    const { partitions } = this.deps;
    const leaseMs = (this.waiters[0] as Waiter).options.leaseMs;
    const batch = this.waiters.filter((w) => w.options.leaseMs === leaseMs).slice(0, MAX_CLAIM_BATCH);
    for (let k = 0; k < partitions; k += 1) {
      const partition = (this.cursor + k) % partitions;
      if (this.knownEmpty(partition, Date.now())) continue;
      const result = await this.attempt(
        partition,
        batch.map((w) => w.options),
      );
      if (result.kind !== "claimed") continue;
      this.took(partition, result.claims.length);
      const spare: Claim[] = [];
      result.claims.forEach((claim, index) => {
        const waiter = batch[index];
        if (waiter !== undefined && this.waiters.includes(waiter)) this.settle(waiter, claim);
        else spare.push(claim);
      });
      for (const claim of spare) await this.deps.release(claim);
      return true;
    }
    return false;
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.waiters.length > 0 && !this.closed) {
        const ringsBefore = this.totalRings;
        if (await this.sweep()) continue;
        const now = Date.now();
        for (const waiter of [...this.waiters]) if (waiter.deadline <= now) this.settle(waiter, null);
        if (this.waiters.length === 0) break;
        // A ring during the sweep (no wait was listening): sweep again rather than wait.
        if (this.totalRings !== ringsBefore) continue;
        const until = Math.min(
          ...this.waiters.map((waiter) => waiter.deadline),
          ...[...this.empty.values()].map((known) => known.due),
        );
        const rang = await this.wait(until - now);
        if (this.failure !== null) throw this.failure;
        // A whole wait without a ring: no marker was set since the partitions answered empty.
        if (!rang && Date.now() >= until) {
          const at = Date.now();
          for (const known of this.empty.values()) known.at = at;
        }
      }
    } catch (error) {
      for (const waiter of this.waiters.splice(0)) {
        waiter.detach();
        waiter.reject(error);
      }
    } finally {
      this.failure = null;
      this.pumping = false;
    }
  }

  /** Waits up to `ms` for a doorbell (true) or a nudge (false), with every watcher running. */
  private wait(ms: number): Promise<boolean> {
    for (let partition = 0; partition < this.deps.partitions; partition += 1) this.watch(partition);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => done(false), Math.max(1, ms));
      const done = (rang: boolean): void => {
        clearTimeout(timer);
        this.nudge = null;
        resolve(rang);
      };
      this.nudge = done;
    });
  }

  private ring(partition: number): void {
    this.rings[partition] = (this.rings[partition] ?? 0) + 1;
    this.totalRings += 1;
    this.empty.delete(partition);
    this.nudge?.(true);
  }

  /** The doorbell of one partition: blocks on its marker while anybody waits. */
  private watch(partition: number): void {
    if (this.watching[partition] === true || this.closed) return;
    this.watching[partition] = true;
    void (async () => {
      try {
        while (!this.closed && this.waiters.length > 0) {
          const ms = Math.min(...this.waiters.map((waiter) => waiter.deadline)) - Date.now();
          if (await this.blockOn(partition, Math.max(1, Math.ceil(ms)))) this.ring(partition);
        }
      } catch (error) {
        this.failure ??= new FloxideError(
          "StoreUnavailable",
          `blocking wait failed: ${(error as Error).message}`,
          {},
          { cause: error },
        );
        this.nudge?.(false);
      } finally {
        this.watching[partition] = false;
      }
    })();
  }

  /** BZPOPMIN on the partition's marker; true when a marker came. */
  private async blockOn(partition: number, timeoutMs: number): Promise<boolean> {
    const blocker = (this.blockers[partition] ??= this.deps.createBlocker());
    // A blocking command whose connection died can hang in ioredis' offline queue: give up on it
    // (the next block opens a new connection).
    let stuck = false;
    const timer = setTimeout(() => {
      stuck = true;
      this.drop(partition);
    }, timeoutMs + STUCK_GRACE_MS);
    try {
      return (await blocker.bzpopmin(this.deps.wakeKey(partition), timeoutMs / 1000)) !== null;
    } catch (error) {
      if (this.closed || stuck) return false;
      this.drop(partition);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  private drop(partition: number): void {
    this.blockers[partition]?.disconnect();
    this.blockers[partition] = null;
  }

  /** Ends every blocked claim (null) and drops the blocking connections. */
  close(): void {
    this.closed = true;
    for (const waiter of [...this.waiters]) this.settle(waiter, null);
    this.nudge?.(false);
    for (let partition = 0; partition < this.deps.partitions; partition += 1) this.drop(partition);
  }
}
