// Reads the backlog (queue depth, per workflow version, summed over the workflow's partitions) and
// the worker liveness of many workflows from Redis: one round trip per Redis node per poll (one
// read-only read-depth call per partition, all sent at once), over one pooled connection per
// endpoint. The operator reads through the store's read-only readers (worker/store: depth,
// liveness by the Redis clock); the only store functions it runs besides read-depth are its two
// idempotent writes of versions (VersionWriter: the rollout, forgetting a retired version);
// never the others (list-workers would also prune).
import type { RedisOptions } from "ioredis";
import { backoffDelayMs, type Backoff } from "../../common/backoff.ts";
import {
  createRedisClient,
  describeRedisConnection,
  forgetVersionWith,
  readWorkerLiveness,
  readWorkflowVersionsOrErrors,
  totalDepth,
  writeRolloutWith,
  type QueueDepth,
  type RedisClient,
  type RedisConnectionOptions,
  type RolloutRequest,
  type WorkerLiveness,
  type WorkflowVersions,
} from "../../worker/store/index.ts";

export interface BacklogTarget {
  /** namespace/name of the WorkflowDeployment. */
  readonly key: string;
  readonly workflow: string;
  readonly prefix: string;
  /** The workflow's partitions (spec.partitions): the backlog is their sum. */
  readonly partitions: number;
  readonly connection: RedisConnectionOptions;
}

export type BacklogReading =
  | {
      readonly ok: true;
      /** The sum over the workflow's versions. */
      readonly depth: QueueDepth;
      readonly workers: readonly WorkerLiveness[];
      /** The rollout state and each version's backlog (runs are pinned to their version). */
      readonly versions: WorkflowVersions;
    }
  | {
      readonly ok: false;
      readonly error: string;
      /** Why, when Redis answered: PartitionMismatch (another partition count is recorded). */
      readonly reason?: string;
    };

export interface BacklogReader {
  read(targets: readonly BacklogTarget[]): Promise<Map<string, BacklogReading>>;
  close(): Promise<void>;
}

/**
 * The operator's two writes to Redis, both idempotent store functions: the rollout (which version
 * new runs are pinned to) and forgetting a retired version.
 */
export interface VersionWriter {
  writeRollout(target: BacklogTarget, request: RolloutRequest): Promise<void>;
  forgetVersion(target: BacklogTarget, version: string): Promise<boolean>;
}

export interface RedisBacklogReaderOptions {
  /** Per-poll deadline for one endpoint (default 3 s). */
  readonly timeoutMs?: number;
  /** Close a pooled connection unused this long (default 10 min). */
  readonly idleCloseMs?: number;
  /** Told about connection errors (ioredis emits them while it reconnects). */
  readonly onConnectionError?: (endpoint: string, error: Error) => void;
}

/** Reconnects to a Redis that went away: 250 ms more per attempt, at most 5 s apart. */
const RECONNECT: Backoff = { growth: "linear", initialMs: 250, maxMs: 5_000 };

const endpointKey = (connection: RedisConnectionOptions): string =>
  JSON.stringify(Object.entries(connection).sort(([a], [b]) => a.localeCompare(b)));

export class RedisBacklogReader implements BacklogReader, VersionWriter {
  private readonly pool = new Map<string, { client: RedisClient; lastUsed: number; name: string }>();
  private readonly timeoutMs: number;
  private readonly idleCloseMs: number;

  private readonly options: RedisBacklogReaderOptions;

  constructor(options: RedisBacklogReaderOptions = {}) {
    this.options = options;
    this.timeoutMs = options.timeoutMs ?? 3_000;
    this.idleCloseMs = options.idleCloseMs ?? 600_000;
  }

  async read(targets: readonly BacklogTarget[]): Promise<Map<string, BacklogReading>> {
    const groups = new Map<string, BacklogTarget[]>();
    for (const target of targets) {
      const key = endpointKey(target.connection);
      groups.set(key, [...(groups.get(key) ?? []), target]);
    }
    const results = new Map<string, BacklogReading>();
    await Promise.all(
      [...groups].map(async ([key, group]) => {
        for (const [targetKey, reading] of await this.readEndpoint(key, group))
          results.set(targetKey, reading);
      }),
    );
    this.closeIdle();
    return results;
  }

