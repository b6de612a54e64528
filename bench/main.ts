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
import type { BenchWorkflow, BullmqStyle } from "./workflows.ts";
import { runCeiling, type CeilingResult, type CeilingShape } from "./ceiling.ts";
import { runOperatorPoll, type OperatorPollResult } from "./operator-poll.ts";
import { runOperatorReaction, type OperatorReactionResult } from "./operator-reaction.ts";
import { runConsoleRunsPage, type ConsoleRunsPageResult } from "./console-runs-page.ts";
import { describeShards, runShards, shardsOptions, type ShardsResult } from "./shards.ts";
import { scriptArgs } from "../common/script-args.ts";

const USAGE =
  "usage: npm run bench [-- --quick]\n" +
  "  floxide and BullMQ side by side on a redis-server started here (about 10 minutes), then the\n" +
  "  ceiling, shards, reaction, context-growth, operator and console cases; prints the figures and\n" +
  "  writes bench/results.json. --quick: a one-minute smoke run. Method: bench/README.md\n";
const quick = scriptArgs(USAGE, { flags: ["--quick"] }).includes("--quick");
const repeats = quick ? 1 : 3;
const runsFor = (shape: BenchWorkflow): number =>
  quick ? (shape === "fan10" ? 150 : 600) : shape === "noop1" ? 6000 : shape === "chain3" ? 2500 : 800;
/** Finished runs retained in the retained-history case. */
const RETAINED = quick ? 10_000 : 100_000;
const GRID: { shape: BenchWorkflow; peer: BullmqStyle; workers: number; concurrency: number }[] = [];
for (const [shape, peer] of [
  ["noop1", "jobs"],
  ["chain3", "jobs"],
  ["chain3", "flow"],
  ["fan10", "flow"],
] as const) {
  for (const [workers, concurrency] of [
    [1, 1],
    [1, 16],
    [2, 16],
  ] as const) {
    GRID.push({ shape, peer, workers, concurrency });
  }
}

interface Row {
  readonly shape: BenchWorkflow;
  /** How BullMQ builds the same work. */
  readonly peer: BullmqStyle;
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
          const c: ThroughputCase = { system, ...cell, bullmq: cell.peer, runs: runsFor(cell.shape) };
          samples[system].push(await runThroughput(redis.url, c));
        }
      }
      const summary = (list: ThroughputResult[]) => ({
        runsPerSec: summarize(list.map((s) => s.runsPerSec)),
        stepsPerSec: summarize(list.map((s) => s.stepsPerSec)),
        redisCpuUsPerStep: summarize(list.map((s) => s.redisCpuUsPerStep)),
        commandsPerStep: summarize(list.map((s) => s.commandsPerStep)),
        workerCpuUsPerStep: summarize(list.map((s) => s.workerCpuUsPerStep)),
      });
      const row: Row = {
        ...cell,
        floxide: summary(samples.floxide),
        bullmq: summary(samples.bullmq),
        // Runs (flows) per second: floxide's fan10 run has one step more than BullMQ's flow.
        ratio:
          summarize(samples.floxide.map((s) => s.runsPerSec)).median /
          summarize(samples.bullmq.map((s) => s.runsPerSec)).median,
      };
      rows.push(row);
      process.stdout.write(
        `${`${cell.shape}/${cell.peer}`.padEnd(12)} W=${cell.workers} C=${String(cell.concurrency).padEnd(2)}  floxide ${fmt(row.floxide.stepsPerSec.median).padStart(6)} steps/s  ` +
          `bullmq ${fmt(row.bullmq.stepsPerSec.median).padStart(6)} jobs/s  ratio (runs/s) ${fmt(row.ratio, 2)} ` +
          `[${fmt(row.floxide.runsPerSec.min / row.bullmq.runsPerSec.max, 2)}–${fmt(row.floxide.runsPerSec.max / row.bullmq.runsPerSec.min, 2)}]  ` +
          `redis µs/step ${fmt(row.floxide.redisCpuUsPerStep.median, 1)} vs ${fmt(row.bullmq.redisCpuUsPerStep.median, 1)}  ` +
          `cmds/step ${fmt(row.floxide.commandsPerStep.median, 1)} vs ${fmt(row.bullmq.commandsPerStep.median, 1)}  ` +
          `worker µs/step ${fmt(row.floxide.workerCpuUsPerStep.median, 1)} vs ${fmt(row.bullmq.workerCpuUsPerStep.median, 1)}\n`,
      );
    }
    // Retained history: floxide one-node runs with RETAINED finished runs of the same workflow
    // still in Redis (their hashes and index entries) against an empty Redis, alternating.
    const retained: Record<"empty" | "retained", ThroughputResult[]> = { empty: [], retained: [] };
    for (let r = 0; r < repeats; r += 1) {
      for (const kind of r % 2 === 0 ? (["empty", "retained"] as const) : (["retained", "empty"] as const)) {
        const c: ThroughputCase = {
          system: "floxide",
          shape: "noop1",
          workers: 1,
          concurrency: 16,
          runs: runsFor("noop1"),
          retainedRuns: kind === "retained" ? RETAINED : 0,
        };
        retained[kind].push(await runThroughput(redis.url, c));
      }
    }
    const history = {
      retainedRuns: RETAINED,
      empty: summarize(retained.empty.map((s) => s.stepsPerSec)),
      retained: summarize(retained.retained.map((s) => s.stepsPerSec)),
      emptyRedisUsPerStep: summarize(retained.empty.map((s) => s.redisCpuUsPerStep)),
      retainedRedisUsPerStep: summarize(retained.retained.map((s) => s.redisCpuUsPerStep)),
    };
    process.stdout.write(
      `retained history (noop1 W=1 C=16): ${fmt(history.retained.median)} steps/s with ${RETAINED} finished runs retained vs ` +
        `${fmt(history.empty.median)} empty (${fmt((history.retained.median / history.empty.median) * 100)}%); ` +
        `redis µs/step ${fmt(history.retainedRedisUsPerStep.median, 1)} vs ${fmt(history.emptyRedisUsPerStep.median, 1)}\n`,
    );
    const ceilings: Record<CeilingShape, CeilingResult> = {
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
    const shards: ShardsResult = await runShards(shardsOptions(quick));
    process.stdout.write(describeShards(shards));
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
    const runsPage: ConsoleRunsPageResult = await runConsoleRunsPage(redis.url, {
      runs: quick ? 100_000 : 1_000_000,
    });
    process.stdout.write(
      `console runs page with ${runsPage.runs} runs retained: first page ${fmt(runsPage.firstPageMs, 1)} ms (target < 300), ` +
        `page 100 ${fmt(runsPage.page100Ms, 1)} ms, first page of 1% failed ${fmt(runsPage.failedFirstPageMs, 1)} ms, ` +
        `by idempotency key ${fmt(runsPage.byKeyMs, 2)} ms\n`,
    );
    const results = {
      startedAt,
      quick,
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? "unknown", node: process.version },
      throughput: rows,
      history,
      ceilings,
      shards,
      reaction,
      growth,
      poll,
      scale,
      runsPage,
    };
    writeFileSync("bench/results.json", `${JSON.stringify(results, null, 2)}\n`);
    process.stdout.write("wrote bench/results.json\n");
  } finally {
    await redis.stop();
  }
}

await main();
