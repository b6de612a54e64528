/**
 * The console's Runs page on a big workflow: 1,000,000 finished runs retained (100,000 with
 * --quick), then the server-side reads of its page (worker/store/runs-page-reader.ts): the
 * first page, page 100 reached by cursor, the first page of a rare status (1% failed, read
 * past the others up to the scan limit) and a lookup by idempotency key. Target: the first page
 * in under 300 ms of server time.
 *
 * The runs are written straight in the layout create-run and commit leave a finished run in
 * (its hash and its index entry), in pipelined batches: a million runs through the functions
 * would also queue a million items and take minutes before the clock starts.
 */
import { Redis } from "ioredis";
import { findRun, LAYOUT_VERSION, readRunsPage, WorkflowKeys } from "../worker/store/index.ts";
import { median } from "./stats.ts";

export interface ConsoleRunsPageResult {
  readonly runs: number;
  readonly firstPageMs: number;
  readonly page100Ms: number;
  readonly failedFirstPageMs: number;
  readonly byKeyMs: number;
}

const WORKFLOW = "console-bench";

async function fill(redis: Redis, runs: number): Promise<void> {
  const keys = new WorkflowKeys(WORKFLOW);
  const base = Date.now() - runs;
  const batch = 10_000;
  await redis.set(keys.key("layout"), LAYOUT_VERSION);
  for (let first = 0; first < runs; first += batch) {
    const pipeline = redis.pipeline();
    const index: (string | number)[] = [];
    for (let i = first; i < Math.min(runs, first + batch); i += 1) {
      const runId = `run-${String(i).padStart(7, "0")}`;
      const createdAt = base + i;
      const status = i % 100 === 7 ? "failed" : "completed";
      pipeline.hset(keys.run("run", runId), {
        runId,
        workflow: WORKFLOW,
        version: "1",
        status,
        input: `{"order":${i}}`,
        createdAt,
        startedAt: createdAt,
        finishedAt: createdAt + 3,
        pending: 0,
        held: 0,
        openJoins: 0,
        outputs: 0,
        ...(i % 1000 === 0 ? { idempotencyKey: `order-${i}` } : {}),
        ...(status === "failed" ? { error: '{"code":"NodeFailed","message":"no"}' } : {}),
      });
      if (i % 1000 === 0) pipeline.set(keys.idempotency(`order-${i}`), runId);
      index.push(createdAt, runId);
    }
    pipeline.zadd(keys.key("runs"), ...index);
    await pipeline.exec();
  }
}

async function time(repeats: number, body: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let r = 0; r < repeats; r += 1) {
    const t0 = performance.now();
    await body();
    times.push(performance.now() - t0);
  }
  return median(times);
}

export async function runConsoleRunsPage(
  url: string,
  options: { runs: number },
): Promise<ConsoleRunsPageResult> {
  const redis = new Redis(url);
  try {
    await redis.flushall();
    await fill(redis, options.runs);
    await readRunsPage(redis, WORKFLOW); // loads the functions
    const firstPageMs = await time(20, async () => {
      const page = await readRunsPage(redis, WORKFLOW, { limit: 50 });
      if (page.runs.length !== 50) throw new Error("the first page is not full");
    });
    let cursor: string | undefined;
    for (let p = 0; p < 99; p += 1)
      cursor = (await readRunsPage(redis, WORKFLOW, { limit: 50, cursor })).next ?? undefined;
    const page100Ms = await time(20, () => readRunsPage(redis, WORKFLOW, { limit: 50, cursor }));
    const failedFirstPageMs = await time(10, () =>
      readRunsPage(redis, WORKFLOW, { limit: 50, status: "failed" }),
    );
    const byKeyMs = await time(20, async () => {
      if ((await findRun(redis, WORKFLOW, "order-5000")) === null)
        throw new Error("the keyed run is missing");
    });
    return { runs: options.runs, firstPageMs, page100Ms, failedFirstPageMs, byKeyMs };
  } finally {
    await redis.flushall();
    redis.disconnect();
  }
}

if (import.meta.main) {
  const { startRedis } = await import("../test/support/redis.ts");
  delete process.env.REDIS_URL;
  const server = await startRedis();
  try {
    const runs = process.argv.includes("--quick") ? 100_000 : 1_000_000;
    console.log(JSON.stringify(await runConsoleRunsPage(server.url, { runs })));
  } finally {
    await server.stop();
  }
}
