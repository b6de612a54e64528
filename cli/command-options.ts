/**
 * The option tables of the commands that are not the worker or the operator (those live with
 * their contract: contract/worker-options.ts, operator/config.ts). Light on purpose: `--help`
 * and shell completion read them without loading the engine.
 */
import { REDIS_OPTIONS, type OptionSpec, type OptionTable } from "../contract/index.ts";

/** For demo and dev the Redis URL is optional: without one they start a local redis-server. */
const LOCAL_REDIS = {
  redisUrl: {
    ...REDIS_OPTIONS.redisUrl,
    required: false,
    description:
      "Redis URL to run on; without one, a redis-server from PATH is started on a free port (else the memory backend).",
  },
} as const satisfies OptionTable;

const BACKEND = {
  flag: "backend",
  type: "enum",
  values: ["auto", "redis", "memory"],
  default: "auto",
  description: "auto: Redis if one is given or found, else memory; redis: fail without one.",
} as const satisfies OptionSpec;

const localLoop = (concurrency: number, target: number) =>
  ({
    concurrency: {
      flag: "concurrency",
      type: "int",
      default: concurrency,
      min: 1,
      max: 1000,
      description: "Steps one worker runs at once.",
    },
    maxWorkers: {
      flag: "max-workers",
      type: "int",
      default: 4,
      min: 1,
      max: 64,
      description: "Most workers the local scaler starts.",
    },
    target: {
      flag: "target",
      type: "int",
      default: target,
      min: 1,
      max: 1_000_000,
      description: "Backlog items (ready + in flight) per worker.",
    },
    backend: BACKEND,
    ...LOCAL_REDIS,
  }) as const satisfies OptionTable;

export const DEMO_OPTIONS = {
  runs: { flag: "runs", type: "int", default: 200, min: 1, max: 1_000_000, description: "Runs to start." },
  chunks: {
    flag: "chunks",
    type: "int",
    default: 10,
    min: 0,
    max: 10_000,
    description: "Chunks per video (the fan-out width).",
  },
  maxDelay: {
    flag: "max-delay",
    type: "int",
    default: 5,
    min: 0,
    max: 60_000,
    description: "Random work per encode step, 0 to this many milliseconds.",
  },
  startOver: {
    flag: "start-over",
    type: "int",
    default: 5,
    min: 0,
    max: 3600,
    description: "Seconds over which the runs are started (arrivals spread evenly; 0 = all at once).",
  },
  ...localLoop(8, 25),
} as const satisfies OptionTable;

export const DEV_OPTIONS = {
  workflow: {
    flag: "workflow",
    type: "string",
    description: "Your workflow module (or give it as the argument).",
  },
  input: {
    flag: "input",
    type: "string",
    description: "Start --runs runs with this input at start: JSON, or @file with JSON.",
  },
  runs: {
    flag: "runs",
    type: "int",
    default: 1,
    min: 1,
    max: 100_000,
    description: "Runs to start with --input.",
  },
  ...localLoop(4, 10),
  keyPrefix: { ...REDIS_OPTIONS.keyPrefix, description: "Redis key prefix (what 'floxide run' uses)." },
} as const satisfies OptionTable;

const WORKFLOW_REF = {
  flag: "workflow",
  type: "string",
  required: true,
  description: "The workflow: its name, or its module (to decode outputs with it).",
} as const satisfies OptionSpec;

export const RUN_START_OPTIONS = {
  input: {
    flag: "input",
    type: "string",
    required: true,
    description: "The run's input: JSON, or @file with JSON.",
  },
  id: {
    flag: "id",
    type: "string",
    description: "Idempotency key: a second start with it returns the first run.",
  },
  timeout: {
    flag: "timeout",
    type: "int",
    default: 300,
    min: 1,
    max: 86400,
    description: "Seconds --wait waits.",
  },
} as const satisfies OptionTable;

export const RUN_TARGET_OPTIONS = { workflow: WORKFLOW_REF } as const satisfies OptionTable;

export const RUN_WAIT_OPTIONS = {
  workflow: WORKFLOW_REF,
  timeout: RUN_START_OPTIONS.timeout,
} as const satisfies OptionTable;

export const RUN_LIST_OPTIONS = {
  workflow: WORKFLOW_REF,
  status: {
    flag: "status",
    type: "enum",
    values: ["queued", "running", "paused", "completed", "failed", "cancelled"],
    description: "Only runs in this status.",
  },
  limit: { flag: "limit", type: "int", default: 50, min: 1, max: 10_000, description: "Most runs listed." },
} as const satisfies OptionTable;

export const QUEUE_DEAD_OPTIONS = {
  limit: {
    flag: "limit",
    type: "int",
    default: 20,
    min: 1,
    max: 10_000,
    description: "The newest dead letters to show (printed oldest first).",
  },
} as const satisfies OptionTable;

/** `queue redrive` takes no option of its own but the Redis ones; --discard is a switch. */
export const QUEUE_REDRIVE_OPTIONS = {} as const satisfies OptionTable;

export const GRAPH_OPTIONS = {
  format: {
    flag: "format",
    type: "enum",
    values: ["mermaid", "dot"],
    default: "mermaid",
    description: "Output format (--json prints the graph as data instead).",
  },
} as const satisfies OptionTable;
