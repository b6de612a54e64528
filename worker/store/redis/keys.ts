/**
 * The Redis key layout of one workflow (layout version LAYOUT_VERSION). Every key starts with the
 * hash tag of its PARTITION, so all keys of a partition live in one Cluster slot and every
 * function may touch any key of its partition. `{p:w}` below is that tag.
 *
 * PARTITIONS: a workflow has P partitions (default 1, at most MAX_PARTITIONS). Partition 0's tag
 * is `{<prefix>:<workflow>}` (P = 1 is exactly the one-slot layout), partition i > 0's is
 * `{<prefix>:<workflow>#<i>.<n>}` with n chosen to space the partitions evenly over the slots
 * (partitionTag; workflow names cannot hold `#`, so no workflow's tag is another's partition). A run lives wholly in the partition `partitionOf(runId, P)` (FNV-1a of its id); a
 * run started with an idempotency key lives in `partitionOf(key, P)`, and its id is chosen to hash
 * there too (PartitionedRedisStore.newRunId), so create-run looks the key up and creates the run
 * in one call on one slot. RULE: every function call touches one partition. So everything a call
 * writes besides its run is per partition: queues, leases, the rollout `versions` hash (written to
 * every partition), dead letters, errors, metrics, the run index, idempotency keys; readers merge
 * or sum the partitions. Only the workers' liveness (`workers`, `worker-expiry`: written by a
 * heartbeat, which touches no run) lives in partition 0 alone. `layout` exists in every partition
 * and records P beside the layout version (`<layout>;partitions=<P>`), written by the first call
 * on each partition (partition 0 first): a worker, CLI or operator configured with another P
 * refuses (store.ts, depth.ts), since its runs would be looked up in the wrong partitions.
 *
 * RUNS ARE PINNED TO THEIR VERSION: the queue keys are per workflow version `<v>` (the `version`
 * of the workflow module), so a worker claims only items of its own version and versions coexist
 * on one Redis during an upgrade. A worker's functions receive its version's keys in place of the
 * workflow's: the scripts are the same and a step costs the same commands as without versions.
 * create-run chooses the version of a new run from `versions` (the rollout state) and enqueues it
 * there; a run's follow-ups, retries and reclaims stay in the queue they came from.
 *
 *   {p:w}:layout         STRING `<layout version>;partitions=<P>` these keys were written with; a
 *                               worker refuses a version it does not know or another P (store.ts
 *                               checks it once per connection)
 *   {p:w}:versions       HASH   the rollout state and the versions that have runs (rollout.ts):
 *                               `current` (new runs' version), `ramp-version`, `ramp-percent`,
 *                               `ramp-until` (ms: until then that share of new runs goes to the ramp
 *                               version; afterwards all do; every partition holds partition 0's),
 *                               `v:<version>` -> when first used (ms)
 *   {p:w}:ready:<v>      LIST   item JSON waiting to be claimed (claimed from the head)
 *   {p:w}:leases:<v>     ZSET   lease token -> deadline (ms, Redis clock): the in-flight items
 *   {p:w}:lease-items:<v> HASH  lease token -> "<worker id>\n<item JSON>"
 *   {p:w}:delayed:<v>    ZSET   item JSON -> due time (retries with backoff)
 *   {p:w}:wake:<v>       ZSET   marker an idle claim blocks on (BZPOPMIN); one per call that enqueued
 *   {p:w}:reclaim-guard:<v> STRING set NX PX by the worker that sweeps its version's expired leases
 *   {p:w}:dead           LIST   dead letters {item, error, at}
 *   {p:w}:errors         LIST   error records of the workflow (newest 10,000)
 *   {p:w}:metrics        HASH   counters (see codec.ts decodeMetrics), one HINCRBY per counter per call
 *   {p:w}:runs           ZSET   runId -> createdAt: the one run index (status is a field of the run)
 *   {p:w}:expiring       ZSET   runId -> when its keys expire (to prune `runs`)
 *   {p:w}:workers        HASH   workerId -> "<expiresAt>|<liveness JSON>" (partition 0 only)
 *   {p:w}:worker-expiry  ZSET   workerId -> expiresAt (to forget dead workers cheaply; partition 0)
 *   {p:w}:idem:<key>     STRING idempotency key -> runId
 *   {p:w}:staged:<token> LIST   item JSON of a large fan-out staged under lease <token> (stage.lua),
 *                               published and dropped by its commit, dropped with the lease
 *   {p:w}:<kind>:<runId> per run:
 *     run        HASH  the run's fields (status, input, createdAt, startedAt, finishedAt, error,
 *                      idempotencyKey, pending, held, openJoins, eventSeq, outputs, aux), its
 *                      outputs `o:<n>` and its item records `i:<item id>` (codec.ts)
 *     events     LIST  the context's event log (only once an event was appended: eventSeq > 0)
 *     joins, open-joins  HASH, SET  open fan-in slots (only while one is open: openJoins > 0)
 *     parked, checkpoint, errors  LIST, HASH, LIST  rare keys (only when written: aux = 1)
 *     held       HASH  items parked by `hold` (deleted when the run finishes)
 *   A finished run's keys expire `retentionMs` after it finishes: one PEXPIRE for a run that had
 *   no events, joins or rare keys. The kind comes before the run id so no run id can forge
 *   another run's key.
 *
 * Every function VALIDATES BEFORE IT WRITES: it reads and checks everything first and writes
 * last, and nothing that can fail runs after its first write (Redis does not roll back). In a
 * batch this holds per entry. See includes/base.lua. Concretely: begin() checks the type of every
 * key the function receives but those whose first command (a read, or the first write) fails
 * with WRONGTYPE before anything is written (`--@read-first`) and those an entry checks itself
 * before its first write, only on the paths that write them (`--@checked-late`); a run's hash is read with pcall and its counters and status checked
 * (read_run), and the type of each run key the call will write is checked (run_keys_problem)
 * before the first write; metric counters are read before they are incremented; long lists are
 * written in chunks. ONE CORRUPT ENTRY IS REPORTED AND SET ASIDE: a workflow key of the wrong
 * type makes every call refuse with `CORRUPT <key> ...` (nothing can be served until it is
 * fixed); a bad lease record or a run whose data cannot be trusted is dead-lettered as
 * CorruptEntry naming key and field, its run failed, `corruptEntries` counted, and the rest of
 * the batch, the sweep and the workflow go on. test/integration/store/redis-corruption.test.ts
 * keeps this rule for every key kind above.
 */
