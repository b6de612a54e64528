/**
 * The workers of a workflow with what each holds: its liveness record (liveness-reader.ts's
 * decoding, by the Redis clock) and its in-flight items, each with the age of its lease (since
 * the claim, from the item's record) and its deadline. Read-only, three round trips: the versions,
 * the liveness and lease keys in one MULTI (per partition: liveness lives in partition 0, leases in
 * each), then one HGET per in-flight item (bounded by the workflow's total concurrency, not its
 * history).
 */
import { decodeItem } from "./redis/codec.ts";
import type { RedisClient } from "./redis/connection.ts";
import { execPipeline } from "./redis/depth.ts";
import { DEFAULT_PREFIX, partitionOf, WorkflowKeys } from "./redis/keys.ts";
import { versionField } from "./redis/rollout.ts";
import { decodeLivenessEntries } from "./liveness-reader.ts";
import type { WorkerLiveness, WorkItem } from "./types.ts";

export interface InFlightItem {
  readonly item: WorkItem;
  /** The id the lease was taken under: a worker pool claims as `<pool id>/<slot>`. */
  readonly leaseWorkerId: string;
  readonly deadline: number;
  /** When the lease was taken (the item record's last update), null if the record is gone. */
  readonly claimedAt: number | null;
}

export interface WorkerView {
  readonly workerId: string;
  /** Null for a worker that holds leases but whose liveness expired (a dead worker's leases). */
  readonly liveness: WorkerLiveness | null;
  readonly items: readonly InFlightItem[];
}

export interface WorkersReading {
  readonly now: number;
  readonly workers: readonly WorkerView[];
  readonly malformed: readonly string[];
}

/** One partition's leases, with the Redis clock and (partition 0) the liveness hash (one MULTI). */
async function readPartitionLeases(
  redis: RedisClient,
  keys: WorkflowKeys,
): Promise<{
  time: [string, string];
  workersHash: Record<string, string>;
  leaseItems: Record<string, string>;
  leaseFlat: string[];
}> {
  // Every registered version's leases (each version has its own lease keys: keys.ts).
  const versionsHash = await redis.hgetall(keys.key("versions"));
  const versions = Object.keys(versionsHash)
    .filter((field) => field.startsWith(versionField("")))
    .map((field) => field.slice(versionField("").length));
  if (versions.length === 0) versions.push(keys.version);
  let pipeline = redis.multi().time().hgetall(keys.key("workers"));
  for (const version of versions)
    pipeline = pipeline
      .hgetall(keys.versionKey("lease-items", version))
      .zrange(keys.versionKey("leases", version), "0", "-1", "WITHSCORES");
  const replies = await execPipeline(pipeline, `workers of '${keys.workflow}' (${keys.base})`);
  const [time, workersHash] = replies as [[string, string], Record<string, string>];
  const leaseItems: Record<string, string> = {};
  const leaseFlat: string[] = [];
  for (let i = 0; i < versions.length; i += 1) {
    Object.assign(leaseItems, replies[2 + 2 * i] as Record<string, string>);
    for (const entry of replies[3 + 2 * i] as string[]) leaseFlat.push(entry);
  }
  return { time, workersHash, leaseItems, leaseFlat };
}

export async function readWorkersWithLeases(
  redis: RedisClient,
  workflow: string,
  prefix: string = DEFAULT_PREFIX,
  partitions = 1,
): Promise<WorkersReading> {
  const all = new WorkflowKeys(workflow, prefix).partitions(partitions);
  // Liveness lives in partition 0, leases in every partition (keys.ts).
  const reads = await Promise.all(all.map((keys) => readPartitionLeases(redis, keys)));
  const { time, workersHash } = reads[0] as Awaited<ReturnType<typeof readPartitionLeases>>;
  const leaseItems: Record<string, string> = Object.assign({}, ...reads.map((read) => read.leaseItems));
  const leaseFlat = reads.flatMap((read) => read.leaseFlat);
  const now = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
  const liveness = decodeLivenessEntries(Object.entries(workersHash).flat(), now);
  const malformed = [...liveness.malformed];
  const deadlines = new Map<string, number>();
  for (let i = 0; i + 1 < leaseFlat.length; i += 2)
    deadlines.set(leaseFlat[i] as string, Number(leaseFlat[i + 1]));

  const leases: { workerId: string; item: WorkItem; deadline: number }[] = [];
  for (const [token, value] of Object.entries(leaseItems)) {
    const nl = value.indexOf("\n");
    try {
      if (nl < 0) throw new Error("no worker id");
      leases.push({
        workerId: value.slice(0, nl),
        item: decodeItem(value.slice(nl + 1)),
        deadline: deadlines.get(token) ?? 0,
      });
    } catch (error) {
      malformed.push(`lease ${token}: ${(error as Error).message}`);
    }
  }
  // One pipeline per partition holding leases (a pipeline stays on one Cluster node).
  const records: unknown[] = [];
  await Promise.all(
    all.map(async (keys) => {
      const mine = leases.flatMap(({ item }, index) =>
        partitionOf(item.runId, partitions) === keys.partition ? [{ item, index }] : [],
      );
      if (mine.length === 0) return;
      const replies = await execPipeline(
        mine.reduce(
          (pipeline, { item }) => pipeline.hget(keys.run("run", item.runId), `i:${item.id}`),
          redis.pipeline(),
        ),
        `item records of '${workflow}'`,
      );
      mine.forEach(({ index }, i) => {
        records[index] = replies[i];
      });
    }),
  );
  const live = new Set(liveness.workers.map((worker) => worker.workerId));
  // A pool's slots claim as `<pool id>/<slot>` (engine/pool.ts): file them under the pool.
  const holderOf = (leaseWorkerId: string): string => {
    const slash = leaseWorkerId.lastIndexOf("/");
    return slash > 0 && live.has(leaseWorkerId.slice(0, slash))
      ? leaseWorkerId.slice(0, slash)
      : leaseWorkerId;
  };
  const byWorker = new Map<string, InFlightItem[]>();
  leases.forEach(({ workerId, item, deadline }, index) => {
    const record = records[index];
    const claimedAt = typeof record === "string" ? Number(record.split("\t")[2]) : NaN;
    const holder = holderOf(workerId);
    const list = byWorker.get(holder) ?? [];
    list.push({
      item,
      leaseWorkerId: workerId,
      deadline,
      claimedAt: Number.isFinite(claimedAt) ? claimedAt : null,
    });
    byWorker.set(holder, list);
  });
  const ids = new Set([...liveness.workers.map((worker) => worker.workerId), ...byWorker.keys()]);
  const workers = [...ids].sort().map((workerId) => ({
    workerId,
    liveness: liveness.workers.find((worker) => worker.workerId === workerId) ?? null,
    items: byWorker.get(workerId) ?? [],
  }));
  return { now, workers, malformed };
}
