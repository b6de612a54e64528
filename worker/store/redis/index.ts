// The Redis store: backend, connection options, key layout and the queue-depth reader.
export { RedisBackend, createRedisBackend, type RedisBackendOptions } from "./backend.ts";
export { RedisWorkflowStore } from "./store.ts";
export { PartitionedRedisStore } from "./partitioned-store.ts";
export {
  createRedisClient,
  describeRedisConnection,
  parseRedisUrl,
  redactRedisUrl,
  resolveRedisConnection,
  type RedisClient,
  type RedisConnectionOptions,
  type RedisNode,
  type RedisTlsOptions,
  type ResolvedRedisConnection,
} from "./connection.ts";
export {
  readQueueDepth,
  readQueueDepths,
  readWorkflowVersions,
  readWorkflowVersionsOrErrors,
  type QueueDepthOptions,
  type WorkflowVersionDepths,
} from "./depth.ts";
export { forgetVersionWith, versionField, writeRolloutWith } from "./rollout.ts";
export {
  checkPartitions,
  checkVersion,
  DEFAULT_PREFIX,
  LAYOUT_VERSION,
  MAX_PARTITIONS,
  partitionOf,
  runIdIn,
  WorkflowKeys,
} from "./keys.ts";
export { corruptionOf } from "./scripts.ts";