import { MAX_PARTITIONS } from "../../../contract/worker-options.ts";
import { randomUUID } from "node:crypto";
import { FloxideError } from "../../sdk/index.ts";
import { DEFAULT_VERSION } from "../versions.ts";
import { CLUSTER_SLOTS, crc16, crc16Digits, keySlot } from "./key-slot.ts";

export const DEFAULT_PREFIX = "floxide";

/** The version of this key layout, stored in `{p:w}:layout` (4: the record names P). */
export const LAYOUT_VERSION = "4";

/** Most partitions a workflow may have (the bound is the worker option's: contract/). */
export { MAX_PARTITIONS };

/** Checks a partition count (an option, a CRD field, a recorded layout). */
export function checkPartitions(partitions: number, what = "partitions"): number {
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > MAX_PARTITIONS) {
    throw new FloxideError(
      "InvalidConfig",
      `${what} must be an integer from 1 to ${MAX_PARTITIONS} (got ${partitions})`,
      { partitions: String(partitions) },
    );
  }
  return partitions;
}

/** The partition (0..P-1) of a run id or idempotency key: FNV-1a (32 bits) of its UTF-8 bytes. */
export function partitionOf(id: string, partitions: number): number {
  if (partitions === 1) return 0;
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(id, "utf8")) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % partitions;
}

/** A random run id in `partition` of P (about P tries): a run placed beside a key or another run. */
export function runIdIn(partition: number, partitions: number): string {
  while (true) {
    const runId = randomUUID();
    if (partitionOf(runId, partitions) === partition) return runId;
  }
}

const tags = new Map<string, string>();
const TAG_SEARCH_LIMIT = 10_000_000;

/**
 * The hash tag (without braces) of partition `partition` of P. Partition 0's is `<prefix>:<workflow>`
 * (P = 1 is the one-slot layout); partition i's is `<prefix>:<workflow>#<i>.<n>` with the smallest n
 * that puts it in slot s0 + floor(i * 16384 / P) (mod 16384), s0 being partition 0's slot: the
 * partitions sit evenly spaced over the slot space, so a cluster whose masters own equal slot
 * ranges (as `redis-cli --cluster create` splits them) gets P / masters partitions each. About
 * 16,384 tries per tag on average (~1 ms), computed once per process.
 */
export function partitionTag(
  prefix: string,
  workflow: string,
  partition: number,
  partitions: number,
): string {
  const zero = `${prefix}:${workflow}`;
  if (partition === 0) return zero;
  const cached = `${zero}\n${partition}\n${partitions}`;
  const known = tags.get(cached);
  if (known !== undefined) return known;
  const target =
    (keySlot(`{${zero}}`) + Math.floor((partition * CLUSTER_SLOTS) / partitions)) % CLUSTER_SLOTS;
  const head = `${zero}#${partition}.`;
  const headCrc = crc16(Buffer.from(head, "utf8"));
  for (let n = 0; n < TAG_SEARCH_LIMIT; n += 1) {
    if (crc16Digits(n, headCrc) % CLUSTER_SLOTS === target) {
      const tag = `${head}${n}`;
      tags.set(cached, tag);
      return tag;
    }
  }
  // CRC16 reaches every slot within a few hundred thousand suffixes: unreachable in practice.
  throw new FloxideError(
    "InvalidConfig",
    `no hash tag for partition ${partition} of ${partitions} of '${zero}'`,
  );
}

/** What `{p:w}:layout` holds for this layout version and P partitions. */
export const layoutRecord = (partitions: number): string => `${LAYOUT_VERSION};partitions=${partitions}`;

