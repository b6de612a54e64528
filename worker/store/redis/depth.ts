/**
 * Queue depth in O(1) (LLEN / ZCARD), readable with any ioredis client: the operator calls
 * these with its own connection to scale worker Deployments. Replies are decoded by schema.
 */
import { Cluster } from "ioredis";
import { FloxideError } from "../../sdk/index.ts";
import type { QueueDepth } from "../types.ts";
import type { RedisClient } from "./connection.ts";
import { WorkflowKeys } from "./keys.ts";
import { decodeReply, QueueDepthReplySchema } from "./reply-schemas.ts";

export interface QueueDepthOptions {
  /** The key prefix the workers use (default `floxide`). */
  readonly prefix?: string;
}

type Pipeline = ReturnType<RedisClient["pipeline"]>;

function queueDepthCommands(pipeline: Pipeline, keys: WorkflowKeys): Pipeline {
  return pipeline
    .llen(keys.key("ready"))
    .zcard(keys.key("leases"))
    .zcard(keys.key("delayed"))
    .llen(keys.key("dead"));
}

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

function toDepth(replies: readonly unknown[], workflow: string): QueueDepth {
  const [ready, inFlight, delayed, dead] = decodeReply(
    QueueDepthReplySchema,
    replies,
    `queue depth of '${workflow}'`,
  );
  return { ready, inFlight, delayed, dead };
}

/** Ready, in-flight (leased), delayed (retrying) and dead-lettered items of one workflow. */
export async function readQueueDepth(
  redis: RedisClient,
  workflow: string,
  options: QueueDepthOptions = {},
): Promise<QueueDepth> {
  const keys = new WorkflowKeys(workflow, options.prefix);
  return toDepth(
    await execPipeline(queueDepthCommands(redis.pipeline(), keys), `queue depth of '${workflow}'`),
    workflow,
  );
}

/**
 * The depth of many workflows in one round trip. On a Cluster, where a pipeline must stay on
 * one node, each workflow (one slot) gets its own pipeline, all sent at once.
 */
export async function readQueueDepths(
  redis: RedisClient,
  workflows: readonly string[],
  options: QueueDepthOptions = {},
): Promise<Map<string, QueueDepth>> {
  const unique = [...new Set(workflows)];
  const keys = unique.map((workflow) => new WorkflowKeys(workflow, options.prefix));
  if (redis instanceof Cluster) {
    const depths = await Promise.all(unique.map((workflow) => readQueueDepth(redis, workflow, options)));
    return new Map(unique.map((workflow, index) => [workflow, depths[index] as QueueDepth]));
  }
  const pipeline = keys.reduce(
    (acc, workflowKeys) => queueDepthCommands(acc, workflowKeys),
    redis.pipeline(),
  );
  const replies = await execPipeline(pipeline, `queue depth of ${unique.length} workflows`);
  return new Map(
    unique.map((workflow, index) => [workflow, toDepth(replies.slice(index * 4, index * 4 + 4), workflow)]),
  );
}
