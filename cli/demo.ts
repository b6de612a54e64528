/**
 * `floxide demo`: the video example distributed on this machine. Picks a store (REDIS_URL, a
 * redis-server from PATH, or memory), lets the local scaler grow a fleet of workers from zero
 * with the operator's scaling policy, starts the runs, shows progress, waits for the fleet to
 * scale back to zero and prints a summary. Ctrl-C drains the workers and exits 130.
 */
import { randomUUID } from "node:crypto";
import { videoWorkflow } from "../examples/video.ts";
import { eraseTypes } from "../worker/sdk/index.ts";
import { isTerminal } from "../worker/store/index.ts";
import { Orchestrator } from "../worker/engine/index.ts";
import { LocalCluster, stepsOf } from "./demo/local-cluster.ts";
import { openLocalStore } from "./demo/local-store.ts";
import { VIDEO_EXAMPLE } from "./paths.ts";
import { scalePath, type ScaleEvent } from "./demo/scaler.ts";
import { ProgressView, type Output, type ViewState } from "./demo/view.ts";
import { intOption, parse, UsageError } from "./usage.ts";

const USAGE = `usage: floxide demo [--runs N] [--chunks N] [--max-delay MS] [--concurrency N]
                    [--max-workers N] [--target N] [--backend auto|redis|memory] [--json]

Runs the video example (split -> encode chunks in parallel -> join -> publish) on this machine:
on the Redis at REDIS_URL, else on a redis-server from PATH started on a free port (and stopped
at the end), else on the embedded memory backend. A local scaler using the operator's scaling
policy starts workers from zero as the backlog grows and drains them when it is empty
(worker processes on Redis, in-process pools on memory).

  --runs N          runs to start (default 200)
  --chunks N        chunks per video, the fan-out width (default 10)
  --max-delay MS    random work per encode step, 0 to MS milliseconds (default 5)
  --concurrency N   steps one worker runs at once (default 8)
  --max-workers N   most workers the scaler starts (default 4)
  --target N        backlog items (ready + in flight) per worker (default 25)
  --backend B       auto (default), redis (fail without one) or memory
  --json            print one JSON summary instead of progress and text

The last line is 'summary: runs completed N/N, failed F, steps S, X s, Y steps/s'.
Exit codes: 0 every run completed, 1 some did not, 2 usage error, 130 interrupted (Ctrl-C:
the workers drain first; a second Ctrl-C kills them).`;

export interface DemoSummary {
  readonly backend: string;
  readonly runs: number;
  readonly completed: number;
  readonly failed: number;
  readonly steps: number;
  readonly seconds: number;
  readonly stepsPerSecond: number;
  readonly maxWorkers: number;
  readonly scaledBackToZero: boolean;
  readonly scaleEvents: readonly ScaleEvent[];
  readonly interrupted: boolean;
}

const BACKENDS = ["auto", "redis", "memory"] as const;

