/**
 * The Redis ceiling: what one Redis core can do with floxide's own scripts when nothing but
 * Redis is the limit. One process drives many claim -> commit(+claim next) loops against the
 * store (no node code, no step runner, no context load): the same scripts and arguments a worker
 * sends per step, kept in flight concurrently so Redis is never idle. The ceiling is
 * 1e6 / (Redis CPU µs per step) in this loop: the steps/s a fully busy Redis core would do.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { pino } from "pino";
import { Orchestrator } from "../worker/engine/index.ts";
import type { Claim, StepOutcome, WorkflowStore } from "../worker/store/index.ts";
import { openRedisBackend } from "../worker/store/open-redis.ts";
import { diff, readCounters } from "./redis-info.ts";
import { BENCH_WORKFLOWS, STEPS_PER_RUN, type BenchWorkflow } from "./workflows.ts";

/** The shapes the ceiling loop can drive without node code (no joins). */
export type CeilingShape = Exclude<BenchWorkflow, "fan10">;

export interface CeilingResult {
  /** Steps per second the loop reached (the driving process may be the limit here). */
  readonly stepsPerSec: number;
  /** Redis CPU per step (user + sys) while the loop ran. */
  readonly redisCpuUsPerStep: number;
  /** 1e6 / redisCpuUsPerStep: steps per second of one fully busy Redis core. */
  readonly ceilingStepsPerSec: number;
  /** Share of wall time the Redis process was on CPU (near 1: Redis was the limit). */
  readonly redisBusy: number;
}

export const PAYLOAD = "x".repeat(100);
const CHAIN: Record<string, string> = { a: "b", b: "c" };

/** The outcome the bench workflows' no-op nodes produce for this claim. */
function outcomeFor(shape: CeilingShape, claim: Claim): StepOutcome {
  const { item } = claim;
  const target = shape === "chain3" ? CHAIN[item.node] : undefined;
  const base = { kind: "success", events: [], arrivals: [], hold: null, durationMs: 0.01 } as const;
  if (target === undefined) {
    return { ...base, followUps: [], outputs: [{ node: item.node, itemId: item.id, value: item.input }] };
  }
  const followUp = { ...item, id: randomUUID(), node: target, attempt: 1, enqueuedAt: Date.now() };
  return { ...base, followUps: [followUp], outputs: [] };
}

/** Starts `runs` runs with the benchmark's payload, 500 in flight at a time. */
export async function startRuns(orchestrator: Orchestrator, runs: number): Promise<void> {
  for (let i = 0; i < runs; i += 500) {
    const batch = Math.min(500, runs - i);
    await Promise.all(Array.from({ length: batch }, () => orchestrator.start({ payload: PAYLOAD })));
  }
}

/** One claim -> commit(+claim next) loop until the queue is empty; `count` sees each committed step. */
export async function loop(
  store: WorkflowStore,
  shape: CeilingShape,
  id: string,
  count: (claim: Claim) => void,
): Promise<void> {
  const options = { workerId: id, leaseMs: 30_000 };
  // A blocking claim, as a worker's: the process's waiting loops are served by one call (it
  // returns at once while items are ready; once the queue is empty each loop ends after a block).
  const claimed = { ...options, blockMs: 100 };
  let claim = await store.claim(claimed);
  while (claim !== null) {
    const result = await store.commit(claim, outcomeFor(shape, claim), options);
    if (result.status === "committed") count(claim);
    claim = result.next ?? (await store.claim(claimed));
  }
}

/**
 * Leaves `runs` finished noop1 runs in workflow `bench-noop1` under `keyPrefix`, retained for an
 * hour: the history a real system carries (the retained-history benchmark measures next to it).
 */
export async function retainRuns(url: string, keyPrefix: string, runs: number): Promise<void> {
  const backend = await openRedisBackend(
    { redisUrl: url, keyPrefix, redisMode: "standalone", retentionSeconds: 3600 },
    pino({ level: "silent" }),
  );
  try {
    const def = BENCH_WORKFLOWS.noop1;
    const store = backend.forWorkflow(def.name);
    const orchestrator = new Orchestrator(store, def);
    for (let i = 0; i < runs; i += 2000) {
      const batch = Math.min(2000, runs - i);
      await Promise.all(Array.from({ length: batch }, () => orchestrator.start({ payload: PAYLOAD })));
      await Promise.all(
        Array.from({ length: 64 }, (_, n) => loop(store, "noop1", `retain/${n}`, () => undefined)),
      );
    }
  } finally {
    await backend.close();
  }
}

export async function runCeiling(
  url: string,
  options: {
    shape: CeilingShape;
    runs: number;
    loops: number;
    /** Called once the runs are started, before the loops (bench/instructions.ts). */
    afterStart?: () => void;
  },
): Promise<CeilingResult> {
  const admin = new Redis(url);
  await admin.flushall();
  const backend = await openRedisBackend(
    { redisUrl: url, keyPrefix: "ceiling", redisMode: "standalone", retentionSeconds: 3600 },
    pino({ level: "silent" }),
  );
  try {
    const def = BENCH_WORKFLOWS[options.shape];
    const store = backend.forWorkflow(def.name);
    const orchestrator = new Orchestrator(store, def);
    await startRuns(orchestrator, options.runs);
    options.afterStart?.();
    const total = options.runs * STEPS_PER_RUN[options.shape];
    let done = 0;
    let window: { t0: number; done0: number; before: ReturnType<typeof readCounters> } | null = null;
    let measured: Promise<CeilingResult> | null = null;
    const count = (): void => {
      done += 1;
      if (window === null && done >= total * 0.1) {
        window = { t0: performance.now(), done0: done, before: readCounters(admin) };
      } else if (window !== null && measured === null && done >= total * 0.9) {
        const { t0, done0, before } = window;
        const [t1, done1] = [performance.now(), done];
        measured = Promise.all([before, readCounters(admin)]).then(([a, b]) => {
          const used = diff(a, b);
          const steps = done1 - done0;
          const seconds = (t1 - t0) / 1000;
          const us = (used.cpuSeconds * 1e6) / steps;
          return {
            stepsPerSec: steps / seconds,
            redisCpuUsPerStep: us,
            ceilingStepsPerSec: 1e6 / us,
            redisBusy: used.cpuSeconds / seconds,
          };
        });
      }
    };
    await Promise.all(
      Array.from({ length: options.loops }, (_, i) => loop(store, options.shape, `ceiling/${i}`, count)),
    );
    if (measured === null) throw new Error("the ceiling loop ended before 90% of the steps");
    return await measured;
  } finally {
    await backend.close();
    admin.disconnect();
  }
}
