/** A floxide worker process for the benchmark; reports committed steps to the parent over IPC. */
import { pino } from "pino";
import { WorkerPool } from "../worker/engine/index.ts";
import { openRedisBackend } from "../worker/store/open-redis.ts";
import { BENCH_WORKFLOWS, type BenchWorkflow } from "./workflows.ts";

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
const report = setInterval(() => process.send?.({ done }), 10);
process.on("SIGTERM", () => {
  clearInterval(report);
  void pool.stop({ graceMs: 5000 }).then(async () => {
    await backend.close();
    process.exit(0);
  });
});
process.send?.({ ready: true, done });
