/**
 * A Redis Cluster master failing over under load, for test/chaos/: real `floxide worker`
 * processes run short runs (test/chaos/failover.workflow.ts) on a local cluster with replicas;
 * mid-run the master of the workflow's slot is SIGKILLed, its replica promoted and the killed node
 * started again (it rejoins as the new master's replica, as a restarted pod would), optionally
 * with workers SIGKILLed and replaced all along. The figure
 * that tells the durabilities apart is the acknowledged commits the failover lost: steps the
 * workers reported committed (their "step reported" debug lines) more than once, because the
 * commit of the first report was lost and the step ran and committed again.
 */
import assert from "node:assert/strict";
import { setTimeout as delay } from "node:timers/promises";
import { Redis } from "ioredis";
import { pino } from "pino";
import type { Durability } from "../../contract/index.ts";
import { Orchestrator } from "../../worker/engine/index.ts";
import type { StoreBackend } from "../../worker/store/index.ts";
import { openRedisBackend } from "../../worker/store/open-redis.ts";
import failoverWorkflow, { FAILOVER_STEPS, type FailoverInput } from "../chaos/failover.workflow.ts";
import { startRedis, startRedisCluster, type RedisClusterServer, type RedisServer } from "./redis.ts";
import { waitFor } from "./wait.ts";
import { killAll, startWorkerProcess, type WorkerProcess } from "./worker-process.ts";

const WORKFLOW = "test/chaos/failover.workflow.ts";
const WORKERS = 2;
const CONCURRENCY = 16;
const LEASE_MS = 3000;
/** The share of all step executions done when the master is killed. */
const KILL_AT = 0.3;
/** Steps the master commits while its replicas lag, before it is killed (if they run in time). */
const LAGGING_STEPS = 60;

export interface FailoverEnv {
  /** With a replica per master. */
  readonly cluster: RedisClusterServer;
  /** A standalone server away from the cluster: the steps count their executions there. */
  readonly side: RedisServer;
  readonly sideClient: Redis;
}

export interface FailoverPlan {
  readonly durability: Durability;
  readonly runs: number;
  /** The workflow's partitions (default 1); the master killed is partition 0's. */
  readonly partitions?: number;
  /** Stall every replica this long just before the kill (0: a replica in sync, the usual case). */
  readonly laggingReplicaMs?: number;
  /** SIGKILL a random worker about this often (and start another), from the start to the end. */
  readonly killWorkerEveryMs?: number;
  /** Deadline for every run to complete after the failover (default 90 s). */
  readonly timeoutMs?: number;
}

let prefixes = 0;

/** A 3+3 cluster with a short node timeout, and the side Redis the steps count their runs in. */
export async function startFailoverEnv(): Promise<FailoverEnv> {
  // A short node timeout so the failover takes seconds; long enough not to fire under load.
  const cluster = await startRedisCluster({ replicas: 1, nodeTimeoutMs: 3000 });
  const side = await startRedis();
  return { cluster, side, sideClient: new Redis(side.url) };
}

export async function stopFailoverEnv(env: FailoverEnv | undefined): Promise<void> {
  if (env === undefined) return;
  env.sideClient.disconnect();
  await env.side.stop();
  await env.cluster.stop();
}

/** How many times the workers reported each item committed (their "step reported" debug lines). */
function reportsPerItem(workers: readonly WorkerProcess[]): Map<string, number> {
  const reports = new Map<string, number>();
  for (const worker of workers)
    for (const line of worker.logs)
      if (line.msg === "step reported" && line.outcome === "completed") {
        const item = String(line.item);
        reports.set(item, (reports.get(item) ?? 0) + 1);
      }
  return reports;
}

export interface FailoverReport {
  readonly durability: string;
  readonly laggingReplicaMs: number;
  /** Workers SIGKILLed during the run (each replaced). */
  readonly workerKills: number;
  readonly failoverMs: number;
  readonly executedBeforeKill: number;
  readonly stepsCommitted: number;
  readonly stepsReported: number;
  /** Steps the workers reported committed whose commit the failover lost (reported again later). */
  readonly acknowledgedCommitsLost: number;
  /** Steps that stand in Redis but whose result no worker reported (commit not confirmed or errored). */
  readonly committedUnreported: number;
  /** Step executions beyond one per step (lost commits, lost claims, unconfirmed commits). */
  readonly reExecutions: number;
  readonly durationMs: number;
}

/**
 * Runs `plan.runs` runs of the failover workflow with real worker processes of `durability`,
 * kills the master of the workflow's slot once `KILL_AT` of the steps ran (optionally while its
 * replica is cut off for `laggingReplicaMs`, as a partition or a stalled replica would), starts the killed node
 * again, waits for every run and checks each completed with each step committed exactly once.
 */
