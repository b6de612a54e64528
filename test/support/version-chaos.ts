/**
 * A version change under load, as the operator performs it, with real `floxide worker`
 * processes on a real redis-server: version 1 workers with runs in flight, the rollout moves new
 * runs to version 2 (written to Redis as the operator writes it) and version 2 workers start;
 * version 1 workers keep being SIGKILLed and replaced while they drain their pinned runs, then
 * are stopped and the version is forgotten (retired). Checked afterwards with verifyVideoRuns.
 */
import assert from "node:assert/strict";
import { setTimeout as delay } from "node:timers/promises";
import { CHAOS_WORKFLOW, CHAOS_WORKFLOW_V2, startChaosCluster, type ChaosCluster } from "./chaos.ts";
import { waitFor } from "./wait.ts";
import { killAll, type WorkerProcess } from "./worker-process.ts";

const STEPS_PER_RUN = 13; // split, 10 encodes, assemble, publish

export interface VersionChangePlan {
  /** Runs started on version 1 before the change. */
  readonly v1Runs: number;
  /** Runs started after it (pinned to version 2). */
  readonly v2Runs: number;
  readonly workers: number;
  readonly concurrency: number;
  readonly leaseMs: number;
  readonly maxDelayMs: number;
  /** Mean pause between two SIGKILLs of a version 1 worker while it drains. */
  readonly killEveryMs: number;
  readonly timeoutMs: number;
}

export interface VersionChangeResult {
  readonly cluster: ChaosCluster;
  readonly v1RunIds: string[];
  readonly v2RunIds: string[];
  /** Steps of version 1 runs committed when the rollout moved (proves they were in flight). */
  readonly stepsAtChange: number;
  readonly v1Kills: number;
  readonly retired: boolean;
}

export async function runVersionChange(
  plan: VersionChangePlan,
  log: (line: string) => void = () => undefined,
): Promise<VersionChangeResult> {
  const cluster = await startChaosCluster({ ...plan, appendfsync: "everysec" });
  try {
    return await change(cluster, plan, log);
  } catch (error) {
    await cluster.close();
    throw error;
  }
}

async function change(
  cluster: ChaosCluster,
  plan: VersionChangePlan,
  log: (line: string) => void,
): Promise<VersionChangeResult> {
  const { store, orchestrator } = cluster;
  const start = async (count: number, tag: string): Promise<string[]> => {
    const ids: string[] = [];
    for (let i = 0; i < count; i += 1) {
      const input = { video: `${tag}-${i}`, maxDelayMs: plan.maxDelayMs };
      ids.push((await orchestrator.start(input, { idempotencyKey: `${tag}-${i}` })).runId);
    }
    return ids;
  };
  const completedSteps = async (): Promise<number> =>
    Object.values((await store.readMetrics()).nodes).reduce((sum, node) => sum + node.completed, 0);

  const v1RunIds = await start(plan.v1Runs, "v1");
  // The change lands while version 1 runs are in flight: a fifth of their steps done.
  await waitFor(async () => (await completedSteps()) >= (plan.v1Runs * STEPS_PER_RUN) / 5, {
    timeoutMs: plan.timeoutMs,
    intervalMs: 50,
  });
  const stepsAtChange = await completedSteps();
  await store.writeRollout({ current: "2", ramp: null });
  const v1Workers = [...cluster.live];
  const v2Workers = await Promise.all(
    Array.from({ length: plan.workers }, () => cluster.startWorker(CHAOS_WORKFLOW_V2)),
  );
  log(`rollout to version 2 after ${stepsAtChange} steps; ${v2Workers.length} version 2 workers`);
  const v2RunIds = await start(plan.v2Runs, "v2");

  const v1Backlog = async (): Promise<number> => {
    const v1 = (await store.readVersions()).versions.find((v) => v.version === "1");
    return v1 === undefined ? 0 : v1.ready + v1.inFlight + v1.delayed;
  };
  // Version 1 drains under SIGKILLs: each victim is replaced by a version 1 worker.
  let kills = 0;
  const stop = new AbortController();
  const killer = (async () => {
    while (!stop.signal.aborted) {
      await delay(plan.killEveryMs * (0.5 + Math.random()), undefined, { signal: stop.signal }).catch(
        () => undefined,
      );
      if (stop.signal.aborted) break;
      const victim = v1Workers.splice(Math.floor(Math.random() * v1Workers.length), 1)[0];
      if (victim === undefined) continue;
      victim.signal("SIGKILL");
      await victim.exited;
      kills += 1;
      v1Workers.push(await cluster.startWorker(CHAOS_WORKFLOW));
    }
  })();
  try {
    await waitFor(async () => (await v1Backlog()) === 0, {
      timeoutMs: plan.timeoutMs,
      intervalMs: 200,
      message: "version 1 to drain",
    });
  } finally {
    stop.abort();
    await killer;
  }
  log(`version 1 drained; ${kills} of its workers SIGKILLed on the way`);
  // Retire: version 1's workers stop, and the version is forgotten.
  await killAll(v1Workers as WorkerProcess[]);
  const retired = await store.forgetVersion("1");
  const all = [...v1RunIds, ...v2RunIds];
  await waitFor(
    async () => {
      const runs = await Promise.all(all.map((runId) => store.getRun(runId)));
      return runs.every((run) => run?.status === "completed" || run?.status === "failed");
    },
    { timeoutMs: plan.timeoutMs, intervalMs: 200, message: "every run to finish" },
  );
  for (const [ids, version] of [
    [v1RunIds, "1"],
    [v2RunIds, "2"],
  ] as const)
    for (const runId of ids) assert.equal((await store.getRun(runId))?.version, version, `run ${runId}`);
  return { cluster, v1RunIds, v2RunIds, stepsAtChange, v1Kills: kills, retired };
}
