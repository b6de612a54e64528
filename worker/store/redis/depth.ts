/**
 * Queue depth in O(1) per version and partition (LLEN / ZCARD), readable with any ioredis client:
 * the operator calls these with its own connection to scale each version's worker Deployment.
 * Items live in the queue keys of their version and partition (keys.ts), so the reader first
 * reads the registered versions (`versions`) of every partition, then each one's depth: two
 * pipelined round trips per Cluster node (one server: two in all), however many workflows and
 * partitions. Replies are decoded by schema.
 */
import { FloxideError } from "../../sdk/index.ts";
import type { PartitionBacklog, QueueDepth, Rollout, VersionBacklog, WorkflowVersions } from "../types.ts";
import { totalDepth } from "../versions.ts";
import type { RedisClient } from "./connection.ts";
import { groupByNode } from "./cluster-slots.ts";
import { checkPartitions, decodeLayoutRecord, partitionMismatch, WorkflowKeys } from "./keys.ts";
import { decodeReply, VersionDepthReplySchema } from "./reply-schemas.ts";
import { decodeVersionsHash } from "./rollout.ts";

export interface QueueDepthOptions {
  /** The key prefix the workers use (default `floxide`). */
  readonly prefix?: string;
  /**
   * Each workflow's partition count (keys.ts; default 1): one number for all, or per workflow. A
   * workflow whose keys record another count is refused (partitionMismatch).
   */
  readonly partitions?: number | ReadonlyMap<string, number>;
}

type Pipeline = ReturnType<RedisClient["pipeline"]>;

/** Runs a pipeline; any command error (or a lost connection) is a StoreUnavailable error. */
export async function execPipeline(pipeline: Pipeline, what: string): Promise<unknown[]> {
  let replies: [Error | null, unknown][] | null;
  try {
    replies = await pipeline.exec();
  } catch (error) {
    throw new FloxideError("StoreUnavailable", `${what}: ${(error as Error).message}`, {}, { cause: error });
  }
  if (replies === null) throw new FloxideError("StoreUnavailable", `${what}: transaction aborted`);
  return replies.map(([error, value]) => {
    if (error !== null) {
      throw new FloxideError("StoreUnavailable", `${what}: ${error.message}`, {}, { cause: error });
    }
    return value;
  });
}

/**
 * A workflow's versions with their depth summed over its partitions, its dead letters (shared by
 * all versions), and each partition's backlog (a skew shows there).
 */
export type WorkflowVersionDepths = WorkflowVersions & {
  readonly dead: number;
  readonly partitions: readonly PartitionBacklog[];
};

function depthCommands(pipeline: Pipeline, keys: WorkflowKeys, version: string): Pipeline {
  return pipeline
    .llen(keys.versionKey("ready", version))
    .zcard(keys.versionKey("leases", version))
    .zcard(keys.versionKey("delayed", version));
}

interface PartitionRead {
  readonly keys: WorkflowKeys;
  readonly configured: number;
  readonly rollout: Rollout;
  readonly since: Map<string, number>;
  readonly dead: number;
  readonly layout: string | null;
  versions: VersionBacklog[];
}

/** Reads the partitions on one node: two pipelines (the `versions` hashes, then the depths). */
async function readOnNode(
  redis: RedisClient,
  parts: readonly { keys: WorkflowKeys; configured: number }[],
): Promise<PartitionRead[]> {
  const what = parts.map(({ keys }) => keys.base).join(", ");
  const hashes = await execPipeline(
    parts.reduce(
      (p, { keys }) => p.hgetall(keys.key("versions")).llen(keys.key("dead")).get(keys.key("layout")),
      redis.pipeline(),
    ),
    `versions of ${what}`,
  );
  const reads: PartitionRead[] = parts.map(({ keys, configured }, i) => {
    const hash = hashes[3 * i] as Record<string, string>;
    const layout = hashes[3 * i + 2];
    return {
      keys,
      configured,
      dead: Number(hashes[3 * i + 1]),
      layout: typeof layout === "string" ? layout : null,
      versions: [],
      ...decodeVersionsHash(keys.key("versions"), hash),
    };
  });
  if (!reads.some(({ since }) => since.size > 0)) return reads;
  const pipeline = reads.reduce(
    (p, { keys, since }) => [...since.keys()].reduce((q, v) => depthCommands(q, keys, v), p),
    redis.pipeline(),
  );
  const depths = await execPipeline(pipeline, `version depths of ${what}`);
  let at = 0;
  for (const read of reads) {
    for (const [version, first] of read.since) {
      const [ready, inFlight, delayed] = decodeReply(
        VersionDepthReplySchema,
        depths.slice(at, at + 3),
        `queue depth of '${read.keys.base}' version '${version}'`,
      );
      at += 3;
      read.versions.push({ version, since: first, ready, inFlight, delayed });
    }
  }
  return reads;
}

