/**
 * A page of a workflow's runs, newest first, read from the run index (`{p:w}:runs`, runId ->
 * createdAt: keys.ts; one per partition, merged) by score, so the first page costs O(log N + page) whatever the number of
 * runs retained. Paging is by key (a cursor `<createdAt>:<runId>`), never by offset: page 1,000
 * costs what page 1 costs. Status is a field of the run, not an index: a status filter reads
 * past runs of other statuses, at most `scanLimit` index entries per call, and says where it
 * stopped (`next`), so a rare status costs bounded time per page, never a full scan.
 */
import { FloxideError } from "../sdk/index.ts";
import { decodeRunInfo, toFields } from "./redis/codec.ts";
import type { RedisClient } from "./redis/connection.ts";
import { execPipeline } from "./redis/depth.ts";
import { DEFAULT_PREFIX, partitionOf, WorkflowKeys } from "./redis/keys.ts";
import { keysFor, runScript } from "./redis/scripts.ts";
import type { RunInfo, RunStatus } from "./types.ts";

export interface RunsPageQuery {
  readonly status?: RunStatus | undefined;
  /** Created at or after (ms). */
  readonly from?: number | undefined;
  /** Created at or before (ms). */
  readonly to?: number | undefined;
  /** The `next` of the page before. */
  readonly cursor?: string | undefined;
  readonly limit?: number | undefined;
  /** Most index entries one call reads past (status filter). Default 5,000. */
  readonly scanLimit?: number | undefined;
}

export interface RunsPage {
  readonly runs: readonly RunInfo[];
  /** Where the next page starts; null at the end of the index (or of the time range). */
  readonly next: string | null;
  /** Index entries read for this page. */
  readonly scanned: number;
  /** Runs the index lists whose keys expired (pruned by create-run later). */
  readonly expired: number;
}

interface Cursor {
  readonly score: number;
  readonly runId: string;
}

export function parseRunsCursor(text: string): Cursor {
  const sep = text.indexOf(":");
  const score = Number(text.slice(0, sep));
  if (sep <= 0 || !Number.isSafeInteger(score) || sep === text.length - 1) {
    throw new FloxideError("InvalidInput", `runs cursor '${text}' is not '<createdAt>:<runId>'`);
  }
  return { score, runId: text.slice(sep + 1) };
}

const cursorOf = (score: number, runId: string): string => `${score}:${runId}`;

/** Run infos of `runIds` in one read (read-runs: one instant); expired runs are skipped. */
export async function readRunInfos(
  redis: RedisClient,
  keys: WorkflowKeys,
  runIds: readonly string[],
): Promise<RunInfo[]> {
  if (runIds.length === 0) return [];
  const reply = await runScript(redis, "read-runs", keysFor(keys, "read-runs"), [keys.base, 0, ...runIds]);
  if (!Array.isArray(reply)) throw new FloxideError("StoreUnavailable", "read-runs: unexpected reply");
  const infos: RunInfo[] = [];
  for (const run of reply as unknown[]) {
    const fields = toFields(run);
    if (Object.keys(fields).length > 0) infos.push(decodeRunInfo(fields));
  }
  return infos;
}

/** Index entries (runId, createdAt) older than the cursor, newest first, at most `count`. */
async function indexSlice(
  redis: RedisClient,
  index: string,
  cursor: Cursor | null,
  min: number,
  max: number,
  count: number,
): Promise<{ runId: string; score: number }[]> {
  const entries: { runId: string; score: number }[] = [];
  const top = cursor === null ? max : Math.min(max, cursor.score);
  const pipeline = redis.pipeline();
  // Runs created in the cursor's millisecond: members of one score are ordered by id.
  if (cursor !== null && cursor.score <= max)
    pipeline.zrange(index, String(cursor.score), String(cursor.score), "BYSCORE");
  pipeline.zrange(
    index,
    cursor === null ? String(top) : `(${top}`,
    String(min),
    "BYSCORE",
    "REV",
    "LIMIT",
    0,
    count,
    "WITHSCORES",
  );
  const replies = await execPipeline(pipeline, `runs index ${index}`);
  if (cursor !== null && cursor.score <= max) {
    const ties = (replies.shift() as string[]).filter((id) => id < cursor.runId).reverse();
    for (const runId of ties.slice(0, count)) entries.push({ runId, score: cursor.score });
  }
  const flat = replies[0] as string[];
  for (let i = 0; i + 1 < flat.length && entries.length < count; i += 2) {
    entries.push({ runId: flat[i] as string, score: Number(flat[i + 1]) });
  }
  return entries;
}

