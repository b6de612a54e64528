/**
 * The worker's outside contract: every option of `floxide worker`, its flag, its FLOXIDE_*
 * variable, default and bounds. The worker parses it, the operator sets the variables on the
 * worker Deployment, the CLI and the local demo pass the flags, the docs generator prints it.
 */
import {
  httpOptions,
  LOG_LEVEL_OPTION,
  resolveOptions,
  type OptionTable,
  type ParsedOptions,
  type RawOptions,
} from "./options.ts";

/** The worker's `durability` settings (see the option): the store's commit path reads these. */
export const DURABILITIES = ["fast", "replicated"] as const;
export type Durability = (typeof DURABILITIES)[number];

/**
 * Most partitions a workflow may have (worker/store/redis/keys.ts). Each partition is a slot of
 * its own, and an idle worker holds one blocking connection and sends about one command per block
 * period per partition: 64 spreads a workflow over up to 64 Cluster masters (far more than one
 * workflow's throughput needs) while keeping an idle worker's connections and commands bounded.
 */
export const MAX_PARTITIONS = 64;

/** How `floxide` commands name a Redis server; shared by the worker and every Redis command. */
export const REDIS_OPTIONS = {
  redisUrl: {
    flag: "redis",
    env: "FLOXIDE_REDIS_URL",
    type: "string",
    required: true,
    description: "Redis URL: `redis://[user:pass@]host:port[/db]`, or `rediss://` for TLS.",
    secret: true,
  },
  redisUsername: {
    flag: "redis-username",
    env: "FLOXIDE_REDIS_USERNAME",
    type: "string",
    description: "Redis ACL user (overrides the URL's).",
  },
  redisPassword: {
    flag: "redis-password",
    env: "FLOXIDE_REDIS_PASSWORD",
    type: "string",
    description: "Redis password (overrides the URL's); the operator sets it from a Secret.",
    secret: true,
  },
  redisTlsCaFile: {
    flag: "redis-tls-ca-file",
    env: "FLOXIDE_REDIS_TLS_CA_FILE",
    type: "string",
    description: "PEM file of the CA that signed Redis' TLS certificate.",
  },
  redisMode: {
    flag: "redis-mode",
    env: "FLOXIDE_REDIS_MODE",
    type: "enum",
    values: ["standalone", "cluster", "sentinel"],
    default: "standalone",
    description:
      "How to connect: one server, a Redis Cluster (URL is a seed node), or Sentinel (URL is a Sentinel; more in `?sentinels=h:p,...`).",
  },
  redisSentinelName: {
    flag: "redis-sentinel-name",
    env: "FLOXIDE_REDIS_SENTINEL_NAME",
    type: "string",
    description: "Sentinel master group name (mode sentinel).",
  },
  keyPrefix: {
    flag: "key-prefix",
    env: "FLOXIDE_KEY_PREFIX",
    type: "string",
    default: "floxide",
    description: "Prefix of every Redis key.",
  },
  partitions: {
    flag: "partitions",
    env: "FLOXIDE_PARTITIONS",
    type: "int",
    default: 1,
    min: 1,
    max: MAX_PARTITIONS,
    description:
      "Partitions of the workflow: each its own Redis Cluster slot, a run wholly in one. Fixed once the workflow's keys exist: every worker, CLI and the operator must use the recorded count.",
  },
} as const satisfies OptionTable;

/** Every option of `floxide worker`. */
export const WORKER_OPTIONS = {
  workflow: {
    flag: "workflow",
    env: "FLOXIDE_WORKFLOW",
    type: "string",
    required: true,
    description: "Path of the workflow module (its default export is the workflow).",
  },
  workflowVersion: {
    flag: "workflow-version",
    env: "FLOXIDE_WORKFLOW_VERSION",
    type: "string",
    description:
      "The workflow version this worker must run (the operator sets it from the WorkflowDeployment's spec.version): " +
      "a module that declares another `version` refuses to start. Runs are pinned to their version; the worker claims only its version's items.",
  },
  ...REDIS_OPTIONS,
  concurrency: {
    flag: "concurrency",
    env: "FLOXIDE_CONCURRENCY",
    type: "int",
    default: 4,
    min: 1,
    max: 1000,
    description: "Steps run at once in this process.",
  },
  ...httpOptions("FLOXIDE"),
  drainTimeoutSeconds: {
    flag: "drain-timeout",
    env: "FLOXIDE_DRAIN_TIMEOUT",
    type: "int",
    default: 30,
    min: 0,
    max: 86400,
    description:
      "Seconds to let in-flight steps finish after SIGTERM; unfinished ones are handed back to the queue.",
  },
  leaseMs: {
    flag: "lease-ms",
    env: "FLOXIDE_LEASE_MS",
    type: "int",
    default: 30000,
    min: 300,
    max: 3_600_000,
    description: "Lease on a claimed item; renewed every third of it.",
  },
  durability: {
    flag: "durability",
    env: "FLOXIDE_DURABILITY",
    type: "enum",
    values: DURABILITIES,
    default: "fast",
    description:
      "When a step counts as done: `fast` when its commit is applied on the Redis master (a failover can lose " +
      "the last acknowledged commits: the steps run again), `replicated` when a replica has it too (WAIT after " +
      "each commit call; a failover loses no reported step, each commit waits for a replica's acknowledgement).",
  },
  blockMs: {
    flag: "block-ms",
    env: "FLOXIDE_BLOCK_MS",
    type: "int",
    default: 5000,
    min: 10,
    max: 60000,
    description: "How long an idle claim blocks in Redis.",
  },
  retentionSeconds: {
    flag: "retention",
    env: "FLOXIDE_RETENTION",
    type: "int",
    default: 7 * 86400,
    min: 60,
    max: 365 * 86400,
    description: "Seconds a finished run's records are kept.",
  },
  logLevel: LOG_LEVEL_OPTION,
  workerId: {
    flag: "worker-id",
    env: "POD_NAME",
    type: "string",
    description: "Identity in leases and liveness; defaults to the host name.",
  },
} as const satisfies OptionTable;

export type WorkerOption = keyof typeof WORKER_OPTIONS;
export type WorkerConfig = ParsedOptions<typeof WORKER_OPTIONS>;
export type RedisConfig = ParsedOptions<typeof REDIS_OPTIONS>;

/** The worker's configuration from its flags (option name -> text) and its environment. */
export function loadWorkerConfig(flags: RawOptions, env: RawOptions): WorkerConfig {
  return resolveOptions(WORKER_OPTIONS, flags, env);
}