/** A workflow's partitions merged: the rollout is partition 0's (written to all), depths summed. */
function mergePartitions(reads: readonly PartitionRead[]): WorkflowVersionDepths | FloxideError {
  const versions = new Map<string, VersionBacklog>();
  for (const read of reads) {
    const recorded = read.layout === null ? null : decodeLayoutRecord(read.layout).partitions;
    if (recorded !== null && recorded !== read.configured) {
      return partitionMismatch(read.keys.workflow, read.keys.key("layout"), recorded, read.configured);
    }
    for (const v of read.versions) {
      const seen = versions.get(v.version);
      versions.set(
        v.version,
        seen === undefined
          ? v
          : {
              version: v.version,
              since: Math.min(seen.since, v.since),
              ready: seen.ready + v.ready,
              inFlight: seen.inFlight + v.inFlight,
              delayed: seen.delayed + v.delayed,
            },
      );
    }
  }
  const first = reads.find((read) => read.keys.partition === 0) as PartitionRead;
  return {
    rollout: first.rollout,
    // Oldest first; versions first used in the same millisecond by name, whatever partition saw them.
    versions: [...versions.values()].sort(
      (a, b) => a.since - b.since || (a.version < b.version ? -1 : a.version > b.version ? 1 : 0),
    ),
    dead: reads.reduce((sum, read) => sum + read.dead, 0),
    partitions: reads.map((read) => ({
      partition: read.keys.partition,
      ...totalDepth({ versions: read.versions, dead: read.dead }),
    })),
  };
}

const partitionsOf = (options: QueueDepthOptions, workflow: string): number => {
  const { partitions } = options;
  return checkPartitions(typeof partitions === "number" ? partitions : (partitions?.get(workflow) ?? 1));
};

/**
 * The versions of each workflow with their queue depth summed over its partitions (or the error
 * that refuses it: another recorded partition count). Every partition on one node is read with
 * the same two pipelines: two round trips per node, all nodes at once, however many workflows.
 */
export async function readWorkflowVersionsOrErrors(
  redis: RedisClient,
  workflows: readonly string[],
  options: QueueDepthOptions = {},
): Promise<Map<string, WorkflowVersionDepths | FloxideError>> {
  const unique = [...new Set(workflows)];
  const parts = unique.flatMap((workflow) => {
    const configured = partitionsOf(options, workflow);
    return new WorkflowKeys(workflow, options.prefix)
      .partitions(configured)
      .map((keys) => ({ keys, configured }));
  });
  const groups = groupByNode(redis, parts, ({ keys }) => keys.base);
  const reads = (await Promise.all(groups.map((group) => readOnNode(redis, group)))).flat();
  return new Map(
    unique.map((workflow) => [
      workflow,
      mergePartitions(
        reads
          .filter((read) => read.keys.workflow === workflow)
          .sort((a, b) => a.keys.partition - b.keys.partition),
      ),
    ]),
  );
}

/** As readWorkflowVersionsOrErrors; the first refused workflow's error is thrown. */
export async function readWorkflowVersions(
  redis: RedisClient,
  workflows: readonly string[],
  options: QueueDepthOptions = {},
): Promise<Map<string, WorkflowVersionDepths>> {
  const found = await readWorkflowVersionsOrErrors(redis, workflows, options);
  const result = new Map<string, WorkflowVersionDepths>();
  for (const [workflow, depths] of found) {
    if (depths instanceof FloxideError) throw depths;
    result.set(workflow, depths);
  }
  return result;
}

/** Ready, in-flight (leased), delayed (retrying) and dead-lettered items of one workflow, all versions. */
export async function readQueueDepth(
  redis: RedisClient,
  workflow: string,
  options: QueueDepthOptions = {},
): Promise<QueueDepth> {
  return (await readQueueDepths(redis, [workflow], options)).get(workflow) as QueueDepth;
}

/** The depth of many workflows (all versions and partitions each), in two round trips per node. */
export async function readQueueDepths(
  redis: RedisClient,
  workflows: readonly string[],
  options: QueueDepthOptions = {},
): Promise<Map<string, QueueDepth>> {
  const versions = await readWorkflowVersions(redis, workflows, options);
  return new Map([...versions].map(([workflow, found]) => [workflow, totalDepth(found)]));
}

/** One version's backlog in one round trip (a store's own depth). */
export async function readVersionDepth(
  redis: RedisClient,
  keys: WorkflowKeys,
): Promise<Omit<VersionBacklog, "since">> {
  const replies = await execPipeline(
    depthCommands(redis.pipeline(), keys, keys.version),
    `queue depth of '${keys.workflow}' version '${keys.version}'`,
  );
  const [ready, inFlight, delayed] = decodeReply(VersionDepthReplySchema, replies, "version depth");
  return { version: keys.version, ready, inFlight, delayed };
}
