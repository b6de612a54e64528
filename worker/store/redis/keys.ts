/**
 * The Redis key layout of one workflow. Every key starts with the hash tag `{<prefix>:<workflow>}`,
 * so all keys of a workflow live in one Cluster slot and every script may touch any of them.
 *
 *   {p:w}:ready          LIST   item JSON waiting to be claimed (claimed from the head)
 *   {p:w}:leases         ZSET   lease token -> deadline (ms, Redis clock): the in-flight items
 *   {p:w}:lease-items    HASH   lease token -> {runId,id,node,attempt,maxAttempts,workerId} "\n" item JSON
 *   {p:w}:lease-meta     HASH   lease token -> meta JSON of leases taken before 2026-11-27 (read, never written)
 *   {p:w}:delayed        ZSET   item JSON -> due time (retries with backoff)
 *   {p:w}:wake           ZSET   marker an idle claim blocks on (BZPOPMIN)
 *   {p:w}:dead           LIST   dead letters {item, error, at}
 *   {p:w}:errors         LIST   error records of the workflow (newest 10,000)
 *   {p:w}:metrics        HASH   counters (see codec.ts decodeMetrics)
 *   {p:w}:runs           ZSET   runId -> createdAt; {p:w}:runs:<status> the same per status
 *   {p:w}:expiring       ZSET   runId -> when its keys expire (to prune the run indexes)
 *   {p:w}:workers        HASH   workerId -> "<expiresAt>|<liveness JSON>"
 *   {p:w}:worker-expiry  ZSET   workerId -> expiresAt (to forget dead workers cheaply)
 *   {p:w}:reclaim-guard  STRING set NX PX by the worker that sweeps expired leases
 *   {p:w}:idem:<key>     STRING idempotency key -> runId
 *   {p:w}:<kind>:<runId> per run: run (HASH), events (LIST), outputs (LIST), items (HASH),
 *                        parked (LIST), held (HASH), joins (HASH), open-joins (SET),
 *                        checkpoint (HASH), errors (LIST); they expire `retentionMs` after the
 *                        run finishes. The kind comes before the run id so no run id can forge
 *                        another run's key.
 */
import { FloxideError } from "../../sdk/index.ts";

export const DEFAULT_PREFIX = "floxide";

/** Workflow-level keys, in the order every script receives them as KEYS (see includes/base.lua). */
export const WORKFLOW_KEY_NAMES = [
  "ready",
  "leases",
  "lease-items",
  "lease-meta",
  "delayed",
  "wake",
  "dead",
  "errors",
  "metrics",
  "runs",
  "expiring",
  "workers",
  "reclaim-guard",
  "worker-expiry",
] as const;

export type WorkflowKeyName = (typeof WORKFLOW_KEY_NAMES)[number];

export const RUN_KEY_KINDS = [
  "run",
  "events",
  "outputs",
  "items",
  "parked",
  "held",
  "joins",
  "open-joins",
  "checkpoint",
  "errors",
] as const;

export type RunKeyKind = (typeof RUN_KEY_KINDS)[number];

function checkName(value: string, what: string): void {
  if (value === "" || /[{}]/.test(value) || /\s/.test(value)) {
    throw new FloxideError(
      "InvalidConfig",
      `${what} '${value}' must be non-empty without braces or whitespace (it forms the Redis hash tag)`,
      { [what]: value },
    );
  }
}

export class WorkflowKeys {
  readonly prefix: string;
  readonly workflow: string;
  /** `{prefix:workflow}`: the hash tag, and the base every script builds run keys from. */
  readonly base: string;
  /** KEYS of every script, in WORKFLOW_KEY_NAMES order. */
  readonly all: readonly string[];

  constructor(workflow: string, prefix: string = DEFAULT_PREFIX) {
    checkName(prefix, "prefix");
    checkName(workflow, "workflow");
    this.prefix = prefix;
    this.workflow = workflow;
    this.base = `{${prefix}:${workflow}}`;
    this.all = WORKFLOW_KEY_NAMES.map((name) => `${this.base}:${name}`);
  }

  key(name: WorkflowKeyName): string {
    return `${this.base}:${name}`;
  }

  run(kind: RunKeyKind, runId: string): string {
    return `${this.base}:${kind}:${runId}`;
  }

  runsByStatus(status: string): string {
    return `${this.base}:runs:${status}`;
  }

  idempotency(key: string): string {
    return `${this.base}:idem:${key}`;
  }
}