export async function demo(
  args: string[],
  out: Output = process.stdout,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const { values } = parse(
    args,
    {
      runs: { type: "string" },
      concurrency: { type: "string" },
      chunks: { type: "string" },
      "max-delay": { type: "string" },
      "max-workers": { type: "string" },
      target: { type: "string" },
      backend: { type: "string" },
      json: { type: "boolean" },
    },
    USAGE,
  );
  const runs = intOption(values.runs, "runs", 200, 1, 1_000_000);
  const concurrency = intOption(values.concurrency, "concurrency", 8, 1, 1000);
  const chunks = intOption(values.chunks, "chunks", 10, 0, 10_000);
  const maxDelayMs = intOption(values["max-delay"], "max-delay", 5, 0, 60_000);
  const maxWorkers = intOption(values["max-workers"], "max-workers", 4, 1, 64);
  const target = intOption(values.target, "target", 25, 1, 1_000_000);
  const backendChoice = values.backend ?? "auto";
  if (!(BACKENDS as readonly string[]).includes(backendChoice))
    throw new UsageError(`--backend must be one of ${BACKENDS.join(", ")}, got '${backendChoice}'`);
  const json = values.json === true;
  const say = (text: string): void => {
    if (!json) view.message(text);
  };
  const view = new ProgressView(out);

  const local = await openLocalStore({
    prefer: backendChoice as (typeof BACKENDS)[number],
    // A shared Redis may hold other data: a fresh prefix keeps this demo's keys and counters apart.
    keyPrefix: `floxide-demo-${randomUUID().slice(0, 8)}`,
    env,
  });
  const cluster = new LocalCluster({
    local,
    workflow: eraseTypes(videoWorkflow),
    workflowModule: VIDEO_EXAMPLE,
    concurrency,
    maxWorkers,
    targetPerWorker: target,
    drainTimeoutSeconds: 10,
    pollMs: 250,
    namePrefix: `demo-worker-${process.pid}`,
    env,
    onScale: (event) =>
      say(`scale: ${event.from} -> ${event.to} workers (${event.reason}: ${event.message})`),
    onFleetEvent: (event) => {
      if (event.kind === "crashed") say(`worker ${event.worker} ${event.detail}`);
    },
  });
  say(
    `floxide demo: ${runs} runs of '${videoWorkflow.name}' (${chunks} chunks each) on ${local.description}; ` +
      `workers: ${cluster.fleet.kind}, 0 to ${maxWorkers}, ${concurrency} steps each, ${target} backlog items per worker`,
  );

  const interrupt = new AbortController();
  let signals = 0;
  const onSignal = (): void => {
    signals += 1;
    if (signals === 1) {
      say("interrupted: draining the workers (Ctrl-C again to kill them)");
      interrupt.abort();
    } else void cluster.stop(true);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const orchestrator = new Orchestrator(cluster.store, eraseTypes(videoWorkflow));
  const started = performance.now();
  const seconds = (): number => (performance.now() - started) / 1000;
  let finishedAt: number | undefined;
  const state = async (): Promise<ViewState> => {
    const [metrics, depth] = await Promise.all([cluster.store.readMetrics(), cluster.store.depth()]);
    const last = cluster.scaler.last;
    return {
      runsDone: metrics.runsCompleted,
      runsFailed: metrics.runsFailed + metrics.runsCancelled,
      runsTotal: runs,
      depth,
      workers: cluster.fleet.size,
      workersRunning: cluster.fleet.running,
      workersDraining: cluster.fleet.draining,
      desired: last.desired,
      maxWorkers,
      reason: last.reason,
      steps: stepsOf(metrics),
      seconds: finishedAt ?? seconds(),
    };
  };

  let exitCode: number;
  let summary: DemoSummary | undefined;
  try {
    cluster.start();
    const ids: string[] = [];
    for (let i = 0; i < runs && !interrupt.signal.aborted; i += 1) {
      ids.push((await orchestrator.start({ video: `video-${i}`, chunks, maxDelayMs })).runId);
    }
    let current = await state();
    const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, view.live ? 100 : 250));
    while (current.runsDone + current.runsFailed < runs && !interrupt.signal.aborted) {
      if (!json) view.update(current);
      await tick();
      current = await state();
    }
    finishedAt = seconds();
    // Keep the scaler running until it has drained the fleet back to zero (the cooldown).
    const scaleDownDeadline = performance.now() + 30_000;
    while (
      !interrupt.signal.aborted &&
      (cluster.fleet.size > 0 || cluster.fleet.draining > 0) &&
      performance.now() < scaleDownDeadline
    ) {
      if (!json) view.update(await state());
      await tick();
    }
    current = await state();
    if (!json) view.update(current, true);
    view.finish();

    const completed = (await Promise.all(ids.map((id) => cluster.store.getRun(id)))).filter(
      (info) => info !== null && info.status === "completed",
    ).length;
    const failed = (await Promise.all(ids.map((id) => cluster.store.getRun(id)))).filter(
      (info) => info !== null && isTerminal(info.status) && info.status !== "completed",
    ).length;
    const elapsed = finishedAt;
    const history = cluster.scaler.history;
    summary = {
      backend: local.kind,
      runs,
      completed,
      failed,
      steps: current.steps,
      seconds: Number(elapsed.toFixed(2)),
      stepsPerSecond: Math.round(current.steps / Math.max(elapsed, 0.001)),
      maxWorkers: cluster.scaler.maxReplicas,
      scaledBackToZero: history.length > 0 && history.at(-1)?.to === 0 && cluster.fleet.size === 0,
      scaleEvents: history,
      interrupted: interrupt.signal.aborted,
    };
    exitCode = interrupt.signal.aborted ? 130 : completed === runs ? 0 : 1;
  } finally {
    await cluster.stop(signals > 1);
    await local.close();
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  }

  if (json) {
    out.write(`${JSON.stringify(summary)}\n`);
  } else {
    out.write(
      `scaling: workers ${scalePath(summary.scaleEvents)}, max ${summary.maxWorkers}, ` +
        `${summary.scaleEvents.length} scale events${summary.scaledBackToZero ? ", back to zero" : ""}\n`,
    );
    out.write(
      `summary: runs completed ${summary.completed}/${runs}, failed ${summary.failed}, steps ${summary.steps}, ` +
        `${summary.seconds.toFixed(2)} s, ${summary.stepsPerSecond} steps/s\n`,
    );
  }
  return exitCode;
}
