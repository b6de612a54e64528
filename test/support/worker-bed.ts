/**
 * Real `floxide worker` processes of one test file on one Redis: each `setup` gets its own key
 * prefix (tests sharing the server never see each other's keys), a store and orchestrator of
 * the module's workflow, and starts workers of it on demand. `close` stops everything.
 */
import { after, before } from "node:test";
import { pino } from "pino";
import { Orchestrator } from "../../worker/engine/index.ts";
import { loadWorkflowModule } from "../../worker/load-workflow.ts";
import type { WorkflowDef } from "../../worker/sdk/index.ts";
import { WorkflowKeys, type StoreBackend, type WorkflowStore } from "../../worker/store/index.ts";
import { openRedisBackend } from "../../worker/store/open-redis.ts";
import { startRedis, type RedisServer } from "./redis.ts";
import { killAll, startWorkerProcess, type WorkerProcess } from "./worker-process.ts";

export interface BedSetup {
  readonly store: WorkflowStore;
  readonly orchestrator: Orchestrator;
  readonly keyPrefix: string;
  /** Starts one worker process of the module on this setup's key prefix. */
  worker(args?: readonly string[], name?: string): Promise<WorkerProcess>;
}

export class WorkerBed {
  private readonly backends: StoreBackend[] = [];
  private readonly workers: WorkerProcess[] = [];
  private prefixes = 0;
  private readonly redisUrl: () => string;
  private readonly tag: string;

  /** `redisUrl` is read at each setup (the server is usually started in a `before` hook). */
  constructor(redisUrl: () => string, tag = "t") {
    this.redisUrl = redisUrl;
    this.tag = tag;
  }

  /** `seed` runs before any worker starts: what it queues is what the first worker meets. */
  async setup(
    modulePath: string,
    seed?: (store: WorkflowStore, keys: WorkflowKeys) => Promise<void>,
  ): Promise<BedSetup> {
    const keyPrefix = `${this.tag}${(this.prefixes += 1)}`;
    const redisUrl = this.redisUrl();
    const def = (await loadWorkflowModule(modulePath)) as WorkflowDef<unknown, unknown>;
    const backend = await openRedisBackend(
      { redisUrl, keyPrefix, redisMode: "standalone", retentionSeconds: 3600 },
      pino({ level: "silent" }),
    );
    this.backends.push(backend);
    const store = backend.forWorkflow(def.name);
    await seed?.(store, new WorkflowKeys(def.name, keyPrefix));
    const worker = async (args: readonly string[] = [], name?: string): Promise<WorkerProcess> => {
      const process = await startWorkerProcess({
        workflow: modulePath,
        redisUrl,
        args: ["--key-prefix", keyPrefix, ...args],
        ...(name === undefined ? {} : { name }),
      });
      this.workers.push(process);
      return process;
    };
    return { store, orchestrator: new Orchestrator(store, def), keyPrefix, worker };
  }

  /** A worker process started elsewhere in the test, to be stopped with the bed. */
  adopt(...processes: WorkerProcess[]): void {
    this.workers.push(...processes);
  }

  async close(): Promise<void> {
    await killAll(this.workers);
    await Promise.all(this.backends.map((backend) => backend.close()));
  }
}

/**
 * A bed on a Redis of its own for the enclosing `describe`: the server starts before its tests;
 * the bed's workers and backends, then the server, stop after them.
 */
export function bedWithRedis(tag: string): { readonly bed: WorkerBed; redis(): RedisServer } {
  let server: RedisServer | undefined;
  const redis = (): RedisServer => {
    if (server === undefined)
      throw new Error("the bed's Redis starts in a before hook: use it inside a test");
    return server;
  };
  const bed = new WorkerBed(() => redis().url, tag);
  before(async () => {
    server = await startRedis();
  });
  after(async () => {
    await bed.close();
    await server?.stop();
  });
  return { bed, redis };
}
