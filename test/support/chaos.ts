/**
 * The chaos harness: real `floxide worker` processes run video (fan-out/join) runs on a real
 * redis-server while workers are SIGKILLed and restarted, one is frozen past its lease, and
 * Redis is crashed and taken away. Afterwards everything is checked from Redis (see
 * `verifyVideoRuns`). Used by test/chaos/ (a bounded run in `npm test`, a long one in
 * `npm run test:chaos`). With `shards`, the same load runs on a local Redis Cluster with the
 * workflow split in partitions; the Redis faults there are test/chaos/cluster-failover.test.ts's
 * (a master killed and its replica promoted), so a sharded plan has worker faults only.
 */
import assert from "node:assert/strict";
import { setTimeout as delay } from "node:timers/promises";
import { pino } from "pino";
import { Orchestrator } from "../../worker/engine/index.ts";
import { loadWorkflowModule } from "../../worker/load-workflow.ts";
import type { WorkflowDef } from "../../worker/sdk/index.ts";
import type { StoreBackend, WorkflowStore } from "../../worker/store/index.ts";
import { openRedisBackend } from "../../worker/store/open-redis.ts";
import { startRedis, startRedisCluster, type RedisServer } from "./redis.ts";
import { waitFor } from "./wait.ts";
import { killAll, startWorkerProcess, type WorkerProcess } from "./worker-process.ts";

export const CHAOS_WORKFLOW = "test/chaos/video-chaos.workflow.ts";
/** The same workflow at version 2 (the version-change run). */
export const CHAOS_WORKFLOW_V2 = "test/chaos/video-chaos-v2.workflow.ts";
const CHUNKS = 10;

/** `at`: the share of all steps committed when the fault begins (0.3 = 30 %), so it hits the load. */
export type ChaosFault =
  /** SIGSTOP one worker for `leaseMs + 1500` ms (its leases expire and are reclaimed), then SIGCONT. */
  | { readonly kind: "freeze-worker"; readonly at: number }
  /** SIGKILL redis-server and start it again at once on the same AOF. */
  | { readonly kind: "crash-redis"; readonly at: number }
  /** SIGKILL redis-server, keep it down for `forMs`, then start it again. */
  | { readonly kind: "redis-outage"; readonly at: number; readonly forMs: number };

export interface ChaosPlan {
  readonly runs: number;
  /** Upper bound of each encode/assemble step's random delay. */
  readonly maxDelayMs: number;
  readonly workers: number;
  readonly concurrency: number;
  readonly leaseMs: number;
  /** Mean pause between two worker SIGKILLs (each followed by a replacement). */
  readonly killEveryMs: number;
  readonly appendfsync: "always" | "everysec";
  /** Run one after the other, in this order. */
  readonly faults: readonly ChaosFault[];
  /** Deadline for every run to finish. */
  readonly timeoutMs: number;
  /** A local Redis Cluster of `masters` masters (no AOF) and a workflow of `partitions` partitions. */
  readonly shards?: ChaosShards;
}

export interface ChaosShards {
  readonly masters: number;
  readonly partitions: number;
}

export interface FaultRecord {
  readonly kind: ChaosFault["kind"];
  /** Steps committed when the fault began, of all (proves it hit a loaded system). */
  readonly stepsBefore: number;
  /** From the end of the fault (worker continued, Redis back) to the next committed step. */
  recoveryMs: number | null;
  endedAt: number;
}

export interface ChaosReport {
  readonly runs: number;
  readonly steps: number;
  readonly durationMs: number;
  readonly workerKills: number;
  readonly workerStarts: number;
  readonly workerStartFailures: number;
  readonly leaseReclaims: number;
  /** Items delivered more than once (attempt > 1) at the end. */
  readonly itemsRedelivered: number;
  /** Commits refused by the lease token ("step not committed", result lease-lost in worker logs). */
  readonly commitsRefusedByFencing: number;
  /** The longest time without any committed step while runs were unfinished. */
  readonly maxStallMs: number;
  readonly faults: readonly FaultRecord[];
}

export interface ChaosCluster {
  readonly redis: RedisServer;
  readonly store: WorkflowStore;
  readonly orchestrator: Orchestrator<unknown>;
  readonly keyPrefix: string;
  /** Every worker process started so far, dead or alive. */
  readonly all: WorkerProcess[];
  /** Started and neither killed nor stopped. */
  readonly live: WorkerProcess[];
  /** A worker of `module` (default: the chaos workflow at version 1). */
  startWorker(module?: string): Promise<WorkerProcess>;
  close(): Promise<void>;
}