/** A `{p:w}:layout` value read back: its layout version and, from version 4 on, P. */
export function decodeLayoutRecord(value: string): { layout: string; partitions: number | null } {
  const match = /^([^;]*);partitions=(\d+)$/.exec(value);
  return match === null
    ? { layout: value, partitions: null }
    : { layout: match[1] as string, partitions: Number(match[2]) };
}

/** The refusal of a process configured with another P than the workflow's recorded one. */
export function partitionMismatch(
  workflow: string,
  key: string,
  recorded: number,
  configured: number,
): FloxideError {
  return new FloxideError(
    "InvalidConfig",
    `workflow '${workflow}' has ${recorded} partition(s) in Redis (${key}), this process is configured with ` +
      `${configured}: set --partitions ${recorded} (FLOXIDE_PARTITIONS, spec.partitions on the WorkflowDeployment). ` +
      `P is fixed once the workflow's keys exist; to change it, drain the workflow and delete its keys, or use another keyPrefix`,
    { workflow, recorded: String(recorded), configured: String(configured) },
  );
}

/** Workflow-level keys; each function names the ones it receives on its `--@keys` line. */
export const WORKFLOW_KEY_NAMES = [
  "layout",
  "ready",
  "leases",
  "lease-items",
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
  "versions",
] as const;

export type WorkflowKeyName = (typeof WORKFLOW_KEY_NAMES)[number];

/** The keys that exist once per workflow version: `{p:w}:<name>:<version>`. */
export const VERSION_KEY_NAMES = [
  "ready",
  "leases",
  "lease-items",
  "delayed",
  "wake",
  "reclaim-guard",
] as const satisfies readonly WorkflowKeyName[];

const PER_VERSION: ReadonlySet<WorkflowKeyName> = new Set(VERSION_KEY_NAMES);

export const RUN_KEY_KINDS = [
  "run",
  "events",
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

/**
 * A workflow version names Redis keys and fields: the same rule as a workflow name, and no `"` or
 * backslash (it sits unescaped in the head of an item's JSON, includes/items.lua).
 */
export function checkVersion(version: string): string {
  checkName(version, "version");
  if (/["\\]/.test(version)) {
    throw new FloxideError("InvalidConfig", `version '${version}' must not contain '"' or '\\'`, { version });
  }
  return version;
}

/** The keys of one workflow as seen by the workers of one version (see the comment above). */
export class WorkflowKeys {
  readonly prefix: string;
  readonly workflow: string;
  /** The version whose queue keys `key()` names. */
  readonly version: string;
  /** The partition these keys are of (0 for a workflow of one partition). */
  readonly partition: number;
  /** The partition's hash tag, and the base every script builds run keys from. */
  readonly base: string;

  constructor(
    workflow: string,
    prefix: string = DEFAULT_PREFIX,
    version: string = DEFAULT_VERSION,
    partition = 0,
    partitions = 1,
  ) {
    checkName(prefix, "prefix");
    checkName(workflow, "workflow");
    if (workflow.includes("#")) {
      throw new FloxideError(
        "InvalidConfig",
        `workflow '${workflow}' must not contain '#' (it marks a partition's hash tag)`,
        { workflow },
      );
    }
    checkPartitions(partitions);
    if (!Number.isInteger(partition) || partition < 0 || partition >= partitions) {
      throw new FloxideError("InvalidConfig", `partition ${partition} is not 0..${partitions - 1}`);
    }
    this.prefix = prefix;
    this.workflow = workflow;
    this.version = checkVersion(version);
    this.partition = partition;
    this.base = `{${partitionTag(prefix, workflow, partition, partitions)}}`;
  }

  /** The keys of each of P partitions (partition 0 first). */
  partitions(partitions: number): WorkflowKeys[] {
    return Array.from({ length: checkPartitions(partitions) }, (_, i) => this.inPartition(i, partitions));
  }

  /** The keys of the partition of a run (or idempotency key) among P. */
  ofRun(runId: string, partitions: number): WorkflowKeys {
    return this.inPartition(partitionOf(runId, partitions), partitions);
  }

  /** The same workflow and version in partition `partition` of P. */
  inPartition(partition: number, partitions: number): WorkflowKeys {
    return new WorkflowKeys(this.workflow, this.prefix, this.version, partition, partitions);
  }

  /** A workflow key; a queue key (VERSION_KEY_NAMES) of this version. */
  key(name: WorkflowKeyName): string {
    return PER_VERSION.has(name) ? `${this.base}:${name}:${this.version}` : `${this.base}:${name}`;
  }

  /** A queue key of any version (the depth reader, rollout.ts). */
  versionKey(name: (typeof VERSION_KEY_NAMES)[number], version: string): string {
    return `${this.base}:${name}:${version}`;
  }

  run(kind: RunKeyKind, runId: string): string {
    return `${this.base}:${kind}:${runId}`;
  }

  idempotency(key: string): string {
    return `${this.base}:idem:${key}`;
  }
}
