/**
 * Context growth: one run whose node loops on itself, emitting one event per step. Compares step
 * time and bytes Redis sends per step near the start (tens of events) and after thousands.
 */
import { Redis } from "ioredis";
import { pino } from "pino";
import { Orchestrator, WorkerPool } from "../worker/engine/index.ts";
import { next, node, tagged, workflow } from "../worker/sdk/index.ts";
import { openRedisBackend } from "../worker/store/open-redis.ts";
import { diff, readCounters, type RedisCounters } from "./redis-info.ts";
import { median } from "./stats.ts";

export interface ContextGrowthResult {
  readonly shortEvents: number;
  readonly longEvents: number;
  readonly shortStepMs: number;
  readonly longStepMs: number;
  readonly latencyRatio: number;
  readonly shortBytesPerStep: number;
  readonly longBytesPerStep: number;
  readonly bytesRatio: number;
}

const WINDOW = 200;

export async function runContextGrowth(
  url: string,
  options: { longEvents: number },
): Promise<ContextGrowthResult> {
  const admin = new Redis(url);
  await admin.flushall();
  const target = options.longEvents;
  const grow = workflow<number, { n: number }>({
    name: "bench-grow",
    version: "1",
    start: "step",
    nodes: [
      node<number, ReturnType<typeof tagged>, number, { n: number }>(
        "step",
        (ctx, n) => {
          ctx.emit({ n });
          return next(tagged(n + 1 < target ? "more" : "done", n + 1));
        },
        { tags: ["more", "done"] },
      ),
    ],
    edges: { step: { routes: { more: ["step"], done: [] } } },
    context: { initial: () => 0, reduce: (count) => count + 1 },
  });
  const backend = await openRedisBackend(
    { redisUrl: url, keyPrefix: "growth", redisMode: "standalone", retentionSeconds: 3600 },
    pino({ level: "silent" }),
  );
  const marks = new Map<number, { at: number; counters: Promise<RedisCounters> }>();
  const markAt = new Set([10, 10 + WINDOW, target - WINDOW - 1, target - 1]);
  const inWindow = (step: number): boolean =>
    (step >= 10 && step <= 10 + WINDOW) || (step >= target - WINDOW - 1 && step <= target - 1);
  /** When each step in either window committed: the step time is the median interval. */
  const stamps = new Map<number, number>();
  let steps = 0;
  const store = backend.forWorkflow(grow.name);
  const pool = new WorkerPool({
    store,
    workflow: grow,
    concurrency: 1,
    onStep: () => {
      steps += 1;
      if (inWindow(steps)) stamps.set(steps, performance.now());
      if (markAt.has(steps)) marks.set(steps, { at: performance.now(), counters: readCounters(admin) });
    },
  });
  pool.start();
  try {
    const orchestrator = new Orchestrator(store, grow);
    const { runId } = await orchestrator.start(0);
    await orchestrator.wait(runId, { timeoutMs: 600_000, pollMs: 100 });
    const window = async (from: number, to: number) => {
      const a = marks.get(from);
      const b = marks.get(to);
      if (a === undefined || b === undefined) throw new Error("missing benchmark marks");
      const used = diff(await a.counters, await b.counters);
      // The median interval: one scheduling hiccup of a loaded machine does not move it.
      const intervals: number[] = [];
      for (let step = from + 1; step <= to; step += 1)
        intervals.push((stamps.get(step) as number) - (stamps.get(step - 1) as number));
      return { stepMs: median(intervals), bytes: used.netOutputBytes / (to - from) };
    };
    const short = await window(10, 10 + WINDOW);
    const long = await window(target - WINDOW - 1, target - 1);
    return {
      shortEvents: 10,
      longEvents: target,
      shortStepMs: short.stepMs,
      longStepMs: long.stepMs,
      latencyRatio: long.stepMs / short.stepMs,
      shortBytesPerStep: short.bytes,
      longBytesPerStep: long.bytes,
      bytesRatio: long.bytes / short.bytes,
    };
  } finally {
    await pool.stop({ graceMs: 1000 });
    await backend.close();
    admin.disconnect();
  }
}
