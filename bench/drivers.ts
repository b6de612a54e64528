/**
 * What bench/instructions.ts measures Redis under, besides the ceiling loop: a worker's own
 * `WorkerPool` (node code, step runner, commit batching and all; any shape, fan10's joins
 * included), and a BullMQ `Worker` with a no-op processor (the noop1 peer). Each flushes the
 * server, queues `runs` runs (jobs), calls `afterStart` (where the count starts: queueing is not
 * counted) and returns once every step is done.
 */
import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import { pino } from "pino";
import { Orchestrator, WorkerPool } from "../worker/engine/index.ts";
import { openRedisBackend } from "../worker/store/open-redis.ts";
import { PAYLOAD, startRuns } from "./ceiling.ts";
import { BENCH_WORKFLOWS, STEPS_PER_RUN, type BenchWorkflow } from "./workflows.ts";

export interface DriverOptions {
  readonly shape: BenchWorkflow;
  readonly runs: number;
  /** The pool's (worker's) concurrency. */
  readonly concurrency: number;
  readonly afterStart?: () => void;
}

/** A promise that `tick()` resolves on its `total`-th call. */
function countTo(total: number): { tick: () => void; reached: Promise<void> } {
  let done = 0;
  let reach: () => void = () => undefined;
  const reached = new Promise<void>((resolve) => (reach = resolve));
  return {
    tick: () => {
      done += 1;
      if (done === total) reach();
    },
    reached,
  };
}

async function flush(url: string): Promise<void> {
  const admin = new Redis(url);
  try {
    await admin.flushall();
  } finally {
    admin.disconnect();
  }
}

/** floxide: `runs` runs of `shape`, then one WorkerPool of `concurrency` until every step committed. */
export async function runPool(url: string, options: DriverOptions): Promise<void> {
  await flush(url);
  const backend = await openRedisBackend(
    { redisUrl: url, keyPrefix: "pool", redisMode: "standalone", retentionSeconds: 3600 },
    pino({ level: "silent" }),
  );
  try {
    const def = BENCH_WORKFLOWS[options.shape];
    const orchestrator = new Orchestrator(backend.forWorkflow(def.name), def);
    await startRuns(orchestrator, options.runs);
    const steps = countTo(options.runs * STEPS_PER_RUN[options.shape]);
    options.afterStart?.();
    const pool = new WorkerPool({
      store: backend.forWorkflow(def.name, def.version),
      workflow: def,
      concurrency: options.concurrency,
      onStep: (report) => {
        if (report.commit?.status === "committed") steps.tick();
      },
    });
    pool.start();
    await steps.reached;
    await pool.stop({ graceMs: 5000 });
  } finally {
    await backend.close();
  }
}

/** BullMQ: `runs` no-op jobs (removeOnComplete, as in the throughput cases), then one Worker. */
export async function runBullmq(url: string, options: DriverOptions): Promise<void> {
  if (options.shape !== "noop1") throw new Error("the BullMQ driver runs noop1 only");
  await flush(url);
  const connection = { url, maxRetriesPerRequest: null };
  const queue = new Queue("bench-noop1", { connection });
  try {
    for (let i = 0; i < options.runs; i += 1000) {
      const batch = Math.min(1000, options.runs - i);
      await queue.addBulk(
        Array.from({ length: batch }, () => ({
          name: "step",
          data: { step: 1, payload: PAYLOAD },
          opts: { removeOnComplete: true },
        })),
      );
    }
    const jobs = countTo(options.runs);
    options.afterStart?.();
    const worker = new Worker("bench-noop1", async () => null, {
      connection,
      concurrency: options.concurrency,
      removeOnComplete: { count: 0 },
    });
    worker.on("completed", jobs.tick);
    await jobs.reached;
    await worker.close();
  } finally {
    await queue.close();
  }
}