let clusters = 0;

/**
 * A Redis Cluster seen as the `redis` of a ChaosCluster: its URL and stop; a crash or an outage of
 * it is refused (runChaos checks the plan before it starts anything).
 */
async function startShards(shards: ChaosShards): Promise<RedisServer> {
  const cluster = await startRedisCluster({ masters: shards.masters });
  const [first] = cluster.nodes;
  const refuse = (): Promise<void> =>
    Promise.reject(new Error("a sharded chaos run kills no Redis: see test/chaos/cluster-failover.test.ts"));
  return {
    url: cluster.url,
    host: first?.host ?? "127.0.0.1",
    port: first?.port ?? 0,
    external: cluster.external,
    stop: () => cluster.stop(),
    kill: refuse,
    restart: refuse,
  };
}

/** A redis-server with AOF (or a Redis Cluster, `shards`) plus `workers` worker processes of the chaos workflow. */
export async function startChaosCluster(options: {
  workers: number;
  concurrency: number;
  leaseMs: number;
  appendfsync: "always" | "everysec";
  shards?: ChaosShards;
}): Promise<ChaosCluster> {
  const { shards } = options;
  const redis =
    shards === undefined
      ? await startRedis({ appendonly: true, args: ["--appendfsync", options.appendfsync] })
      : await startShards(shards);
  const redisMode = shards === undefined ? "standalone" : "cluster";
  const partitions = shards?.partitions ?? 1;
  const keyPrefix = `chaos${(clusters += 1)}`;
  const def = (await loadWorkflowModule(CHAOS_WORKFLOW)) as WorkflowDef<unknown, unknown>;
  const backends: StoreBackend[] = [];
  const backend = await openRedisBackend(
    { redisUrl: redis.url, keyPrefix, redisMode, partitions, retentionSeconds: 3600 },
    pino({ level: "silent" }),
  );
  backends.push(backend);
  const store = backend.forWorkflow(def.name);
  const all: WorkerProcess[] = [];
  const live: WorkerProcess[] = [];
  let generation = 0;
  const startWorker = async (module = CHAOS_WORKFLOW): Promise<WorkerProcess> => {
    const worker = await startWorkerProcess({
      workflow: module,
      redisUrl: redis.url,
      name: `${keyPrefix}-w${(generation += 1)}`,
      args: [
        ...["--key-prefix", keyPrefix, "--concurrency", String(options.concurrency)],
        ...["--redis-mode", redisMode, "--partitions", String(partitions)],
        ...["--lease-ms", String(options.leaseMs), "--block-ms", "500", "--drain-timeout", "5"],
      ],
    });
    all.push(worker);
    live.push(worker);
    return worker;
  };
  await Promise.all(Array.from({ length: options.workers }, () => startWorker()));
  return {
    redis,
    store,
    orchestrator: new Orchestrator(store, def),
    keyPrefix,
    all,
    live,
    startWorker,
    close: async () => {
      await killAll(all);
      await Promise.all(backends.map((b) => b.close()));
      await redis.stop();
    },
  };
}

const completedSteps = (metrics: Awaited<ReturnType<WorkflowStore["readMetrics"]>>): number =>
  Object.values(metrics.nodes).reduce((sum, node) => sum + node.completed, 0);

function removeLive(cluster: ChaosCluster, worker: WorkerProcess): boolean {
  const index = cluster.live.indexOf(worker);
  if (index < 0) return false;
  cluster.live.splice(index, 1);
  return true;
}

/** Starts `plan.runs` video runs, applies the faults during the load, waits for every run to finish. */
export async function runChaos(
  plan: ChaosPlan,
  log: (line: string) => void = () => undefined,
): Promise<{ cluster: ChaosCluster; runIds: string[]; report: ChaosReport }> {
  if (plan.shards !== undefined && plan.faults.some((fault) => fault.kind !== "freeze-worker")) {
    throw new Error(
      "a sharded chaos plan has worker faults only (Redis faults on a cluster: cluster-failover)",
    );
  }
  const cluster = await startChaosCluster(plan);
  try {
    return await loadUnderFaults(cluster, plan, log);
  } catch (error) {
    // The caller never sees a cluster it could close: stop the workers and Redis here, or
    // their handles keep the test process alive long after the failure.
    await cluster.close();
    throw error;
  }
}

