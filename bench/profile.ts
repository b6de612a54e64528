/**
 * `npm run bench:profile [noop1|chain3|fan10] [runs] [loops] [--instructions [--pool|--bullmq]]`:
 * where a step's Redis time goes. Runs the ceiling loop (bench/ceiling.ts: the store's own
 * scripts, no node code) on a fresh redis-server and prints, per step, each command's calls and
 * microseconds from `INFO commandstats` (a script's inner commands are counted under their own
 * names; EVALSHA's time includes theirs), then the Redis CPU per step. Calls are exact; times are
 * as noisy as the machine. `--instructions`: a redis-server under callgrind, printing the
 * instructions Redis executes per step instead (bench/instructions.ts): exact, so it shows what a
 * script change bought even on a noisy machine; driven by the ceiling loop, or with `--pool` by a
 * worker's WorkerPool of concurrency `loops` (any shape, fan10 included), or with `--bullmq` by a
 * BullMQ Worker of concurrency `loops` over no-op jobs (noop1: the figure to compare with).
 */
import { Redis } from "ioredis";
import { startRedis } from "../test/support/redis.ts";
import { runCeiling, type CeilingShape } from "./ceiling.ts";
import { STEPS_PER_RUN, type BenchWorkflow } from "./workflows.ts";
import { scriptArgs } from "../common/script-args.ts";
import { countInstructions } from "./instructions.ts";

const USAGE =
  "usage: npm run bench:profile [-- noop1|chain3|fan10 [runs [loops]]] [--instructions [--pool|--bullmq]]\n" +
  "  (default noop1 4000 64) each Redis command's calls and µs per step of the ceiling loop\n" +
  "  (`loops` claim -> commit loops in flight; noop1 or chain3), then Redis CPU per step\n" +
  "  --instructions  Redis instructions per step instead, counted by valgrind's callgrind\n" +
  "                  (exact; needs valgrind; REDIS_SERVER=<redis-server built with symbols> adds\n" +
  "                  the functions they went to)\n" +
  "  --pool          with --instructions: a WorkerPool of concurrency `loops` drives Redis\n" +
  "                  instead of the ceiling loop (node code and commit batching included)\n" +
  "  --bullmq        with --instructions: a BullMQ Worker of concurrency `loops` over `runs`\n" +
  "                  no-op jobs (noop1 only), the peer to compare with\n";
const args = scriptArgs(USAGE, { positionals: 3, flags: ["--instructions", "--pool", "--bullmq"] });
const [shapeArg, runsArg, loopsArg] = args.filter((arg) => !arg.startsWith("-"));
const shape = (shapeArg ?? "noop1") as BenchWorkflow;
const runs = Number(runsArg ?? 4000);
const loops = Number(loopsArg ?? 64);
const driver = args.includes("--bullmq") ? "bullmq" : args.includes("--pool") ? "pool" : "ceiling";
const problem = !(shape in STEPS_PER_RUN)
  ? "expected a shape (noop1, chain3 or fan10)"
  : !Number.isInteger(runs) || runs < 100 || !Number.isInteger(loops) || loops < 1 || loops > 1000
    ? "expected a run count >= 100 and 1..1000 loops"
    : args.includes("--pool") && args.includes("--bullmq")
      ? "--pool and --bullmq are two drivers: give one"
      : driver !== "ceiling" && !args.includes("--instructions")
        ? `--${driver} drives the instruction count: add --instructions`
        : driver === "ceiling" && shape === "fan10"
          ? "the ceiling loop has no joins: count fan10 with --instructions --pool"
          : driver === "bullmq" && shape !== "noop1"
            ? "the BullMQ driver runs noop1 only"
            : undefined;
if (problem !== undefined) {
  process.stderr.write(`bench:profile: ${problem}\n${USAGE}`);
  process.exit(2);
}
if (args.includes("--instructions")) {
  const steps = runs * (driver === "bullmq" ? 1 : STEPS_PER_RUN[shape]);
  const { perStep, top } = await countInstructions(shape, runs, loops, steps, driver);
  const by =
    driver === "ceiling"
      ? `${loops} loops`
      : `${driver === "pool" ? "WorkerPool" : "BullMQ Worker"} C=${loops}`;
  process.stdout.write(
    `${shape}, ${runs} runs, ${by} (run start excluded): ` +
      `${(perStep / 1000).toFixed(1)}k Redis instructions per ${driver === "bullmq" ? "job" : "step"}\n`,
  );
  for (const { fn, perStep: own } of top)
    process.stdout.write(`  ${(own / 1000).toFixed(1).padStart(7)}k  ${fn}\n`);
  process.exit(0);
}
const ceilingShape = shape as CeilingShape;
const redis = await startRedis();
const admin = new Redis(redis.url);
try {
  await runCeiling(redis.url, { shape: ceilingShape, runs: 200, loops }); // warm-up: scripts loaded
  await admin.config("RESETSTAT");
  const result = await runCeiling(redis.url, { shape: ceilingShape, runs, loops });
  const steps = runs * STEPS_PER_RUN[ceilingShape];
  const rows = String(await admin.info("commandstats"))
    .split("\n")
    .flatMap((line) => {
      const match = /^cmdstat_(\S+):calls=(\d+),usec=(\d+)/.exec(line);
      if (match === null || ["flushall", "info", "config|resetstat", "quit"].includes(match[1] as string))
        return [];
      return [{ command: match[1] as string, calls: Number(match[2]) / steps, us: Number(match[3]) / steps }];
    })
    .sort((a, b) => b.us - a.us);
  process.stdout.write(`${ceilingShape}, ${runs} runs (${steps} steps, run start included), per step:\n`);
  for (const row of rows)
    process.stdout.write(
      `  ${row.command.padEnd(16)} ${row.calls.toFixed(2).padStart(6)} calls ${row.us.toFixed(1).padStart(7)} µs\n`,
    );
  const inner = rows.filter((row) => !row.command.startsWith("eval") && row.command !== "fcall");
  process.stdout.write(
    `  commands ${rows.reduce((sum, row) => sum + row.calls, 0).toFixed(1)} (in scripts ${inner.reduce((sum, row) => sum + row.calls, 0).toFixed(1)}); ` +
      `Redis CPU ${result.redisCpuUsPerStep.toFixed(1)} µs/step\n`,
  );
} finally {
  admin.disconnect();
  await redis.stop();
}
