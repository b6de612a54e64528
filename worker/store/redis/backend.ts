/**
 * The Redis StoreBackend: one client shared by every workflow store of the process, plus one
 * blocking connection per store that is waiting for work (see claimer.ts).
 */
import { Cluster, Redis } from "ioredis";
import { DURABILITIES, type Durability } from "../../../contract/index.ts";
import { FloxideError } from "../../sdk/index.ts";
import type { BackendOptions, StoreBackend } from "../contract.ts";
import {
  createRedisClient,
  describeRedisConnection,
  resolveRedisConnection,
  type RedisClient,
  type RedisConnectionOptions,
} from "./connection.ts";
import { DEFAULT_VERSION } from "../versions.ts";
import { checkPartitions, DEFAULT_PREFIX, WorkflowKeys } from "./keys.ts";
import { PartitionedRedisStore } from "./partitioned-store.ts";
import { RedisWorkflowStore } from "./store.ts";

export interface RedisBackendOptions extends BackendOptions {
  /** Where Redis is (URL or options). Ignored when `client` is given. */
  readonly connection?: RedisConnectionOptions | string;
  /** An existing client to use; the backend then leaves closing it to its owner. */
  readonly client?: RedisClient;
  /** First part of every key's hash tag: `{<keyPrefix>:<workflow>}` (default `floxide`). */
  readonly keyPrefix?: string;
  /** After one worker sweeps expired leases, the others skip sweeping this long (default 1 s). */
  readonly reclaimGuardMs?: number;
  /** Expired leases handled per sweep (default 500). */
  readonly reclaimBatch?: number;
  /** When a commit counts (default `fast`; see the worker option `durability`). */
  readonly durability?: Durability;
  /**
   * The partitions of every workflow this backend opens (keys.ts; default 1). Fixed once a
   * workflow's keys exist: a store configured with another count refuses its first call.
   */
  readonly partitions?: number;
}

const DAY_MS = 24 * 3600_000;

function positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new FloxideError("InvalidConfig", `${name} must be a positive number (got ${value})`);
  }
  return value;
}

export class RedisBackend implements StoreBackend {
  readonly kind = "redis" as const;
  /** Where the backend is connected, without secrets (for logs). */
  readonly description: string;
  private readonly client: RedisClient;
  private readonly ownsClient: boolean;
  private readonly prefix: string;
  private readonly retentionMs: number;
  private readonly reclaimGuardMs: number;
  private readonly reclaimBatch: number;
  private readonly durability: Durability;
  private readonly partitions: number;
  private readonly stores = new Map<string, RedisWorkflowStore | PartitionedRedisStore>();
  private lastError: Error | undefined;
  /** Connections the client made so far: a reconnect may meet a server that lost writes. */
  private connections = 0;
  private readonly countConnection = (): void => {
    this.connections += 1;
  };

  constructor(options: RedisBackendOptions) {
    this.prefix = options.keyPrefix ?? DEFAULT_PREFIX;
    new WorkflowKeys("check", this.prefix); // validates the prefix now rather than on first use
    this.retentionMs = Math.round(positive(options.retentionMs ?? DAY_MS, "retentionMs"));
    this.reclaimGuardMs = Math.round(positive(options.reclaimGuardMs ?? 1000, "reclaimGuardMs"));
    this.reclaimBatch = Math.round(positive(options.reclaimBatch ?? 500, "reclaimBatch"));
    this.durability = options.durability ?? "fast";
    if (!DURABILITIES.includes(this.durability)) {
      throw new FloxideError(
        "InvalidConfig",
        `durability must be one of ${DURABILITIES.join(", ")} (got ${JSON.stringify(this.durability)})`,
      );
    }
    this.partitions = checkPartitions(options.partitions ?? 1);
    if (options.client !== undefined) {
      this.client = options.client;
      this.ownsClient = false;
      this.description = "redis (client given by the caller)";
    } else {
      if (options.connection === undefined) {
        throw new FloxideError(
          "InvalidConfig",
          "the redis backend needs `connection` (a URL or options) or `client`",
        );
      }
      const resolved = resolveRedisConnection(options.connection);
      this.description = describeRedisConnection(resolved);
      this.client = createRedisClient(resolved);
      this.ownsClient = true;
      // ioredis reports connection errors as events; commands fail on their own. Keep the last
      // one for ping() instead of letting ioredis print "Unhandled error event".
      this.client.on("error", (error: Error) => {
        this.lastError = error;
      });
    }
    // A cluster client connects per node ("+node"); a standalone or Sentinel client emits "connect".
    this.client.on("connect", this.countConnection);
    this.client.on("+node", this.countConnection);
  }