async function loadUnderFaults(
  cluster: ChaosCluster,
  plan: ChaosPlan,
  log: (line: string) => void,
): Promise<{ cluster: ChaosCluster; runIds: string[]; report: ChaosReport }> {
  const { store, orchestrator, redis } = cluster;
  const started = Date.now();
  const runIds: string[] = [];
  for (let i = 0; i < plan.runs; i += 1) {
    const { runId } = await orchestrator.start(
      { video: `chaos-${i}`, maxDelayMs: plan.maxDelayMs },
      { idempotencyKey: `chaos-${i}` },
    );
    runIds.push(runId);
  }
  log(`started ${plan.runs} runs in ${Date.now() - started} ms`);

  const totalSteps = plan.runs * (CHUNKS + 3);
  const stop = new AbortController();
  let finished = 0;
  let stepsDone = 0;
  let lastProgress = { steps: 0, at: Date.now() };
  let maxStallMs = 0;
  const faults: FaultRecord[] = [];
  const sampler = (async () => {
    while (!stop.signal.aborted) {
      try {
        const metrics = await store.readMetrics();
        finished = metrics.runsCompleted + metrics.runsFailed + metrics.runsCancelled;
        const steps = completedSteps(metrics);
        stepsDone = steps;
        const now = Date.now();
        if (steps > lastProgress.steps) {
          maxStallMs = Math.max(maxStallMs, now - lastProgress.at);
          for (const fault of faults)
            if (fault.recoveryMs === null && fault.endedAt > 0 && now >= fault.endedAt)
              fault.recoveryMs = now - fault.endedAt;
          lastProgress = { steps, at: now };
        }
      } catch {
        // Redis is down: the stall goes on.
      }
      await delay(100);
    }
  })();

  let kills = 0;
  let starts = 0;
  let startFailures = 0;
  const replacements: Promise<unknown>[] = [];
  const killer = (async () => {
    while (!stop.signal.aborted) {
      await delay(plan.killEveryMs * (0.5 + Math.random()), undefined, { signal: stop.signal }).catch(
        () => undefined,
      );
      if (stop.signal.aborted) break;
      const victim = cluster.live[Math.floor(Math.random() * cluster.live.length)];
      if (victim === undefined) continue;
      removeLive(cluster, victim);
      victim.signal("SIGKILL");
      await victim.exited;
      kills += 1;
      replacements.push(
        cluster.startWorker().then(
          () => (starts += 1),
          (error: unknown) => {
            startFailures += 1;
            log(`a replacement worker failed to start: ${String(error)}`);
          },
        ),
      );
    }
  })();

  const timeline = (async () => {
    for (const fault of plan.faults) {
      while (stepsDone < fault.at * totalSteps && !stop.signal.aborted)
        await delay(50, undefined, { signal: stop.signal }).catch(() => undefined);
      if (stop.signal.aborted) return;
      const record: FaultRecord = {
        kind: fault.kind,
        stepsBefore: stepsDone,
        recoveryMs: null,
        endedAt: 0,
      };
      log(`${fault.kind} at ${Date.now() - started} ms, ${stepsDone}/${totalSteps} steps committed`);
      if (fault.kind === "freeze-worker") {
        const frozen = cluster.live[0];
        if (frozen === undefined) continue;
        removeLive(cluster, frozen);
        frozen.signal("SIGSTOP");
        await delay(plan.leaseMs + 1500);
        frozen.signal("SIGCONT");
        cluster.live.push(frozen);
      } else {
        await redis.kill();
        if (fault.kind === "redis-outage") await delay(fault.forMs);
        await redis.restart();
      }
      record.endedAt = Date.now();
      faults.push(record);
    }
  })();

  try {
    await waitFor(() => finished >= plan.runs, {
      timeoutMs: plan.timeoutMs,
      intervalMs: 200,
      message: `${plan.runs} chaos runs to finish`,
    });
  } finally {
    stop.abort();
    await Promise.all([sampler, killer, timeline]);
    await Promise.all(replacements);
    for (const worker of cluster.all) if (worker.child.exitCode === null) worker.signal("SIGCONT");
  }
  const durationMs = Date.now() - started;
  const metrics = await store.readMetrics();
  let itemsRedelivered = 0;
  for (const runId of runIds)
    itemsRedelivered += (await store.listItems(runId)).filter((i) => i.attempt > 1).length;
  const report: ChaosReport = {
    runs: plan.runs,
    steps: completedSteps(metrics),
    durationMs,
    workerKills: kills,
    workerStarts: starts,
    workerStartFailures: startFailures,
    leaseReclaims: metrics.leaseReclaims,
    itemsRedelivered,
    commitsRefusedByFencing: countRefusedCommits(cluster.all),
    maxStallMs,
    faults,
  };
  return { cluster, runIds, report };
}

