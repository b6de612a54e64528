/**
 * `npm run bench:profile [noop1|chain3] [runs]`: where a step's Redis time goes. Runs the
 * ceiling loop (bench/ceiling.ts: the store's own scripts, no node code) on a fresh
 * redis-server and prints, per step, each command's calls and microseconds from
 * `INFO commandstats` (a script's inner commands are counted under their own names; EVALSHA's
 * time includes theirs), then the Redis CPU per step. Calls are exact; times are as noisy as
 * the machine.
 */
import { Redis } from "ioredis";
import { startRedis } from "../test/support/redis.ts";
import { runCeiling, type CeilingShape } from "./ceiling.ts";
import { STEPS_PER_RUN } from "./workflows.ts";
import { scriptArgs } from "../common/script-args.ts";

const USAGE =
  "usage: npm run bench:profile [-- noop1|chain3 [runs]]   (default noop1 4000)\n" +
  "  each Redis command's calls and µs per step of the ceiling loop, then Redis CPU per step\n";
const [shapeArg, runsArg] = scriptArgs(USAGE, { positionals: 2 });
const shape = (shapeArg ?? "noop1") as CeilingShape;
const runs = Number(runsArg ?? 4000);
if ((shape !== "noop1" && shape !== "chain3") || !Number.isInteger(runs) || runs < 100) {
  process.stderr.write(`bench:profile: expected a shape (noop1 or chain3) and a run count >= 100\n${USAGE}`);
  process.exit(2);
}
const redis = await startRedis();
const admin = new Redis(redis.url);
try {
  await runCeiling(redis.url, { shape, runs: 200, loops: 64 }); // warm-up: scripts loaded
  await admin.config("RESETSTAT");
  const result = await runCeiling(redis.url, { shape, runs, loops: 64 });
  const steps = runs * STEPS_PER_RUN[shape];
  const rows = String(await admin.info("commandstats"))
    .split("\n")
    .flatMap((line) => {
      const match = /^cmdstat_(\S+):calls=(\d+),usec=(\d+)/.exec(line);
      if (match === null || ["flushall", "info", "config|resetstat", "quit"].includes(match[1] as string))
        return [];
      return [{ command: match[1] as string, calls: Number(match[2]) / steps, us: Number(match[3]) / steps }];
    })
    .sort((a, b) => b.us - a.us);
  process.stdout.write(`${shape}, ${runs} runs (${steps} steps, run start included), per step:\n`);
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
