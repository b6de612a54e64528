/**
 * Batches the commits of one process: every commit asked for in the same event-loop tick (the
 * claim loops of a worker that finished their steps together) goes to Redis in one call of the
 * commit function, with one claim for all the next items they asked for. Each commit keeps its
 * own lease token and fencing: the function refuses a stale one alone and applies the others.
 */
import { FloxideError } from "../../sdk/index.ts";
import { unconfirmedReply } from "./replicated-call.ts";

type Arg = string | number;

/** Most commits one call carries. */
export const MAX_COMMIT_BATCH = 64;

/**
 * The size of the calls a tick's `count` commits go out in: two halves from 4 commits up. One
 * call for all would keep the process and Redis taking turns (the loops all wait for the same
 * reply, then all run their next step while Redis idles); with two calls in flight the loops of
 * the first reply run their steps while Redis commits the second. Measured on noop1, one worker,
 * concurrency 16: +27 % steps/s (3 alternating pairs, 2 cores); four calls gained less.
 * `whole` (durability replicated): one call, since each call's WAIT holds the connection until
 * a replica answers, so a second call would only queue behind it.
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

  /** One call per tick instead of two halves (batchSize). */
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
    const queue = this.queue;
    this.queue = [];
    // One call per lease length asked for (in practice one: a pool's loops share it).
    const groups = new Map<number, Pending[]>();
    for (const pending of queue) {
      const key = pending.entry.next?.leaseMs ?? -1;
      const group = groups.get(key) ?? [];
      group.push(pending);
      groups.set(key, group);
    }
    for (const [leaseMs, group] of groups) {
      const size = batchSize(group.length, this.whole);
      for (let i = 0; i < group.length; i += size) {
        void this.sendBatch(Math.max(leaseMs, 0), group.slice(i, i + size));
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
