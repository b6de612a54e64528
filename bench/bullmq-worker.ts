/**
 * A BullMQ worker process for the benchmark: `noop1` completes each job; `chain3` with style
 * `jobs` adds the next job of the chain from the processor, as a BullMQ user would build a
 * 3-step pipeline; with style `flow` (chain3 as a 3-level tree, fan10 as a parent with 10
 * children) a parent reads its children's values, as a join would.
 * Reports completions and its CPU time to the parent over IPC (worker-report.ts).
 */
import { Queue, Worker } from "bullmq";
import { reportEvery10ms } from "./worker-report.ts";

const [url, queueName, shape, concurrencyText, style] = process.argv.slice(2);
if (url === undefined || queueName === undefined || shape === undefined || concurrencyText === undefined) {
  throw new Error("usage: bullmq-worker <redis-url> <queue> <noop1|chain3|fan10> <concurrency> [jobs|flow]");
}
const connection = { url, maxRetriesPerRequest: null };
const queue = new Queue(queueName, { connection });
let done = 0;
const worker = new Worker(
  queueName,
  async (job) => {
    if (style === "flow") {
      if (job.name === "parent") return Object.keys(await job.getChildrenValues()).length;
      return (job.data as { payload: string }).payload;
    }
    const step = (job.data as { step: number; payload: string }).step;
    if (shape === "chain3" && step < 3) {
      await queue.add(
        "step",
        { step: step + 1, payload: (job.data as { payload: string }).payload },
        { removeOnComplete: true },
      );
    }
    return null;
  },
  { connection, concurrency: Number(concurrencyText), removeOnComplete: { count: 0 } },
);
worker.on("completed", () => {
  done += 1;
});
const report = reportEvery10ms(() => done);
process.on("SIGTERM", () => {
  clearInterval(report);
  void Promise.all([worker.close(), queue.close()]).then(() => process.exit(0));
});
