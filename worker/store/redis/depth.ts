/**
 * Queue depth in O(1) per version and partition (LLEN / ZCARD), readable with any ioredis client:
 * the operator calls these with its own connection to scale each version's worker Deployment.
 * Items live in the queue keys of their version and partition (keys.ts): one read-depth call per
 * partition reads its registered versions (`versions`) and each one's depth, all calls sent at
 * once: one round trip per Cluster node (one server: one in all), however many workflows and
 * partitions. Replies are decoded by schema.
 */
import { FloxideError } from "../../sdk/index.ts";
import type { PartitionBacklog, QueueDepth, Rollout, VersionBacklog, WorkflowVersions } from "../types.ts";
import { totalDepth } from "../versions.ts";
import type { RedisClient } from "./connection.ts";
import { checkPartitions, decodeLayoutRecord, partitionMismatch, WorkflowKeys } from "./keys.ts";
import { decodeReply, VersionDepthReplySchema } from "./reply-schemas.ts";
import { decodeVersionsHash } from "./rollout.ts";
import { keysFor, runScript } from "./scripts.ts";

export interface QueueDepthOptions {
  /** The key prefix the workers use (default `floxide`). */
  readonly prefix?: string;
  /**
   * The workflows' partition count (keys.ts; default 1). A workflow whose keys record another
   * count is refused (partitionMismatch).
   */
  readonly partitions?: number;
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
  readonly dead: number;
  readonly layout: string | null;
  readonly versions: VersionBacklog[];
}

/** One partition's versions, depths, dead letters and layout record: one read-depth call. */
async function readPartition(
  redis: RedisClient,
  keys: WorkflowKeys,
  configured: number,
): Promise<PartitionRead> {
  const reply = await runScript(redis, "read-depth", keysFor(keys, "read-depth"), [keys.base, 0]);
  const what = `queue depth of '${keys.base}'`;
  if (!Array.isArray(reply) || !Array.isArray(reply[0]) || !Array.isArray(reply[3])) {
    throw new FloxideError("StoreUnavailable", `${what}: unexpected reply ${JSON.stringify(reply)}`);
  }
  const [flat, dead, layout, depths] = reply as [unknown[], unknown, unknown, unknown[]];
  const hash: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) hash[String(flat[i])] = String(flat[i + 1]);
  const { rollout, since } = decodeVersionsHash(keys.key("versions"), hash);
  const versions = depths.map((entry) => {
    const [version, ...counts] = Array.isArray(entry) ? (entry as unknown[]) : [];
    const [ready, inFlight, delayed] = decodeReply(
      VersionDepthReplySchema,
      counts,
      `${what} version '${String(version)}'`,
    );
    return { version: String(version), since: since.get(String(version)) ?? 0, ready, inFlight, delayed };
  });
  return {
    keys,
    configured,
    rollout,
    dead: Number(dead),
    layout: typeof layout === "string" ? layout : null,
    versions,
  };
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

/**
 * The versions of each workflow with their queue depth summed over its partitions (or the error
 * that refuses it: another recorded partition count). One read-depth call per partition, all sent
 * at once: one round trip per node (the calls to one node go out together on its connection),
 * however many workflows, partitions and versions.
 */
export async function readWorkflowVersionsOrErrors(
  redis: RedisClient,
  workflows: readonly string[],
  options: QueueDepthOptions = {},
): Promise<Map<string, WorkflowVersionDepths | FloxideError>> {
  const unique = [...new Set(workflows)];
  const parts = unique.flatMap((workflow) => {
    const configured = checkPartitions(options.partitions ?? 1);
    return new WorkflowKeys(workflow, options.prefix)
      .partitions(configured)
      .map((keys) => ({ keys, configured }));
  });
  const reads = await Promise.all(
    parts.map(({ keys, configured }) => readPartition(redis, keys, configured)),
  );
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

/** The depth of many workflows (all versions and partitions each), in one round trip per node. */
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
