/**
 * Queue depth in O(1) per version (LLEN / ZCARD), readable with any ioredis client: the operator
 * calls these with its own connection to scale each version's worker Deployment. Items live in
 * the queue keys of their version (keys.ts), so the reader first reads the registered versions
 * (`versions`), then each one's depth: two round trips however many workflows. Replies are
 * decoded by schema.
 */
import { Cluster } from "ioredis";
import { FloxideError } from "../../sdk/index.ts";
import type { QueueDepth, VersionBacklog, WorkflowVersions } from "../types.ts";
import { totalDepth } from "../versions.ts";
import type { RedisClient } from "./connection.ts";
import { WorkflowKeys } from "./keys.ts";
import { decodeReply, VersionDepthReplySchema } from "./reply-schemas.ts";
import { decodeVersionsHash } from "./rollout.ts";

export interface QueueDepthOptions {
  /** The key prefix the workers use (default `floxide`). */
  readonly prefix?: string;
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

/** A workflow's versions with their depth, and its dead letters (shared by all versions). */
export type WorkflowVersionDepths = WorkflowVersions & { readonly dead: number };

function depthCommands(pipeline: Pipeline, keys: WorkflowKeys, version: string): Pipeline {
  return pipeline
    .llen(keys.versionKey("ready", version))
    .zcard(keys.versionKey("leases", version))
    .zcard(keys.versionKey("delayed", version));
}

async function readVersionsOn(
  redis: RedisClient,
  workflows: readonly string[],
  prefix: string | undefined,
): Promise<Map<string, WorkflowVersionDepths>> {
  const all = workflows.map((workflow) => new WorkflowKeys(workflow, prefix));
  const hashes = await execPipeline(
    all.reduce((p, keys) => p.hgetall(keys.key("versions")).llen(keys.key("dead")), redis.pipeline()),
    `versions of ${workflows.join(", ")}`,
  );
  const decoded = all.map((keys, i) => {
    const hash = hashes[2 * i] as Record<string, string>;
    return { keys, dead: Number(hashes[2 * i + 1]), ...decodeVersionsHash(keys.key("versions"), hash) };
  });
  const pipeline = decoded.reduce(
    (p, { keys, since }) => [...since.keys()].reduce((q, v) => depthCommands(q, keys, v), p),
    redis.pipeline(),
  );
  const depths = decoded.some(({ since }) => since.size > 0)
    ? await execPipeline(pipeline, `version depths of ${workflows.join(", ")}`)
    : [];
  const result = new Map<string, WorkflowVersionDepths>();
  let at = 0;
  for (const { keys, dead, rollout, since } of decoded) {
    const versions: VersionBacklog[] = [];
    for (const [version, first] of since) {
      const [ready, inFlight, delayed] = decodeReply(
        VersionDepthReplySchema,
        depths.slice(at, at + 3),
        `queue depth of '${keys.workflow}' version '${version}'`,
      );
      at += 3;
      versions.push({ version, since: first, ready, inFlight, delayed });
    }
    versions.sort((a, b) => a.since - b.since);
    result.set(keys.workflow, { rollout, versions, dead });
  }
  return result;
}

/**
 * The versions of each workflow with their queue depth, and its dead letters: two round trips
 * (the `versions` hashes, then three O(1) reads per version). On a Cluster, where a pipeline
 * must stay on one node, each workflow (one slot) gets its own pipelines, all sent at once.
 */
export async function readWorkflowVersions(
  redis: RedisClient,
  workflows: readonly string[],
  options: QueueDepthOptions = {},
): Promise<Map<string, WorkflowVersionDepths>> {
  const unique = [...new Set(workflows)];
  if (!(redis instanceof Cluster)) return readVersionsOn(redis, unique, options.prefix);
  const each = await Promise.all(unique.map((workflow) => readVersionsOn(redis, [workflow], options.prefix)));
  return new Map(each.flatMap((map) => [...map]));
}

/** Ready, in-flight (leased), delayed (retrying) and dead-lettered items of one workflow, all versions. */
export async function readQueueDepth(
  redis: RedisClient,
  workflow: string,
  options: QueueDepthOptions = {},
): Promise<QueueDepth> {
  return (await readQueueDepths(redis, [workflow], options)).get(workflow) as QueueDepth;
}

/** The depth of many workflows (all versions each), in two round trips. */
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
