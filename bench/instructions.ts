/**
 * Redis instructions per step: the ceiling loop against a redis-server run under valgrind's
 * callgrind, which counts the instructions the server executes in user space. Unlike CPU time
 * the count does not move with the machine's load (repeated runs agree within ~1 %), so it says
 * what a change to a script bought even on a noisy VM. Networking in the kernel is not counted;
 * the event loop, command parsing, the Lua VM and the commands are.
 *
 * Needs `valgrind` (Debian: `apt-get install valgrind`). With a redis-server built with symbols
 * (REDIS_SERVER=/path/to/redis-server, e.g. `make CFLAGS=-g` in a Redis source tree) the report
 * also lists the functions the instructions went to; the stripped Debian binary gives the total.
 * FLOXIDE_CALLGRIND_OUT=<file> keeps a copy of the measured dump (for callgrind_annotate).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startRedisServer } from "../cli/local/index.ts";
import { runCeiling } from "./ceiling.ts";
import { runBullmq, runPool } from "./drivers.ts";
import type { BenchWorkflow } from "./workflows.ts";

/** What drives Redis while it is counted: the ceiling loop, a WorkerPool, or a BullMQ Worker. */
export type Driver = "ceiling" | "pool" | "bullmq";

export interface InstructionCount {
  /** Instructions the server executed per step (claim -> commit loops; warm-up and run start excluded). */
  readonly perStep: number;
  /** The functions with the most instructions of their own, per step (empty without symbols). */
  readonly top: readonly { readonly fn: string; readonly perStep: number }[];
}

const HINT = "valgrind was not found: install it (apt-get install valgrind) to count Redis instructions";

/** Self cost per function of one callgrind output file (names uncompressed). */
function selfCosts(text: string): Map<string, number> {
  const costs = new Map<string, number>();
  let fn: string | undefined;
  let callLine = false;
  for (const line of text.split("\n")) {
    if (line.startsWith("fn=")) fn = line.slice(3);
    else if (line.startsWith("calls=")) callLine = true;
    else if (/^[0-9+*-]/.test(line)) {
      // The line after `calls=` holds the call's inclusive cost: not this function's own.
      if (callLine) callLine = false;
      else if (fn !== undefined) costs.set(fn, (costs.get(fn) ?? 0) + Number(line.split(" ")[1] ?? 0));
    }
  }
  return costs;
}

/**
 * `loops`: the ceiling's loops in flight, or the pool's (BullMQ worker's) concurrency. The
 * ceiling loop drives noop1 and chain3 only (no joins); the BullMQ worker noop1 only.
 */
export async function countInstructions(
  shape: BenchWorkflow,
  runs: number,
  loops: number,
  steps: number,
  driver: Driver = "ceiling",
): Promise<InstructionCount> {
  if (driver === "ceiling" && shape === "fan10")
    throw new Error("the ceiling loop has no joins: use the pool");
  if (spawnSync("valgrind", ["--version"], { stdio: "ignore" }).error !== undefined) throw new Error(HINT);
  const binary = process.env.REDIS_SERVER ?? "redis-server";
  const dir = mkdtempSync(join(tmpdir(), "floxide-callgrind-"));
  const server = await startRedisServer({
    binary: "valgrind",
    dir,
    leading: [
      "--tool=callgrind",
      "--compress-strings=no",
      "--compress-pos=no",
      `--callgrind-out-file=${join(dir, "callgrind.out.%p")}`,
      binary,
    ],
    args: ["--save", "", "--appendonly", "no"],
    readyTimeoutMs: 60_000,
  });
  try {
    const pid = execFileSync("pgrep", ["-f", `callgrind.*--port ${server.port} `], { encoding: "utf8" })
      .trim()
      .split("\n")[0] as string;
    // Each dump writes the counts since the previous one and starts them again from zero.
    const dump = (): void => void execFileSync("callgrind_control", ["-d", pid], { stdio: "ignore" });
    const run = (count: number, afterStart?: () => void): Promise<unknown> =>
      driver === "ceiling"
        ? runCeiling(server.url, {
            shape: shape as Exclude<BenchWorkflow, "fan10">,
            runs: count,
            loops,
            afterStart,
          })
        : (driver === "pool" ? runPool : runBullmq)(server.url, {
            shape,
            runs: count,
            concurrency: loops,
            afterStart,
          });
    // A warm-up (functions loaded, connections open), then the count from the loops' start: the
    // runs' start (create-run; BullMQ's addBulk) is not counted, as in the throughput cases,
    // where the queue is filled before the clock starts.
    await run(Math.min(100, runs));
    await run(runs, dump);
    dump();
    const files = readdirSync(dir).filter((name) => /^callgrind\.out\.\d+\.\d+$/.test(name));
    const last = files.sort((a, b) => Number(a.split(".").at(-1)) - Number(b.split(".").at(-1))).at(-1);
    if (last === undefined) throw new Error(`callgrind wrote no dump in ${dir}`);
    const text = readFileSync(join(dir, last), "utf8");
    // To read further (callgrind_annotate, callers and callees): a copy of the measured dump.
    if (process.env.FLOXIDE_CALLGRIND_OUT) copyFileSync(join(dir, last), process.env.FLOXIDE_CALLGRIND_OUT);
    const total = Number(/^summary: (\d+)/m.exec(text)?.[1]);
    if (!Number.isFinite(total)) throw new Error(`no summary line in ${join(dir, last)}`);
    const costs = [...selfCosts(text)].sort((a, b) => b[1] - a[1]);
    // A stripped binary names its own functions by address: no breakdown then.
    const named = costs.length > 0 && !/^0x/.test(costs[0]?.[0] ?? "");
    return {
      perStep: total / steps,
      top: named ? costs.slice(0, 15).map(([fn, cost]) => ({ fn, perStep: cost / steps })) : [],
    };
  } finally {
    await server.stop();
  }
}
