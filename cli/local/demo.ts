/**
 * `floxide demo`: the video example distributed on this machine. Picks a store (REDIS_URL, a
 * redis-server from PATH, or memory), lets the local scaler grow a fleet of workers from zero
 * with the operator's scaling policy, starts the runs, shows progress, waits for the fleet to
 * scale back to zero and prints a summary. Ctrl-C drains the workers and exits 130.
 */
import { randomUUID } from "node:crypto";
import { videoWorkflow } from "../../examples/video.ts";
import { eraseTypes } from "../../worker/sdk/index.ts";
import { isTerminal } from "../../worker/store/index.ts";
import { Orchestrator } from "../../worker/engine/index.ts";
import { LocalCluster, stepsOf } from "./local-cluster.ts";
import { openLocalStore } from "./local-store.ts";
import { VIDEO_EXAMPLE } from "../paths.ts";
import { describeScale, scalePath, type ScaleEvent } from "./scaler.ts";
import { chart, ProgressView, type Output, type Sample, type ViewState } from "./view.ts";
import { resolveOptions, type ParsedOptions } from "../../contract/index.ts";
import { DEMO_OPTIONS } from "../command-options.ts";
import type { Invocation } from "../program.ts";

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

export type DemoOptions = ParsedOptions<typeof DEMO_OPTIONS>;

/** `floxide demo` from the command line. */
export function demoAction({ flags, json, env }: Invocation): Promise<number> {
  return demo(resolveOptions(DEMO_OPTIONS, flags, env), json, process.stdout, env);
}

export async function demo(
  options: DemoOptions,
  json: boolean,
  out: Output = process.stdout,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const { runs, concurrency, chunks, maxWorkers, target } = options;
  const maxDelayMs = options.maxDelay;
  const say = (text: string): void => {
    if (!json) view.message(text);
  };
  const view = new ProgressView(out);

  const local = await openLocalStore({
    prefer: options.backend as "auto" | "redis" | "memory",
    redisUrl: options.redisUrl,
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
    namePrefix: `demo-worker-${process.pid}`,
    env,
    onScale: (event) => say(describeScale(event)),
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
      runsStarted: ids.length,
      runsDone: metrics.runsCompleted,
      runsFailed: metrics.runsFailed + metrics.runsCancelled,
      runsTotal: runs,
      depth,
      workers: cluster.fleet.size,
      workersRunning: cluster.fleet.running,
      workersDraining: cluster.fleet.draining,
      desired: last.desired,
      maxWorkers,
      backlogScale: maxWorkers * target,
      reason: last.reason,
      steps: stepsOf(metrics),
      seconds: finishedAt ?? seconds(),
    };
  };

  const ids: string[] = [];
  const samples: Sample[] = [];
  const sample = (current: ViewState): void => {
    const depth = current.depth ?? { ready: 0, inFlight: 0, delayed: 0 };
    samples.push({
      seconds: current.seconds,
      workers: current.workers,
      backlog: depth.ready + depth.inFlight + depth.delayed,
    });
  };
  // Runs arrive evenly over --start-over seconds, as uploads would: the backlog builds up, the
  // scaler follows it, and runs finish while others are still arriving.
  const startRuns = async (): Promise<void> => {
    const spacingMs = (options.startOver * 1000) / runs;
    for (let i = 0; i < runs && !interrupt.signal.aborted; i += 1) {
      const due = started + i * spacingMs;
      if (due > performance.now())
        await new Promise((resolve) => setTimeout(resolve, due - performance.now()));
      ids.push((await orchestrator.start({ video: `video-${i}`, chunks, maxDelayMs })).runId);
    }
  };

  let exitCode: number;
  let summary: DemoSummary | undefined;
  try {
    cluster.start();
    const starting = startRuns();
    let current = await state();
    const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, view.live ? 100 : 250));
    while (current.runsDone + current.runsFailed < runs && !interrupt.signal.aborted) {
      if (!json) view.update(current);
      sample(current);
      await tick();
      current = await state();
    }
    await starting;
    finishedAt = seconds();
    // Keep the scaler running until it has drained the fleet back to zero (the cooldown).
    const scaleDownDeadline = performance.now() + 30_000;
    while (
      !interrupt.signal.aborted &&
      (cluster.fleet.size > 0 || cluster.fleet.draining > 0) &&
      performance.now() < scaleDownDeadline
    ) {
      const now = await state();
      if (!json) view.update(now);
      sample({ ...now, seconds: seconds() });
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
    for (const line of chart(samples, maxWorkers)) out.write(`${line}\n`);
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
