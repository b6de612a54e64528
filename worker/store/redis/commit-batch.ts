/**
 * Batches the commits of one process: every commit asked for in the same event-loop tick (the
 * claim loops of a worker that finished their steps together) goes to Redis in one call of the
 * commit function, with one claim for all the next items they asked for; and while two calls are
 * in flight, the commits asked for meanwhile wait for one of them to return and then go out
 * together. Each commit keeps its own lease token and fencing: the function refuses a stale one
 * alone and applies the others.
 */
import { FloxideError } from "../../sdk/index.ts";
import { unconfirmedReply } from "./replicated-call.ts";

type Arg = string | number;

/** Most commits one call carries. */
export const MAX_COMMIT_BATCH = 64;

/**
 * Most commit calls one process keeps in flight (durability replicated: no limit, see below).
 * Two, so the loops of one reply run their steps while Redis commits the other call; the commits
 * asked for while both are out wait for the first to return and then go out in one call. Without
 * the limit a tick's few commits went out at once, in calls of 4.3 steps on average (noop1, one
 * worker, concurrency 16); with it, 7.9: Redis's cost a call (the function's start, the lease and
 * metric commands, the claim's reads) is shared by twice as many steps (Redis instructions a step
 * -10 %).
 */
const MAX_CALLS_IN_FLIGHT = 2;

/**
 * The size of the calls `count` waiting commits go out in: two halves from 4 commits up when
 * both of the process's calls are free. One call for all would keep the process and Redis taking
 * turns (the loops all wait for the same reply, then all run their next step while Redis idles);
 * with two calls in flight the loops of the first reply run their steps while Redis commits the
 * second. Measured on noop1, one worker, concurrency 16: +27 % steps/s (3 alternating pairs, 2
 * cores); four calls gained less. `whole` (one call free, or durability replicated): one call;
 * replicated, each call's WAIT holds the connection until a replica answers, so a second call
 * would only queue behind it.
 */
export function batchSize(count: number, whole = false): number {
  return Math.min(MAX_COMMIT_BATCH, count >= 4 && !whole ? Math.ceil(count / 2) : count);
}

export interface CommitEntry {
  /** commitArgs(): the entry's argument count, then its arguments. */
  readonly args: readonly Arg[];
  /** When the commit's lease ends (ms since the epoch): a replicated commit waits no longer. */
  readonly deadline: number;
  /** Claim an item for this worker after the batch (its token is fresh). */
  readonly next?: { readonly token: string; readonly workerId: string; readonly leaseMs: number };
}

export interface CommitReply {
  readonly status: string;
  readonly run: string;
  /** The item claimed for this entry's `next`: item JSON, deadline, run event sequence. */
  readonly next?: { readonly raw: string; readonly deadline: string; readonly contextSeq: string };
}

/** The items a commit call claimed for its entries' `next`, by lease token (after n statuses). */
export function claimedItems(reply: readonly unknown[], commits: number): Map<string, CommitReply["next"]> {
  const claimed = new Map<string, CommitReply["next"]>();
  for (let i = commits * 2 + 2; i + 3 < reply.length; i += 4) {
    claimed.set(String(reply[i]), {
      raw: String(reply[i + 1]),
      deadline: String(reply[i + 2]),
      contextSeq: String(reply[i + 3]),
    });
  }
  return claimed;
}

interface Pending {
  readonly entry: CommitEntry;
  resolve(reply: CommitReply): void;
  reject(error: unknown): void;
}

const leaseOf = (pending: Pending): number => pending.entry.next?.leaseMs ?? -1;

/**
 * Sends one batch: the function's ARGV after base and retention, and the earliest lease end of
 * its commits (the replicated durability confirms the whole call with one WAIT before it).
 */
export type SendBatch = (args: Arg[], deadline: number) => Promise<unknown>;

export class CommitBatcher {
  private readonly send: SendBatch;
  private readonly workflow: string;
  private queue: Pending[] = [];
  private scheduled = false;
  /** Calls sent and not yet answered. */
  private inFlight = 0;

  /** One call per tick instead of two halves (batchSize), and no limit on calls in flight. */
  private readonly whole: boolean;

  constructor(workflow: string, send: SendBatch, options: { whole?: boolean } = {}) {
    this.workflow = workflow;
    this.send = send;
    this.whole = options.whole === true;
  }

  commit(entry: CommitEntry): Promise<CommitReply> {
    return new Promise<CommitReply>((resolve, reject) => {
      this.queue.push({ entry, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // After every step that finishes in this tick has asked (their promise callbacks run first).
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    while (this.queue.length > 0 && (this.whole || this.inFlight < MAX_CALLS_IN_FLIGHT)) {
      // One call per lease length asked for (in practice one: a pool's loops share it).
      const leaseMs = leaseOf(this.queue[0] as Pending);
      const group = this.queue.filter((pending) => leaseOf(pending) === leaseMs);
      this.queue = this.queue.filter((pending) => leaseOf(pending) !== leaseMs);
      const size = batchSize(group.length, this.whole || this.inFlight > 0);
      for (let i = 0; i < group.length; i += size) {
        this.inFlight += 1;
        void this.sendBatch(Math.max(leaseMs, 0), group.slice(i, i + size)).finally(() => {
          this.inFlight -= 1;
          // The commits that waited for this call (unless a flush of this tick will send them).
          if (!this.scheduled) this.flush();
        });
      }
    }
  }

  private async sendBatch(leaseMs: number, batch: readonly Pending[]): Promise<void> {
    const args: Arg[] = [this.workflow, batch.length];
    for (const { entry } of batch) for (const arg of entry.args) args.push(arg);
    args.push(leaseMs);
    for (const { entry } of batch)
      if (entry.next !== undefined) args.push(entry.next.token, entry.next.workerId);
    let reply: unknown;
    try {
      reply = await this.send(args, Math.min(...batch.map(({ entry }) => entry.deadline)));
    } catch (error) {
      const unconfirmed = unconfirmedReply(error);
      const claimed = unconfirmed === undefined ? undefined : claimedItems(unconfirmed, batch.length);
      for (const pending of batch) {
        const token = pending.entry.next?.token;
        const next = token === undefined ? undefined : claimed?.get(token);
        // Each entry learns the item the call claimed for it, to hand it back (store.ts).
        pending.reject(
          next === undefined || !(error instanceof FloxideError)
            ? error
            : new FloxideError(error.code, error.message, { ...error.details, next }, { cause: error }),
        );
      }
      return;
    }
    if (!Array.isArray(reply) || reply.length < batch.length * 2 + 2) {
      const error = new FloxideError(
        "StoreUnavailable",
        `unexpected reply from redis function 'commit': ${JSON.stringify(reply)}`,
      );
      for (const pending of batch) pending.reject(error);
      return;
    }
    const claimed = claimedItems(reply, batch.length);
    batch.forEach((pending, index) => {
      const status = String(reply[2 * index]);
      const run = String(reply[2 * index + 1]);
      if (status === "error") {
        // `CORRUPT key ...`: a key this commit would write is of the wrong type (StoreHealth).
        const corrupt = /^CORRUPT (.*)$/.exec(run)?.[1];
        pending.reject(
          new FloxideError(
            "StoreUnavailable",
            `redis function 'commit' refused: ${run}`,
            corrupt === undefined ? { script: "commit" } : { script: "commit", corrupt },
          ),
        );
        return;
      }
      const token = pending.entry.next?.token;
      const next = token === undefined ? undefined : claimed.get(token);
      pending.resolve(next === undefined ? { status, run } : { status, run, next });
    });
  }
}
