/**
 * Throughput: pre-fill the queue, start W worker processes with concurrency C, and time the steps
 * between 10% and 90% of the total (warm-up and tail excluded), as BullMQ's own benchmark does.
 */
import { fork, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { FlowProducer, Queue, type FlowJob } from "bullmq";
import { Redis } from "ioredis";
import { pino } from "pino";
import { Orchestrator } from "../worker/engine/index.ts";
import { openRedisBackend } from "../worker/store/open-redis.ts";
import { diff, readCounters } from "./redis-info.ts";
import type { WorkerReport } from "./worker-report.ts";
import { retainRuns } from "./ceiling.ts";
import {
  BENCH_WORKFLOWS,
  BULLMQ_JOBS_PER_RUN,
  FAN_OUT,
  STEPS_PER_RUN,
  type BenchWorkflow,
  type BullmqStyle,
} from "./workflows.ts";

export type System = "floxide" | "bullmq";

export interface ThroughputCase {
  readonly system: System;
  readonly shape: BenchWorkflow;
  readonly workers: number;
  readonly concurrency: number;
  readonly runs: number;
  /** How BullMQ builds the work (default `jobs`). */
  readonly bullmq?: BullmqStyle;
  /** Finished runs of the same workflow left in Redis before the measurement (floxide only). */
  readonly retainedRuns?: number;
}

export interface ThroughputResult {
  /** Runs (BullMQ: jobs, or flows) per second: what the ratio compares. */
  readonly runsPerSec: number;
  /** Each system's own steps (BullMQ: jobs) per second. */
  readonly stepsPerSec: number;
  readonly redisCpuUsPerStep: number;
  readonly commandsPerStep: number;
  /** The worker processes' CPU (user + system, all of them) per step over the window. */
  readonly workerCpuUsPerStep: number;
}

const PAYLOAD = "x".repeat(100);
const DONE = { removeOnComplete: true } as const;
let sequence = 0;

async function prefill(url: string, c: ThroughputCase, name: string): Promise<() => Promise<void>> {
  if (c.system === "bullmq" && c.bullmq === "flow") {
    const flows = new FlowProducer({ connection: { url } });
    const leaf = (): FlowJob => ({ name: "child", queueName: name, data: { payload: PAYLOAD }, opts: DONE });
    const parent = (children: FlowJob[]): FlowJob => ({
      name: "parent",
      queueName: name,
      data: {},
      opts: DONE,
      children,
    });
    const flow = (): FlowJob =>
      c.shape === "fan10" ? parent(Array.from({ length: FAN_OUT }, leaf)) : parent([parent([leaf()])]);
    for (let i = 0; i < c.runs; i += 200) {
      await flows.addBulk(Array.from({ length: Math.min(200, c.runs - i) }, flow));
    }
    return () => flows.close();
  }
  if (c.system === "bullmq") {
    const queue = new Queue(name, { connection: { url } });
    for (let i = 0; i < c.runs; i += 1000) {
      const batch = Array.from({ length: Math.min(1000, c.runs - i) }, () => ({
        name: "step",
        data: { step: 1, payload: PAYLOAD },
        opts: { removeOnComplete: true },
      }));
      await queue.addBulk(batch);
    }
    return () => queue.close();
  }
  const backend = await openRedisBackend(
    { redisUrl: url, keyPrefix: name, redisMode: "standalone", retentionSeconds: 3600 },
    pino({ level: "silent" }),
  );
  const def = BENCH_WORKFLOWS[c.shape];
  const orchestrator = new Orchestrator(backend.forWorkflow(def.name), def);
  for (let i = 0; i < c.runs; i += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, c.runs - i) }, () => orchestrator.start({ payload: PAYLOAD })),
    );
  }
  return () => backend.close();
}

function startWorker(
  url: string,
  c: ThroughputCase,
  name: string,
): { child: ChildProcess; done: () => number; cpuUs: () => number } {
  const script = c.system === "bullmq" ? "bench/bullmq-worker.ts" : "bench/floxide-worker.ts";
  const child = fork(script, [url, name, c.shape, String(c.concurrency), c.bullmq ?? "jobs"], {
    execArgv: [],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  let last: WorkerReport = { done: 0, cpuUs: 0 };
  child.on("message", (message: WorkerReport) => {
    last = message;
  });
  return { child, done: () => last.done, cpuUs: () => last.cpuUs };
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`benchmark timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export async function runThroughput(url: string, c: ThroughputCase): Promise<ThroughputResult> {
  const name = `bench${(sequence += 1)}`;
  const admin = new Redis(url);
  try {
    await admin.flushall();
    if (c.system === "floxide" && (c.retainedRuns ?? 0) > 0) await retainRuns(url, name, c.retainedRuns ?? 0);
    const close = await prefill(url, c, name);
    const workers = Array.from({ length: c.workers }, () => startWorker(url, c, name));
    const perRun = c.system === "bullmq" ? BULLMQ_JOBS_PER_RUN[c.shape] : STEPS_PER_RUN[c.shape];
    const total = c.runs * perRun;
    const done = (): number => workers.reduce((sum, w) => sum + w.done(), 0);
    const cpuUs = (): number => workers.reduce((sum, w) => sum + w.cpuUs(), 0);
    await until(() => done() >= total * 0.1, 120_000, "warm-up");
    const [t0, done0, cpu0, before] = [performance.now(), done(), cpuUs(), await readCounters(admin)];
    await until(() => done() >= total * 0.9, 300_000, "90% of the steps");
    const [t1, done1, cpu1, after] = [performance.now(), done(), cpuUs(), await readCounters(admin)];
    for (const w of workers) w.child.kill("SIGTERM");
    await Promise.all(workers.map((w) => (w.child.exitCode === null ? once(w.child, "exit") : null)));
    await close();
    const steps = done1 - done0;
    const used = diff(before, after);
    return {
      runsPerSec: steps / perRun / ((t1 - t0) / 1000),
      stepsPerSec: steps / ((t1 - t0) / 1000),
      redisCpuUsPerStep: (used.cpuSeconds * 1e6) / steps,
      commandsPerStep: used.commands / steps,
      workerCpuUsPerStep: (cpu1 - cpu0) / steps,
    };
  } finally {
    admin.disconnect();
  }
}