  async writeRollout(target: BacklogTarget, request: RolloutRequest): Promise<void> {
    const client = this.client(endpointKey(target.connection), target.connection);
    await writeRolloutWith(client, target.workflow, request, target.prefix, target.partitions);
  }

  async forgetVersion(target: BacklogTarget, version: string): Promise<boolean> {
    const client = this.client(endpointKey(target.connection), target.connection);
    return forgetVersionWith(client, target.workflow, version, target.prefix, target.partitions);
  }

  async close(): Promise<void> {
    const clients = [...this.pool.values()];
    this.pool.clear();
    await Promise.all(clients.map(({ client }) => client.quit().catch(() => client.disconnect())));
  }

  private client(key: string, connection: RedisConnectionOptions): RedisClient {
    const pooled = this.pool.get(key);
    if (pooled) {
      pooled.lastUsed = Date.now();
      return pooled.client;
    }
    const overrides: RedisOptions = {
      // Fail a poll fast when Redis is down: the policy then keeps the replicas.
      maxRetriesPerRequest: 1,
      connectTimeout: this.timeoutMs,
      retryStrategy: (attempt) => backoffDelayMs(RECONNECT, attempt),
      connectionName: "floxide-operator",
    };
    const client = createRedisClient({ ...connection, connectionName: "floxide-operator" }, overrides);
    const name = describeRedisConnection(connection);
    client.on("error", (error: Error) => this.options.onConnectionError?.(name, error));
    this.pool.set(key, { client, lastUsed: Date.now(), name });
    return client;
  }

  private async readEndpoint(
    key: string,
    targets: readonly BacklogTarget[],
  ): Promise<Map<string, BacklogReading>> {
    const out = new Map<string, BacklogReading>();
    let client: RedisClient;
    try {
      client = this.client(key, targets[0]!.connection);
    } catch (error) {
      for (const target of targets) out.set(target.key, { ok: false, error: (error as Error).message });
      return out;
    }
    // By prefix and partition count: two WorkflowDeployments may name one workflow differently.
    const byPrefix = new Map<string, { prefix: string; partitions: number; workflows: string[] }>();
    for (const target of targets) {
      const group = `${target.partitions}:${target.prefix}`;
      const found = byPrefix.get(group) ?? {
        prefix: target.prefix,
        partitions: target.partitions,
        workflows: [],
      };
      found.workflows.push(target.workflow);
      byPrefix.set(group, found);
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      // All commands are written before any reply is awaited: the depth reads of every partition
      // on one node share its pipelines (depth.ts).
      const depthReads = [...byPrefix.values()].map(async ({ prefix, partitions, workflows }) => ({
        prefix,
        partitions,
        depths: await readWorkflowVersionsOrErrors(client, workflows, { prefix, partitions }),
      }));
      const workerReads = targets.map(async (target) => ({
        target,
        liveness: await readWorkerLiveness(client, target.workflow, target.prefix),
      }));
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      });
      const all = Promise.all([Promise.all(depthReads), Promise.all(workerReads)]);
      // Replies after the deadline are dropped, their errors too.
      all.catch(() => undefined);
      const [depths, workers] = await Promise.race([all, deadline]);
      for (const target of targets) {
        const found = depths
          .find((entry) => entry.prefix === target.prefix && entry.partitions === target.partitions)
          ?.depths.get(target.workflow);
        const liveness = workers.find((entry) => entry.target.key === target.key)?.liveness;
        // A malformed liveness entry is a worker we cannot rank: it keeps the default deletion cost.
        if (found instanceof Error) {
          // Another partition count recorded in Redis: the message names both and what to do.
          out.set(target.key, { ok: false, error: found.message, reason: "PartitionMismatch" });
        } else if (found) {
          const versions = { rollout: found.rollout, versions: found.versions };
          out.set(target.key, {
            ok: true,
            depth: totalDepth(found),
            workers: liveness?.workers ?? [],
            versions,
          });
        }
      }
    } catch (error) {
      const message = `Redis ${this.pool.get(key)?.name ?? ""}: ${(error as Error).message}`;
      for (const target of targets) out.set(target.key, { ok: false, error: message });
    } finally {
      clearTimeout(timer);
    }
    return out;
  }

  private closeIdle(): void {
    const now = Date.now();
    for (const [key, pooled] of this.pool) {
      if (now - pooled.lastUsed < this.idleCloseMs) continue;
      this.pool.delete(key);
      pooled.client.disconnect();
    }
  }
}
