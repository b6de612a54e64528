/**
 * What `durability: replicated` costs (not part of `npm run bench`; about a minute):
 * `node scripts/run.mjs bench/durability.ts [--runs N] [--reps N]`. A local Redis Cluster of 3
 * masters + 3 replicas; noop1 runs driven by claim -> commit(+claim next) loops with the store's
 * own calls (no node code: what is measured is the store's commit path), and by a WorkerPool of
 * concurrency 16 in this process (the whole worker: step runner, context, lease keeper), fast and
 * replicated alternately on fresh key prefixes. Prints steps/s of the pool and of 16 loops in
 * flight (throughput) and the p50/p99 of one step (claim to confirmed commit) with a single loop
 * (latency), medians of the repetitions with their spread.
 */
import { parseArgs } from "node:util";
import { pino } from "pino";
import type { Durability } from "../contract/index.ts";
import { Orchestrator, WorkerPool } from "../worker/engine/index.ts";
import type { Claim, StepOutcome, WorkflowStore } from "../worker/store/index.ts";
import { createRedisBackend } from "../worker/store/index.ts";
import { startRedisCluster } from "../test/support/redis.ts";
import { percentile, summarize, type Summary } from "./stats.ts";
import { BENCH_WORKFLOWS } from "./workflows.ts";

const PAYLOAD = "x".repeat(100);

function success(claim: Claim): StepOutcome {
  const { item } = claim;
  return {
    kind: "success",
    events: [],
    arrivals: [],
    hold: null,
    durationMs: 0.01,
    followUps: [],
    outputs: [{ node: item.node, itemId: item.id, value: item.input }],
  };
}

/** Claim -> commit(+claim next) until the queue is empty; the time of each step into `latencies`. */
async function loop(store: WorkflowStore, id: string, latencies: number[]): Promise<void> {
  const options = { workerId: id, leaseMs: 30_000 };
  let started = performance.now();
  let claim = await store.claim({ ...options, blockMs: 0 });
  while (claim !== null) {
    const result = await store.commit(claim, success(claim), options);
    const now = performance.now();
    if (result.status === "committed") latencies.push(now - started);
    started = now;
    claim = result.next ?? (await store.claim({ ...options, blockMs: 0 }));
  }
}

interface Measure {
  readonly stepsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

async function measure(
  url: string,
  durability: Durability,
  runs: number,
  loops: number,
  rep: number,
): Promise<Measure> {
  const backend = createRedisBackend({
    connection: url,
    keyPrefix: `bench-${durability}-${loops}-${rep}`,
    durability,
    retentionMs: 600_000,
  });
  try {
    const def = BENCH_WORKFLOWS.noop1;
    const store = backend.forWorkflow(def.name);
    const orchestrator = new Orchestrator(store, def);
    for (let i = 0; i < runs; i += 500)
      await Promise.all(
        Array.from({ length: Math.min(500, runs - i) }, () => orchestrator.start({ payload: PAYLOAD })),
      );
    const latencies: number[] = [];
    const t0 = performance.now();
    await Promise.all(Array.from({ length: loops }, (_, i) => loop(store, `bench/${i}`, latencies)));
    const seconds = (performance.now() - t0) / 1000;
    return {
      stepsPerSec: latencies.length / seconds,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
    };
  } finally {
    await backend.close();
  }
}

/** A WorkerPool of concurrency 16 drains `runs` noop1 runs; steps/s between 10 % and 90 % of them. */
async function measurePool(url: string, durability: Durability, runs: number, rep: number): Promise<number> {
  const backend = createRedisBackend({
    connection: url,
    keyPrefix: `bench-pool-${durability}-${rep}`,
    durability,
    retentionMs: 600_000,
  });
  const def = BENCH_WORKFLOWS.noop1;
  const store = backend.forWorkflow(def.name, def.version);
  let done = 0;
  let window: { t0: number; done0: number } | null = null;
  let result: number | null = null;
  const finished = Promise.withResolvers<void>();
  const pool = new WorkerPool({
    store,
    workflow: def,
    concurrency: 16,
    onStep: (report) => {
      if (report.commit?.status !== "committed") return;
      done += 1;
      if (window === null && done >= runs * 0.1) window = { t0: performance.now(), done0: done };
      else if (window !== null && result === null && done >= runs * 0.9) {
        result = (done - window.done0) / ((performance.now() - window.t0) / 1000);
        finished.resolve();
      }
    },
  });
  try {
    const orchestrator = new Orchestrator(store, def);
    for (let i = 0; i < runs; i += 500)
      await Promise.all(
        Array.from({ length: Math.min(500, runs - i) }, () => orchestrator.start({ payload: PAYLOAD })),
      );
    pool.start();
    await finished.promise;
    return result ?? 0;
  } finally {
    await pool.stop({ graceMs: 5000 });
    await backend.close();
  }
}

const fmt = (summary: Summary, digits = 0): string =>
  `${summary.median.toFixed(digits)} [${summary.min.toFixed(digits)}–${summary.max.toFixed(digits)}]`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { runs: { type: "string", default: "4000" }, reps: { type: "string", default: "3" } },
  });
  const runs = Number(values.runs);
  const reps = Number(values.reps);
  const log = pino({ level: "info" });
  const cluster = await startRedisCluster({ replicas: 1 });
  try {
    const results: Record<string, Measure[]> = {};
    for (let rep = 0; rep < reps; rep += 1) {
      for (const durability of ["fast", "replicated"] as const) {
        const pool = await measurePool(cluster.url, durability, runs, rep);
        (results[`${durability}/pool`] ??= []).push({ stepsPerSec: pool, p50Ms: 0, p99Ms: 0 });
        for (const [loops, share] of [
          [16, 1],
          [1, 4],
        ] as const) {
          const key = `${durability}/${loops}`;
          (results[key] ??= []).push(
            await measure(cluster.url, durability, Math.round(runs / share), loops, rep),
          );
          log.debug({ key, rep }, "measured");
        }
      }
    }
    const row = (durability: Durability): string => {
      const pool = results[`${durability}/pool`] ?? [];
      const busy = results[`${durability}/16`] ?? [];
      const single = results[`${durability}/1`] ?? [];
      return (
        `${durability.padEnd(10)} ${fmt(summarize(pool.map((m) => m.stepsPerSec))).padEnd(22)} ` +
        `${fmt(summarize(busy.map((m) => m.stepsPerSec))).padEnd(22)} ` +
        `${fmt(summarize(single.map((m) => m.p50Ms)), 2).padEnd(22)} ${fmt(summarize(single.map((m) => m.p99Ms)), 2)}`
      );
    };
    console.log(`3 masters + 3 replicas on loopback, noop1, ${runs} runs per throughput rep, ${reps} reps`);
    console.log(
      `${"durability".padEnd(10)} ${"steps/s (pool of 16)".padEnd(22)} ${"steps/s (16 loops)".padEnd(22)} ${"p50 ms (1 loop)".padEnd(22)} p99 ms`,
    );
    console.log(row("fast"));
    console.log(row("replicated"));
  } finally {
    await cluster.stop();
  }
}

await main();
