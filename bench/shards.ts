/**
 * What predicts one workflow's throughput on a Redis Cluster (issue 15): on this machine the
 * shards share its cores, so throughput itself cannot grow with them; what can be measured is
 * what each master spends per step. The ceiling loop (ceiling.ts: claim -> commit, no node code)
 * runs noop1 against a standalone Redis (P = 1), then a 3-master cluster with P = 1 and P = 6.
 * Per master: its Redis CPU (INFO) over the 10-90 % window and the steps of the partitions it
 * serves; the per-shard cost must stay near the standalone one, the steps spread evenly (max/mean),
 * and the projected ceiling is the sum over masters of 1e6 / (µs per step on that master): the
 * steps/s the cluster would do with a core per master.
 */
import { Redis } from "ioredis";
import { pino } from "pino";
import { Orchestrator } from "../worker/engine/index.ts";
import { openRedisBackend } from "../worker/store/open-redis.ts";
import { keySlot } from "../worker/store/redis/key-slot.ts";
import { partitionOf, WorkflowKeys } from "../worker/store/redis/keys.ts";
import { startRedis, startRedisCluster, type RedisClusterNode } from "../test/support/redis.ts";
import { loop, PAYLOAD } from "./ceiling.ts";
import { diff, readCounters, type RedisCounters } from "./redis-info.ts";
import { BENCH_WORKFLOWS } from "./workflows.ts";
import { scriptArgs } from "../common/script-args.ts";

export interface ShardCost {
  /** host:port of the master. */
  readonly master: string;
  /** Steps of the partitions it serves, over the whole run (the balance is taken from these). */
  readonly steps: number;
  /** Its Redis CPU per step of its own partitions over the 10-90 % window, its idle CPU taken off (NaN when it served none). */
  readonly redisCpuUsPerStep: number;
  /** Commands it ran per step over the window (inside functions too). */
  readonly commandsPerStep: number;
}

export interface ShardsLayout {
  readonly topology: "standalone" | "cluster";
  readonly partitions: number;
  readonly shards: readonly ShardCost[];
  /** Max over mean of the masters' steps (1: perfectly even). */
  readonly balance: number;
  /** Sum over the masters that served steps of 1e6 / their µs per step. */
  readonly projectedCeiling: number;
  /** All masters' Redis CPU over the window per step of the window (idle CPU taken off): the pooled per-shard cost. */
  readonly pooledUsPerStep: number;
}

export interface ShardsResult {
  readonly runs: number;
  readonly repeats: number;
  readonly layouts: readonly ShardsLayout[];
}

interface Target {
  readonly topology: "standalone" | "cluster";
  readonly url: string;
  readonly redisMode: "standalone" | "cluster";
  readonly masters: readonly RedisClusterNode[];
  readonly partitions: number;
}

const addressOf = (node: RedisClusterNode): string => `${node.host}:${node.port}`;
const IDLE_SAMPLE_MS = 2000;
const diffAll = (a: readonly RedisCounters[], b: readonly RedisCounters[]): RedisCounters[] =>
  a.map((counters, m) => diff(counters, b[m] as RedisCounters));

