/** Pick-up latency of an idle worker (enqueue -> step start) and the Redis traffic of an idle worker. */
import { Redis } from "ioredis";
import { pino } from "pino";
import { Orchestrator, WorkerPool } from "../worker/engine/index.ts";
import { next, node, workflow } from "../worker/sdk/index.ts";
import { openRedisBackend } from "../worker/store/open-redis.ts";
import { diff, readCounters } from "./redis-info.ts";
import { percentile } from "./stats.ts";

export interface ReactionResult {
  readonly pickupP50Ms: number;
  readonly pickupP99Ms: number;
  /** Every command Redis ran for the idle worker, the ones inside its scripts included. */
  readonly idleCommandsPerSec: number;
  /** Requests the idle worker sent (scripts and BZPOPMIN), from MONITOR: its round trips. */
  readonly idleRoundTripsPerSec: number;
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function runReaction(
  url: string,
  options: { samples: number; idleSeconds: number },
): Promise<ReactionResult> {
  const admin = new Redis(url);
  await admin.flushall();
  let startedAt = 0;
  const stamp = workflow({
    name: "bench-stamp",
    version: "1",
    start: "stamp",
    nodes: [node("stamp", () => ((startedAt = performance.now()), next(null)))],
  });
  const settings = {
    redisUrl: url,
    keyPrefix: "reaction",
    redisMode: "standalone",
    retentionSeconds: 3600,
  } as const;
  const workerBackend = await openRedisBackend(settings, pino({ level: "silent" }));
  const clientBackend = await openRedisBackend(settings, pino({ level: "silent" }));
  const pool = new WorkerPool({
    store: workerBackend.forWorkflow(stamp.name),
    workflow: stamp,
    concurrency: 1,
    blockMs: 5000,
  });
  const orchestrator = new Orchestrator(clientBackend.forWorkflow(stamp.name), stamp);
  pool.start();
  try {
    const latencies: number[] = [];
    for (let i = 0; i < options.samples; i += 1) {
      await pause(20); // let the worker go back to its blocking claim: we measure an idle pick-up
      const enqueuedAt = performance.now();
      const { runId } = await orchestrator.start(null);
      await orchestrator.wait(runId, { pollMs: 2 });
      latencies.push(startedAt - enqueuedAt);
    }
    await pause(1000);
    // MONITOR names the source of each command: "lua" for those a script runs.
    const monitor = await admin.monitor(); // its own connection
    let roundTrips = 0;
    monitor.on("monitor", (_time: string, args: string[], source: string) => {
      if (source !== "lua" && args[0]?.toLowerCase() !== "info") roundTrips += 1;
    });
    const before = await readCounters(admin);
    await pause(options.idleSeconds * 1000);
    const after = await readCounters(admin);
    monitor.disconnect();
    // The two INFO calls are ours, not the worker's.
    const idle = (diff(before, after).commands - 1) / options.idleSeconds;
    return {
      pickupP50Ms: percentile(latencies, 50),
      pickupP99Ms: percentile(latencies, 99),
      idleCommandsPerSec: idle,
      idleRoundTripsPerSec: roundTrips / options.idleSeconds,
    };
  } finally {
    await pool.stop({ graceMs: 1000 });
    await workerBackend.close();
    await clientBackend.close();
    admin.disconnect();
  }
}