export function countRefusedCommits(workers: readonly WorkerProcess[]): number {
  return workers.reduce(
    (sum, worker) =>
      sum + worker.logs.filter((l) => l.msg === "step not committed" && l.result === "lease-lost").length,
    0,
  );
}

/**
 * What must hold after any fault, read from Redis: every run completed with the right output,
 * each emitting item's commit applied exactly once (one event per item), every item completed,
 * no lease, delayed retry or dead letter left, and the metrics equal to the truth.
 */
export async function verifyVideoRuns(store: WorkflowStore, runIds: readonly string[]): Promise<void> {
  const expectedBytes = Array.from({ length: CHUNKS }, (_, i) => 1000 + i * 10).reduce((a, b) => a + b, 0);
  for (const runId of runIds) {
    const info = await store.getRun(runId);
    assert.ok(info, `run ${runId} exists`);
    assert.equal(info.status, "completed", `run ${runId}: ${JSON.stringify(info.error)}`);
    assert.deepEqual(
      info.outputs.map((o) => o.value),
      [{ url: `https://videos.example/${runId}`, chunks: CHUNKS, bytes: expectedBytes }],
      `run ${runId} output`,
    );
    const events = await store.readEvents(runId, 0);
    const perItem = new Map<string, number>();
    for (const event of events) perItem.set(event.itemId, (perItem.get(event.itemId) ?? 0) + 1);
    assert.ok(
      [...perItem.values()].every((n) => n === 1),
      `run ${runId}: an item's commit was applied more than once: ${JSON.stringify([...perItem])}`,
    );
    assert.equal(events.length, CHUNKS + 1, `run ${runId}: ${CHUNKS} chunk events + 1 published`);
    const encoded = events
      .flatMap((e) => {
        const event = e.event as { type: string; index?: number };
        return event.type === "chunk-encoded" ? [event.index as number] : [];
      })
      .sort((a, b) => a - b);
    assert.deepEqual(
      encoded,
      Array.from({ length: CHUNKS }, (_, i) => i),
      `run ${runId}: every chunk once`,
    );
    assert.deepEqual(
      events.map((e) => e.seq),
      Array.from({ length: events.length }, (_, i) => i + 1),
      `run ${runId}: event sequence without gaps or repeats`,
    );
    const items = await store.listItems(runId);
    const byNode = (node: string) => items.filter((i) => i.node === node && i.status === "completed").length;
    assert.deepEqual(
      ["split", "encode", "assemble", "publish"].map(byNode),
      [1, CHUNKS, 1, 1],
      `run ${runId}: items ${JSON.stringify(items.map((i) => [i.node, i.status]))}`,
    );
    assert.equal(items.length, CHUNKS + 3, `run ${runId}: no stray item`);
  }
  assert.deepEqual(await store.depth(), { ready: 0, inFlight: 0, delayed: 0, dead: 0 }, "queue drained");
  assert.deepEqual(await store.deadLetters(), [], "no dead letter");
  const metrics = await store.readMetrics();
  const n = runIds.length;
  assert.equal(metrics.runsStarted, n, "runsStarted");
  assert.equal(metrics.runsCompleted, n, "runsCompleted");
  assert.equal(metrics.runsFailed, 0, "runsFailed");
  assert.equal(metrics.deadLettered, 0, "deadLettered");
  assert.deepEqual(
    ["split", "encode", "assemble", "publish"].map((node) => metrics.nodes[node]?.completed ?? 0),
    [n, n * CHUNKS, n, n],
    "per-node completed counters equal the number of items",
  );
}

export function formatReport(report: ChaosReport): string {
  const faults = report.faults
    .map(
      (f) =>
        `${f.kind} (after ${f.stepsBefore}/${report.steps} steps): next commit ${f.recoveryMs ?? "?"} ms after it ended`,
    )
    .join("; ");
  return [
    `runs ${report.runs}, steps ${report.steps}, ${Math.round(report.durationMs / 1000)} s`,
    `worker SIGKILLs ${report.workerKills}, restarts ${report.workerStarts} (failed ${report.workerStartFailures})`,
    `lease reclaims ${report.leaseReclaims}, items re-delivered ${report.itemsRedelivered}, commits refused by fencing ${report.commitsRefusedByFencing}`,
    `max stall ${report.maxStallMs} ms; ${faults}`,
  ].join("\n");
}
