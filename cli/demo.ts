import { videoWorkflow } from "../examples/video.ts";
import { MemoryBackend } from "../worker/store/index.ts";
import { Orchestrator, WorkerPool } from "../worker/engine/index.ts";
import { intOption, parse } from "./usage.ts";

const USAGE = `usage: floxide demo [--runs N] [--concurrency N] [--chunks N] [--max-delay MS]

Runs the video example (split -> encode chunks in parallel -> join -> publish) on the embedded
memory backend with a worker pool, printing progress and a summary.`;

export async function demo(args: string[], out: NodeJS.WriteStream = process.stdout): Promise<number> {
  const { values } = parse(
    args,
    {
      runs: { type: "string" },
      concurrency: { type: "string" },
      chunks: { type: "string" },
      "max-delay": { type: "string" },
    },
    USAGE,
  );
  const runs = intOption(values.runs, "runs", 200, 1, 1_000_000);
  const concurrency = intOption(values.concurrency, "concurrency", 16, 1, 10_000);
  const chunks = intOption(values.chunks, "chunks", 10, 0, 10_000);
  const maxDelayMs = intOption(values["max-delay"], "max-delay", 5, 0, 60_000);

  const store = new MemoryBackend().forWorkflow(videoWorkflow.name);
  let steps = 0;
  const pool = new WorkerPool({
    store,
    workflow: videoWorkflow,
    concurrency,
    blockMs: 200,
    onStep: () => (steps += 1),
  });
  const orchestrator = new Orchestrator(store, videoWorkflow);
  out.write(
    `floxide demo: ${runs} runs of '${videoWorkflow.name}' (${chunks} chunks each), memory backend, ${concurrency} concurrent workers\n`,
  );

  const started = performance.now();
  pool.start();
  const ids = [];
  for (let i = 0; i < runs; i += 1)
    ids.push((await orchestrator.start({ video: `video-${i}`, chunks, maxDelayMs })).runId);

  const progress = async (): Promise<{ done: number; failed: number }> => {
    const metrics = await orchestrator.metrics();
    const depth = await store.depth();
    const seconds = (performance.now() - started) / 1000;
    const done = metrics.runsCompleted;
    const line = `runs ${done + metrics.runsFailed}/${runs}  ready ${depth.ready}  in flight ${depth.inFlight}  delayed ${depth.delayed}  steps ${steps}  ${Math.round(steps / Math.max(seconds, 0.001))} steps/s`;
    out.write(out.isTTY ? `\r${bar(done / runs)} ${line}` : `${line}\n`);
    return { done, failed: metrics.runsFailed };
  };
  let state = await progress();
  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort());
  while (state.done + state.failed < runs && !stop.signal.aborted) {
    await new Promise((resolve) => setTimeout(resolve, out.isTTY ? 100 : 500));
    state = await progress();
  }
  const seconds = (performance.now() - started) / 1000;
  await pool.stop({ graceMs: 5000 });
  if (out.isTTY) out.write("\n");
  const completed = (await orchestrator.list({ status: "completed", limit: runs })).length;
  out.write(
    `summary: runs completed ${completed}/${runs}, failed ${state.failed}, steps ${steps}, ` +
      `${seconds.toFixed(2)} s, ${Math.round(steps / seconds)} steps/s\n`,
  );
  return completed === runs ? 0 : 1;
}

function bar(fraction: number, width = 24): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
}
