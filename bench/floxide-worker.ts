/** A floxide worker process for the benchmark; reports committed steps and its CPU time to the parent over IPC (worker-report.ts). */
import { pino } from "pino";
import { WorkerPool } from "../worker/engine/index.ts";
import { openRedisBackend } from "../worker/store/open-redis.ts";
import { BENCH_WORKFLOWS, type BenchWorkflow } from "./workflows.ts";
import { reportEvery10ms } from "./worker-report.ts";

const [url, prefix, shape, concurrencyText] = process.argv.slice(2);
if (url === undefined || prefix === undefined || shape === undefined || concurrencyText === undefined) {
  throw new Error("usage: floxide-worker <redis-url> <prefix> <noop1|chain3> <concurrency>");
}
const def = BENCH_WORKFLOWS[shape as BenchWorkflow];
const backend = await openRedisBackend(
  { redisUrl: url, keyPrefix: prefix, redisMode: "standalone", retentionSeconds: 3600 },
  pino({ level: "silent" }),
);
let done = 0;
const pool = new WorkerPool({
  store: backend.forWorkflow(def.name, def.version),
  workflow: def,
  concurrency: Number(concurrencyText),
  onStep: (report) => {
    if (report.commit?.status === "committed") done += 1;
  },
});
pool.start();
const report = reportEvery10ms(() => done);
process.on("SIGTERM", () => {
  clearInterval(report);
  void pool.stop({ graceMs: 5000 }).then(async () => {
    await backend.close();
    process.exit(0);
  });
});