async function measure(target: Target, runs: number, loops: number): Promise<ShardsLayout> {
  const def = BENCH_WORKFLOWS.noop1;
  const admins = target.masters.map((node) => new Redis({ host: node.host, port: node.port }));
  const keyPrefix = `shards-${target.topology}-${target.partitions}`;
  const backend = await openRedisBackend(
    {
      redisUrl: target.url,
      redisMode: target.redisMode,
      keyPrefix,
      partitions: target.partitions,
      retentionSeconds: 3600,
    },
    pino({ level: "silent" }),
  );
  try {
    await Promise.all(admins.map((admin) => admin.flushall()));
    // Which master serves each partition: the one owning its tag's slot (CLUSTER SHARDS would say
    // the same; SLOTS is on every Redis >= 3).
    const read = (): Promise<RedisCounters[]> => Promise.all(admins.map((admin) => readCounters(admin)));
    const owner = new Map<number, number>();
    const slotsOf = async (admin: Redis): Promise<[number, number, [string, number]][]> =>
      (await admin.call("CLUSTER", "SLOTS")) as [number, number, [string, number]][];
    const ranges = target.topology === "cluster" ? await slotsOf(admins[0] as Redis) : [];
    new WorkflowKeys(def.name, keyPrefix).partitions(target.partitions).forEach((keys, partition) => {
      if (target.topology === "standalone") return owner.set(partition, 0);
      const slot = keySlot(keys.base);
      const range = ranges.find(([from, to]) => slot >= from && slot <= to);
      const at = range === undefined ? -1 : target.masters.findIndex((node) => node.port === range[2][1]);
      if (at < 0) throw new Error(`no master serves slot ${slot}`);
      return owner.set(partition, at);
    });
    const store = backend.forWorkflow(def.name);
    const orchestrator = new Orchestrator(store, def);
    for (let i = 0; i < runs; i += 500) {
      const batch = Math.min(500, runs - i);
      await Promise.all(Array.from({ length: batch }, () => orchestrator.start({ payload: PAYLOAD })));
    }
    // Each master's CPU while idle (cluster bus, cron), taken off its window's CPU below: what a
    // step costs, not what the server spends anyway in the few seconds measured.
    const idleFrom = await read();
    const idleStart = performance.now();
    await new Promise((resolve) => setTimeout(resolve, IDLE_SAMPLE_MS));
    const idleRate = diffAll(idleFrom, await read()).map(
      (counters) => counters.cpuSeconds / ((performance.now() - idleStart) / 1000),
    );
    const steps = target.masters.map(() => 0);
    const total = target.masters.map(() => 0);
    let done = 0;
    let window: { counts: number[]; t0: number; before: Promise<RedisCounters[]> } | null = null;
    let measured: Promise<{ counts: number[]; seconds: number; used: RedisCounters[] }> | null = null;
    await Promise.all(
      Array.from({ length: loops }, (_, i) =>
        loop(store, "noop1", `shards/${i}`, (claim) => {
          done += 1;
          const master = owner.get(partitionOf(claim.item.runId, target.partitions)) ?? 0;
          steps[master] = (steps[master] ?? 0) + 1;
          total[master] = (total[master] ?? 0) + 1;
          if (window === null && done >= runs * 0.1) {
            window = { counts: [...steps], t0: performance.now(), before: read() };
          } else if (window !== null && measured === null && done >= runs * 0.9) {
            const { counts: from, t0, before } = window;
            const counts = steps.map((n, m) => n - (from[m] ?? 0));
            const seconds = (performance.now() - t0) / 1000;
            measured = Promise.all([before, read()]).then(([a, b]) => ({
              counts,
              seconds,
              used: diffAll(a, b),
            }));
          }
        }),
      ),
    );
    if (measured === null) throw new Error("the loop ended before 90% of the steps");
    const { counts, seconds, used } = await (measured as Promise<{
      counts: number[];
      seconds: number;
      used: RedisCounters[];
    }>);
    const shards = target.masters.map((node, m) => ({
      master: addressOf(node),
      steps: total[m] ?? 0,
      redisCpuUsPerStep:
        (Math.max(0, (used[m]?.cpuSeconds ?? 0) - (idleRate[m] ?? 0) * seconds) * 1e6) / (counts[m] ?? 0),
      commandsPerStep: (used[m]?.commands ?? 0) / (counts[m] ?? 0),
    }));
    const serving = shards.filter((shard) => shard.steps > 0);
    const mean = shards.reduce((sum, shard) => sum + shard.steps, 0) / shards.length;
    const busy = used.reduce(
      (sum, counters, m) =>
        sum + ((counts[m] ?? 0) > 0 ? Math.max(0, counters.cpuSeconds - (idleRate[m] ?? 0) * seconds) : 0),
      0,
    );
    return {
      topology: target.topology,
      partitions: target.partitions,
      shards,
      balance: Math.max(...shards.map((shard) => shard.steps)) / mean,
      projectedCeiling: serving.reduce((sum, shard) => sum + 1e6 / shard.redisCpuUsPerStep, 0),
      pooledUsPerStep: (busy * 1e6) / counts.reduce((sum, n) => sum + n, 0),
    };
  } finally {
    await backend.close();
    for (const admin of admins) admin.disconnect();
  }
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

/** One layout's repetitions: per master the median µs and commands per step (the steps are the same). */
function medianLayout(repetitions: readonly ShardsLayout[]): ShardsLayout {
  const [first] = repetitions;
  if (first === undefined) throw new Error("no repetition");
  const shards = first.shards.map((shard, m) => ({
    ...shard,
    redisCpuUsPerStep: median(repetitions.map((layout) => layout.shards[m]?.redisCpuUsPerStep ?? NaN)),
    commandsPerStep: median(repetitions.map((layout) => layout.shards[m]?.commandsPerStep ?? NaN)),
  }));
  const serving = shards.filter((shard) => shard.steps > 0);
  return {
    ...first,
    shards,
    balance: median(repetitions.map((layout) => layout.balance)),
    pooledUsPerStep: median(repetitions.map((layout) => layout.pooledUsPerStep)),
    projectedCeiling: serving.reduce((sum, shard) => sum + 1e6 / shard.redisCpuUsPerStep, 0),
  };
}

/**
 * Standalone P = 1, then a 3-master cluster with P = 1 and P = 6 (servers started here), the
 * three in turn `repeats` times; each master's figures are the medians (a window is ~2 s: noisy).
 */
export async function runShards(options: {
  runs: number;
  loops: number;
  repeats: number;
}): Promise<ShardsResult> {
  const standalone = await startRedis();
  const cluster = await startRedisCluster({ masters: 3 });
  try {
    const { port } = new URL(standalone.url);
    const single: RedisClusterNode = { host: "127.0.0.1", port: Number(port) };
    const targets: Target[] = [
      {
        topology: "standalone",
        url: standalone.url,
        redisMode: "standalone",
        masters: [single],
        partitions: 1,
      },
      ...[1, 6].map((partitions): Target => ({
        topology: "cluster",
        url: cluster.url,
        redisMode: "cluster",
        masters: cluster.nodes,
        partitions,
      })),
    ];
    const repetitions: ShardsLayout[][] = targets.map(() => []);
    for (let r = 0; r < options.repeats; r += 1) {
      for (const [t, target] of targets.entries()) {
        repetitions[t]?.push(await measure(target, options.runs, options.loops));
      }
    }
    const layouts = repetitions.map(medianLayout);
    return { runs: options.runs, repeats: options.repeats, layouts };
  } finally {
    await cluster.stop();
    await standalone.stop();
  }
}

/**
 * What `npm run bench` and this file alone run: 30,000 runs make each master's 10-90 % window of
 * P = 6 about 8,000 steps (with 10,000 runs it lasted ~0.5 s, and the masters' CPU readings swung
 * by +-15 %).
 */
export const shardsOptions = (quick: boolean): { runs: number; loops: number; repeats: number } => ({
  runs: quick ? 2000 : 30_000,
  loops: 64,
  repeats: quick ? 1 : 3,
});

/** The lines `npm run bench` prints. */
export function describeShards(result: ShardsResult): string {
  const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toFixed(digits) : "-");
  const [standalone] = result.layouts;
  const lines = result.layouts.map((layout) => {
    const perShard = layout.shards
      .map(
        (shard) =>
          `${shard.master} ${shard.steps} steps ${fmt(shard.redisCpuUsPerStep, 1)} µs ${fmt(shard.commandsPerStep, 1)} cmds`,
      )
      .join(", ");
    const serving = layout.shards.filter((shard) => shard.steps > 0);
    const base = standalone?.pooledUsPerStep ?? NaN;
    const vsStandalone =
      standalone === undefined || layout === standalone
        ? ""
        : `; per-shard cost ${serving
            .map((shard) => fmt((shard.redisCpuUsPerStep / base) * 100))
            .join("/")}% of standalone, all masters ${fmt(layout.pooledUsPerStep, 1)} µs/step = ` +
          `${fmt((layout.pooledUsPerStep / base) * 100)}%`;
    return (
      `shards ${layout.topology} P=${layout.partitions} (noop1 ceiling loop, ${result.runs} runs, medians of ${result.repeats}): ${perShard}; ` +
      `balance max/mean ${fmt(layout.balance, 2)}${vsStandalone}; ` +
      `projected ceiling with ${serving.length} shard(s) ${fmt(layout.projectedCeiling)} steps/s`
    );
  });
  return `${lines.join("\n")}\n`;
}

// `node scripts/run.mjs bench/shards.ts [--quick]` runs it alone.
if (import.meta.url === `file://${process.argv[1]}`) {
  const usage =
    "usage: node scripts/run.mjs bench/shards.ts [--quick]\n" +
    "  the shards case of npm run bench alone: per-master Redis CPU per step, balance, projected ceiling\n";
  const quick = scriptArgs(usage, { flags: ["--quick"] }).includes("--quick");
  process.stdout.write(describeShards(await runShards(shardsOptions(quick))));
}
