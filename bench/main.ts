/**
 * `npm run bench`: floxide and BullMQ side by side on one redis-server started here, cases run
 * alternately (A/B) several times; prints a table and writes bench/results.json.
 * `--quick` runs a small smoke version.
 */
import { writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { startRedis } from "../test/support/redis.ts";
import { runThroughput, type System, type ThroughputCase, type ThroughputResult } from "./throughput.ts";
import { summarize, type Summary } from "./stats.ts";
import { runReaction, type ReactionResult } from "./reaction.ts";
import { runContextGrowth, type ContextGrowthResult } from "./context-growth.ts";
import type { BenchWorkflow } from "./workflows.ts";
import { runCeiling, type CeilingResult } from "./ceiling.ts";
import { runOperatorPoll, type OperatorPollResult } from "./operator-poll.ts";
import { runOperatorReaction, type OperatorReactionResult } from "./operator-reaction.ts";

const quick = process.argv.includes("--quick");
const repeats = quick ? 1 : 3;
const runsFor = (shape: BenchWorkflow): number => (quick ? 600 : shape === "noop1" ? 6000 : 2500);
const GRID: { shape: BenchWorkflow; workers: number; concurrency: number }[] = [
  { shape: "noop1", workers: 1, concurrency: 1 },
  { shape: "noop1", workers: 1, concurrency: 16 },
  { shape: "noop1", workers: 2, concurrency: 16 },
  { shape: "chain3", workers: 1, concurrency: 1 },
  { shape: "chain3", workers: 1, concurrency: 16 },
  { shape: "chain3", workers: 2, concurrency: 16 },
];

interface Row {
  readonly shape: BenchWorkflow;
  readonly workers: number;
  readonly concurrency: number;
  readonly floxide: Record<keyof ThroughputResult, Summary>;
  readonly bullmq: Record<keyof ThroughputResult, Summary>;
  readonly ratio: number;
}

const fmt = (n: number, digits = 0): string => n.toFixed(digits);

async function main(): Promise<void> {
  // Always a private server: the benchmark flushes it between cases.
  delete process.env.REDIS_URL;
  const redis = await startRedis();
  const startedAt = new Date().toISOString();
  try {
    const rows: Row[] = [];
    for (const cell of GRID) {
      const samples: Record<System, ThroughputResult[]> = { floxide: [], bullmq: [] };
      for (let r = 0; r < repeats; r += 1) {
        // Alternate which system goes first, so drift on a noisy machine hits both alike.
        const order: System[] = r % 2 === 0 ? ["floxide", "bullmq"] : ["bullmq", "floxide"];
        for (const system of order) {
          const c: ThroughputCase = { system, ...cell, runs: runsFor(cell.shape) };
          samples[system].push(await runThroughput(redis.url, c));
        }
      }
      const summary = (list: ThroughputResult[]) => ({
        stepsPerSec: summarize(list.map((s) => s.stepsPerSec)),
        redisCpuUsPerStep: summarize(list.map((s) => s.redisCpuUsPerStep)),
        commandsPerStep: summarize(list.map((s) => s.commandsPerStep)),
      });
      const row: Row = {
        ...cell,
        floxide: summary(samples.floxide),
        bullmq: summary(samples.bullmq),
        ratio:
          summarize(samples.floxide.map((s) => s.stepsPerSec)).median /
          summarize(samples.bullmq.map((s) => s.stepsPerSec)).median,
      };
      rows.push(row);
      process.stdout.write(
        `${cell.shape.padEnd(7)} W=${cell.workers} C=${String(cell.concurrency).padEnd(2)}  floxide ${fmt(row.floxide.stepsPerSec.median).padStart(6)} steps/s  ` +
          `bullmq ${fmt(row.bullmq.stepsPerSec.median).padStart(6)} jobs/s  ratio ${fmt(row.ratio, 2)}  ` +
          `redis µs/step ${fmt(row.floxide.redisCpuUsPerStep.median, 1)} vs ${fmt(row.bullmq.redisCpuUsPerStep.median, 1)}  ` +
          `cmds/step ${fmt(row.floxide.commandsPerStep.median, 1)} vs ${fmt(row.bullmq.commandsPerStep.median, 1)}\n`,
      );
    }
    const ceilings: Record<BenchWorkflow, CeilingResult> = {
      noop1: await runCeiling(redis.url, { shape: "noop1", runs: quick ? 2000 : 12_000, loops: 64 }),
      chain3: await runCeiling(redis.url, { shape: "chain3", runs: quick ? 700 : 4000, loops: 64 }),
    };
    for (const shape of ["noop1", "chain3"] as const) {
      const ceiling = ceilings[shape];
      const best = Math.max(
        ...rows.filter((r) => r.shape === shape).map((r) => r.floxide.stepsPerSec.median),
      );
      process.stdout.write(
        `redis ceiling ${shape}: ${fmt(ceiling.ceilingStepsPerSec)} steps/s per Redis core (${fmt(ceiling.redisCpuUsPerStep, 1)} µs/step, ` +
          `pipelined loop reached ${fmt(ceiling.stepsPerSec)} steps/s at ${fmt(ceiling.redisBusy * 100)}% Redis CPU); ` +
          `best floxide row = ${fmt((best / ceiling.ceilingStepsPerSec) * 100)}% of the ceiling\n`,
      );
    }
    const reaction: ReactionResult = await runReaction(redis.url, {
      samples: quick ? 50 : 300,
      idleSeconds: quick ? 5 : 60,
    });
    process.stdout.write(
      `pick-up latency (idle worker, enqueue -> step start): p50 ${fmt(reaction.pickupP50Ms, 2)} ms, p99 ${fmt(reaction.pickupP99Ms, 2)} ms; ` +
        `idle worker: ${fmt(reaction.idleRoundTripsPerSec, 2)} round trips/s, ${fmt(reaction.idleCommandsPerSec, 2)} Redis commands/s (script internals included)\n`,
    );
    const growth: ContextGrowthResult = await runContextGrowth(redis.url, {
      longEvents: quick ? 2000 : 10_000,
    });
    process.stdout.write(
      `context growth: step ${fmt(growth.shortStepMs, 3)} ms at ${growth.shortEvents} events vs ${fmt(growth.longStepMs, 3)} ms at ${growth.longEvents} ` +
        `(ratio ${fmt(growth.latencyRatio, 2)}); bytes read per step ${fmt(growth.shortBytesPerStep)} vs ${fmt(growth.longBytesPerStep)} (ratio ${fmt(growth.bytesRatio, 2)})\n`,
    );
    const poll: OperatorPollResult = await runOperatorPoll(redis.url, {
      workflows: 1000,
      polls: quick ? 3 : 10,
    });
    process.stdout.write(
      `operator poll of ${poll.workflows} workflows: ${fmt(poll.pollMs, 1)} ms, one round trip, ${fmt(poll.commandsPerPoll)} commands, ` +
        `${fmt(poll.redisCpuMsPerPoll, 1)} ms Redis CPU\n`,
    );
    const scale: OperatorReactionResult = await runOperatorReaction(redis.url, {
      samples: quick ? 3 : 10,
      pollSeconds: 1,
    });
    process.stdout.write(
      "skipped" in scale
        ? `operator reaction: skipped (${scale.skipped})\n`
        : `operator reaction (backlog appears -> scale patch 0 -> 1, pollIntervalSeconds ${scale.pollSeconds}): ` +
            `median ${fmt(scale.medianMs)} ms, min ${fmt(scale.minMs)} ms, max ${fmt(scale.maxMs)} ms over ${scale.samples}\n`,
    );
    const results = {
      startedAt,
      quick,
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? "unknown", node: process.version },
      throughput: rows,
      ceilings,
      reaction,
      growth,
      poll,
      scale,
    };
    writeFileSync("bench/results.json", `${JSON.stringify(results, null, 2)}\n`);
    process.stdout.write("wrote bench/results.json\n");
  } finally {
    await redis.stop();
  }
}

await main();