export async function runFailover(env: FailoverEnv, plan: FailoverPlan): Promise<FailoverReport> {
  const { cluster, side, sideClient } = env;
  const { durability, runs } = plan;
  const partitions = plan.partitions ?? 1;
  const keyPrefix = `failover-${durability}-${(prefixes += 1)}`;
  const backend: StoreBackend = await openRedisBackend(
    { redisUrl: cluster.url, redisMode: "cluster", keyPrefix, partitions, retentionSeconds: 3600 },
    pino({ level: "silent" }),
  );
  const workers: WorkerProcess[] = [];
  const done = new AbortController();
  let killer: Promise<void> = Promise.resolve();
  let workerKills = 0;
  const started = Date.now();
  try {
    const store = backend.forWorkflow(failoverWorkflow.name, failoverWorkflow.version);
    const orchestrator = new Orchestrator(store, failoverWorkflow);
    const input: FailoverInput = { maxDelayMs: 60 };
    const runIds: string[] = [];
    for (let i = 0; i < runs; i += 1) runIds.push((await orchestrator.start(input)).runId);
    // The runs themselves are not what this test loses: every replica has them before work starts.
    await cluster.waitReplicasInSync();
    await sideClient.del("exec:total");
    let generation = 0;
    const startWorker = (): Promise<WorkerProcess> =>
      startWorkerProcess({
        workflow: WORKFLOW,
        redisUrl: cluster.url,
        name: `${keyPrefix}-w${(generation += 1)}`,
        args: [
          ...["--redis-mode", "cluster", "--key-prefix", keyPrefix, "--durability", durability],
          ...["--partitions", String(partitions)],
          ...["--concurrency", String(CONCURRENCY), "--lease-ms", String(LEASE_MS), "--block-ms", "500"],
        ],
        // debug: one "step reported" line per step (reportsPerItem).
        env: { FLOXIDE_TEST_SIDE_EFFECTS: side.url, FLOXIDE_LOG_LEVEL: "debug" },
      });
    // All at once, so the kill meets every worker busy.
    const live = await Promise.all(Array.from({ length: WORKERS }, startWorker));
    workers.push(...live);
    if (plan.killWorkerEveryMs !== undefined) {
      // SIGKILL a random worker now and then and start a replacement, until the runs are done.
      const every = plan.killWorkerEveryMs;
      killer = (async () => {
        while (!done.signal.aborted) {
          await delay(every * (0.5 + Math.random()), undefined, { signal: done.signal }).catch(
            () => undefined,
          );
          if (done.signal.aborted) return;
          const victim = live.splice(Math.floor(Math.random() * live.length), 1)[0];
          if (victim !== undefined) {
            victim.signal("SIGKILL");
            await victim.exited;
            workerKills += 1;
          }
          const replacement = await startWorker();
          workers.push(replacement);
          live.push(replacement);
        }
      })();
    }
    const total = runs * FAILOVER_STEPS.length;
    const executed = async (): Promise<number> => Number((await sideClient.get(`exec:total`)) ?? 0);
    await waitFor(async () => (await executed()) >= total * KILL_AT, {
      timeoutMs: 60_000,
      intervalMs: 20,
      message: `${KILL_AT * 100} % of the steps to run`,
    });
    // Partition 0's tag (keys.ts): with P > 1 the other partitions on that master fail over too.
    const master = await cluster.masterOf(`{${keyPrefix}:${failoverWorkflow.name}}`);
    const laggingReplicaMs = plan.laggingReplicaMs ?? 0;
    if (laggingReplicaMs > 0) {
      // The replicas stop, the master's links to them close (what was sent before still arrives),
      // and the master keeps taking commits no replica gets for a while; then it dies.
      const { awake } = await cluster.stallReplicas(laggingReplicaMs);
      void awake.catch(() => undefined);
      await cluster.cutReplication(master);
      const stalledAt = await executed();
      await waitFor(async () => (await executed()) >= stalledAt + LAGGING_STEPS, {
        timeoutMs: laggingReplicaMs / 2,
        intervalMs: 10,
        message: `${LAGGING_STEPS} steps to run while the replicas lag`,
      }).catch(() => undefined);
    }
    const executedBeforeKill = await executed();
    const { tookMs: failoverMs } = await cluster.killMaster(master);
    await cluster.restartNode(master);
    // None wedged: every run completes (re-executed from its lease where its commit was lost).
    await waitFor(async () => (await store.readMetrics()).runsCompleted >= runs, {
      timeoutMs: plan.timeoutMs ?? 90_000,
      intervalMs: 200,
      message: `all ${runs} runs to complete after the failover (${durability})`,
    });
    done.abort();
    await killer;
    const metrics = await store.readMetrics();
    assert.equal(metrics.runsCompleted, runs, "each run completed once");
    assert.equal(metrics.runsFailed, 0);
    assert.equal(metrics.deadLettered, 0);
    let stepsCommitted = 0;
    const committedItems: string[] = [];
    for (const runId of runIds) {
      assert.equal((await store.getRun(runId))?.status, "completed", `run ${runId}`);
      const { events } = await orchestrator.context(runId);
      const nodes = events.map((record) => (record.event as { node: string }).node).sort();
      committedItems.push(...events.map((record) => record.itemId));
      // Every step's committed effects applied exactly once, whatever ran twice.
      assert.deepEqual(nodes, [...FAILOVER_STEPS], `events of run ${runId}`);
      stepsCommitted += nodes.length;
    }
    const depth = await store.depth();
    assert.equal(depth.ready + depth.inFlight + depth.delayed + depth.dead, 0, "nothing left in the queue");
    const reports = reportsPerItem(workers);
    let reported = 0;
    let lost = 0;
    for (const count of reports.values()) {
      reported += count;
      lost += count - 1;
    }
    const executions = await executed();
    return {
      durability,
      laggingReplicaMs,
      workerKills,
      failoverMs,
      executedBeforeKill,
      stepsCommitted,
      stepsReported: reported,
      acknowledgedCommitsLost: lost,
      committedUnreported: committedItems.filter((item) => !reports.has(item)).length,
      reExecutions: executions - total,
      durationMs: Date.now() - started,
    };
  } finally {
    done.abort();
    await killer.catch(() => undefined);
    await killAll(workers);
    await backend.close();
  }
}
