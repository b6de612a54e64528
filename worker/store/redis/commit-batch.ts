/**
 * Batches the commits of one process: every commit asked for in the same event-loop tick (the
 * claim loops of a worker that finished their steps together) goes to Redis in one call of the
 * commit function, with one claim for all the next items they asked for. Each commit keeps its
 * own lease token and fencing: the function refuses a stale one alone and applies the others.
 */
import { FloxideError } from "../../sdk/index.ts";

type Arg = string | number;

/** Most commits one call carries. */
export const MAX_COMMIT_BATCH = 64;

export interface CommitEntry {
  /** commitArgs(): the entry's argument count, then its arguments. */
  readonly args: readonly Arg[];
  /** Claim an item for this worker after the batch (its token is fresh). */
  readonly next?: { readonly token: string; readonly workerId: string; readonly leaseMs: number };
}

export interface CommitReply {
  readonly status: string;
  readonly run: string;
  /** The item claimed for this entry's `next`: item JSON, deadline, run event sequence. */
  readonly next?: { readonly raw: string; readonly deadline: string; readonly contextSeq: string };
}

interface Pending {
  readonly entry: CommitEntry;
  resolve(reply: CommitReply): void;
  reject(error: unknown): void;
}

/** Sends one batch: the function's ARGV after base and retention. */
export type SendBatch = (args: Arg[]) => Promise<unknown>;

export class CommitBatcher {
  private readonly send: SendBatch;
  private readonly workflow: string;
  private queue: Pending[] = [];
  private scheduled = false;

  constructor(workflow: string, send: SendBatch) {
    this.workflow = workflow;
    this.send = send;
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
      for (let i = 0; i < group.length; i += MAX_COMMIT_BATCH) {
        void this.sendBatch(Math.max(leaseMs, 0), group.slice(i, i + MAX_COMMIT_BATCH));
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
      reply = await this.send(args);
    } catch (error) {
      for (const pending of batch) pending.reject(error);
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
    const claimed = new Map<string, CommitReply["next"]>();
    for (let i = batch.length * 2 + 2; i + 3 < reply.length; i += 4) {
      claimed.set(String(reply[i]), {
        raw: String(reply[i + 1]),
        deadline: String(reply[i + 2]),
        contextSeq: String(reply[i + 3]),
      });
    }
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