/** Run infos of runs of any partitions: one read-runs call per partition holding some. */
async function readPartitionedRunInfos(
  redis: RedisClient,
  all: readonly WorkflowKeys[],
  runIds: readonly string[],
): Promise<RunInfo[]> {
  const byPartition = new Map<number, string[]>();
  for (const runId of runIds) {
    const partition = partitionOf(runId, all.length);
    byPartition.set(partition, [...(byPartition.get(partition) ?? []), runId]);
  }
  const infos = await Promise.all(
    [...byPartition].map(([partition, ids]) => readRunInfos(redis, all[partition] as WorkflowKeys, ids)),
  );
  return infos.flat();
}

/** Index entries of every partition older than the cursor, newest first (ties: by id, descending). */
async function partitionedSlice(
  redis: RedisClient,
  all: readonly WorkflowKeys[],
  cursor: Cursor | null,
  min: number,
  max: number,
  count: number,
): Promise<{ runId: string; score: number }[]> {
  const slices = await Promise.all(
    all.map((keys) => indexSlice(redis, keys.key("runs"), cursor, min, max, count)),
  );
  return slices
    .flat()
    .sort((a, b) => b.score - a.score || (a.runId < b.runId ? 1 : a.runId > b.runId ? -1 : 0))
    .slice(0, count);
}

export async function readRunsPage(
  redis: RedisClient,
  workflow: string,
  query: RunsPageQuery = {},
  prefix: string = DEFAULT_PREFIX,
  partitions = 1,
): Promise<RunsPage> {
  // A workflow of partitions has one index each (keys.ts): their slices are merged.
  const all = new WorkflowKeys(workflow, prefix).partitions(partitions);
  const limit = query.limit ?? 50;
  const scanLimit = query.scanLimit ?? 5000;
  const min = query.from ?? 0;
  const max = query.to ?? Number.MAX_SAFE_INTEGER;
  let cursor = query.cursor === undefined ? null : parseRunsCursor(query.cursor);
  const runs: RunInfo[] = [];
  let scanned = 0;
  let expired = 0;
  while (runs.length < limit && scanned < scanLimit) {
    const batch = query.status === undefined ? limit - runs.length : Math.min(500, scanLimit - scanned);
    const entries = await partitionedSlice(redis, all, cursor, min, max, batch);
    if (entries.length === 0) return { runs, next: null, scanned, expired };
    const infos = await readPartitionedRunInfos(
      redis,
      all,
      entries.map((entry) => entry.runId),
    );
    const byId = new Map(infos.map((info) => [info.runId, info]));
    for (const entry of entries) {
      scanned += 1;
      cursor = entry;
      const info = byId.get(entry.runId);
      if (info === undefined) expired += 1;
      else if (query.status === undefined || info.status === query.status) runs.push(info);
      if (runs.length === limit) break;
    }
    if (entries.length < batch) {
      return {
        runs,
        next: runs.length === limit && cursor !== null ? cursorOf(cursor.score, cursor.runId) : null,
        scanned,
        expired,
      };
    }
  }
  return { runs, next: cursor === null ? null : cursorOf(cursor.score, cursor.runId), scanned, expired };
}

/** The run with this id, or the run started with this idempotency key; null for neither. */
export async function findRun(
  redis: RedisClient,
  workflow: string,
  idOrKey: string,
  prefix: string = DEFAULT_PREFIX,
  partitions = 1,
): Promise<RunInfo | null> {
  const workflowKeys = new WorkflowKeys(workflow, prefix);
  const [byId] = await readRunInfos(redis, workflowKeys.ofRun(idOrKey, partitions), [idOrKey]);
  if (byId !== undefined) return byId;
  // A key's run lives in the key's partition (keys.ts).
  const keys = workflowKeys.ofRun(idOrKey, partitions);
  const runId = await redis.get(keys.idempotency(idOrKey));
  if (runId === null) return null;
  const [byKey] = await readRunInfos(redis, keys, [runId]);
  return byKey ?? null;
}