  forWorkflow(
    workflow: string,
    version: string = DEFAULT_VERSION,
  ): RedisWorkflowStore | PartitionedRedisStore {
    const id = `${workflow}\n${version}`;
    let store = this.stores.get(id);
    if (store === undefined) {
      store =
        this.partitions === 1 ? this.partition(workflow, version, 0) : this.partitioned(workflow, version);
      this.stores.set(id, store);
    }
    return store;
  }

  /** The store of one partition; partitions after 0 check their layout after partition 0's. */
  private partition(
    workflow: string,
    version: string,
    partition: number,
    first?: RedisWorkflowStore,
  ): RedisWorkflowStore {
    return new RedisWorkflowStore({
      client: this.client,
      keys: new WorkflowKeys(workflow, this.prefix, version, partition, this.partitions),
      retentionMs: this.retentionMs,
      reclaimGuardMs: this.reclaimGuardMs,
      reclaimBatch: this.reclaimBatch,
      durability: this.durability,
      createBlocker: () => this.createBlocker(),
      connectionEpoch: () => this.connections,
      partitions: this.partitions,
      ...(first === undefined ? {} : { checkFirst: () => first.checkLayout() }),
    });
  }

  private partitioned(workflow: string, version: string): PartitionedRedisStore {
    const first = this.partition(workflow, version, 0);
    const parts = [first];
    for (let partition = 1; partition < this.partitions; partition += 1) {
      parts.push(this.partition(workflow, version, partition, first));
    }
    return new PartitionedRedisStore({
      parts,
      client: this.client,
      prefix: this.prefix,
      createBlocker: () => this.createBlocker(),
      connectionEpoch: () => this.connections,
    });
  }

  /** A connection of its own for BZPOPMIN; it never gives up a blocked command on retries. */
  private createBlocker(): RedisClient {
    const blocker =
      this.client instanceof Cluster
        ? this.client.duplicate()
        : (this.client as Redis).duplicate({ maxRetriesPerRequest: null });
    blocker.on("error", (error: Error) => {
      this.lastError = error;
    });
    return blocker;
  }

  /**
   * Answers within `timeoutMs` either way (it backs /readyz): waits for a connection that is
   * still being (re-)established instead of queueing a PING behind ioredis' retries.
   */
  async ping(timeoutMs = 1000): Promise<void> {
    const client = this.client;
    let timer: NodeJS.Timeout | undefined;
    let onReady: (() => void) | undefined;
    try {
      if (client.status === "end") throw new Error("the connection is closed");
      const ready =
        client.status === "ready"
          ? Promise.resolve()
          : new Promise<void>((resolve) => {
              onReady = resolve;
              client.once("ready", resolve);
            });
      await Promise.race([
        ready.then(() => client.ping()),
        new Promise((_resolve, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (error) {
      const last = this.lastError === undefined ? "" : ` (last connection error: ${this.lastError.message})`;
      throw new FloxideError(
        "StoreUnavailable",
        `redis is unreachable at ${this.description}: ${(error as Error).message}${last}`,
        {},
        { cause: error },
      );
    } finally {
      clearTimeout(timer);
      if (onReady !== undefined) client.off("ready", onReady);
    }
  }

  async close(): Promise<void> {
    for (const store of this.stores.values()) store.close();
    this.stores.clear();
    this.client.off("connect", this.countConnection);
    this.client.off("+node", this.countConnection);
    if (!this.ownsClient) return;
    try {
      await this.client.quit();
    } catch {
      // Already disconnected: nothing left to close.
      this.client.disconnect();
    }
  }
}

export function createRedisBackend(options: RedisBackendOptions): RedisBackend {
  return new RedisBackend(options);
}
