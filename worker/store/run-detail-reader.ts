/**
 * Everything the console shows of one run, read in one MULTI (all of a run's keys share the
 * workflow's hash tag: one slot, one instant): its info and item records, the tail of its event
 * log, its errors, and where its live items are: leased (by which worker, until when), waiting
 * for a retry (due when), held or parked. Read-only. The lease and retry lookups read the
 * workflow's in-flight leases and the first `delayedLimit` due retries: bounded by the
 * workflow's concurrency, not by its history.
 */
import type { EventRecord } from "../sdk/index.ts";
import {
  decodeCheckpoint,
  decodeErrorRecord,
  decodeEvent,
  decodeItem,
  decodeItemStates,
  decodeRunInfo,
} from "./redis/codec.ts";
import type { RedisClient } from "./redis/connection.ts";
import { execPipeline } from "./redis/depth.ts";
import { DEFAULT_PREFIX, WorkflowKeys } from "./redis/keys.ts";
import type { Checkpoint, ErrorRecord, ItemState, RunInfo, WorkItem } from "./types.ts";

export interface LeasedItem {
  readonly item: WorkItem;
  readonly workerId: string;
  /** Lease deadline (Redis ms). */
  readonly deadline: number;
}

export interface WaitingItem {
  readonly item: WorkItem;
  /** When a retry is due (Redis ms); null for held and parked items. */
  readonly due: number | null;
}

export interface RunDetail {
  /** The Redis clock when read (ms). */
  readonly now: number;
  readonly run: RunInfo;
  readonly items: readonly ItemState[];
  /** The newest `eventLimit` events, oldest first. */
  readonly events: readonly EventRecord[];
  readonly eventsTotal: number;
  readonly errors: readonly ErrorRecord[];
  readonly leased: readonly LeasedItem[];
  readonly retrying: readonly WaitingItem[];
  readonly held: readonly WaitingItem[];
  readonly parked: readonly WaitingItem[];
  readonly checkpoint: Checkpoint | null;
  /** Entries that did not decode, with why (one corrupt entry never hides the run). */
  readonly malformed: readonly string[];
}

export interface RunDetailOptions {
  readonly prefix?: string;
  /** The workflow's partitions (the run is in one: keys.ts). Default 1. */
  readonly partitions?: number;
  readonly eventLimit?: number;
  readonly errorLimit?: number;
  readonly delayedLimit?: number;
}

/** `decode(raw)`, or null with the problem recorded. */
function tryDecode<T>(malformed: string[], what: string, decode: () => T): T | null {
  try {
    return decode();
  } catch (error) {
    malformed.push(`${what}: ${(error as Error).message}`);
    return null;
  }
}

const nonNull = <T>(value: T | null): value is T => value !== null;

export async function readRunDetail(
  redis: RedisClient,
  workflow: string,
  runId: string,
  options: RunDetailOptions = {},
): Promise<RunDetail | null> {
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  // The run's live items are in the queue keys of the version it is pinned to (keys.ts).
  const partitions = options.partitions ?? 1;
  const partition = new WorkflowKeys(workflow, prefix).ofRun(runId, partitions).partition;
  const version = await redis.hget(
    new WorkflowKeys(workflow, prefix, undefined, partition, partitions).run("run", runId),
    "version",
  );
  const keys = new WorkflowKeys(workflow, prefix, version ?? undefined, partition, partitions);
  const eventLimit = options.eventLimit ?? 500;
  const replies = await execPipeline(
    redis
      .multi()
      .time()
      .hgetall(keys.run("run", runId))
      .lrange(keys.run("events", runId), -eventLimit, -1)
      .llen(keys.run("events", runId))
      .lrange(keys.run("errors", runId), -(options.errorLimit ?? 200), -1)
      .hgetall(keys.key("lease-items"))
      .zrange(keys.key("leases"), "0", "-1", "WITHSCORES")
      .zrange(keys.key("delayed"), "0", String((options.delayedLimit ?? 1000) - 1), "WITHSCORES")
      .hgetall(keys.run("held", runId))
      .lrange(keys.run("parked", runId), 0, -1)
      .hgetall(keys.run("checkpoint", runId)),
    `run ${runId} of '${workflow}'`,
  );
  const [
    time,
    fields,
    eventRaws,
    eventsTotal,
    errorRaws,
    leaseItems,
    leaseFlat,
    delayedFlat,
    heldMap,
    parkedRaws,
  ] = replies as [
    [string, string],
    Record<string, string>,
    string[],
    number,
    string[],
    Record<string, string>,
    string[],
    string[],
    Record<string, string>,
    string[],
  ];
  if (Object.keys(fields).length === 0) return null;
  const malformed: string[] = [];
  const now = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
  const ofRun = (raw: string): boolean => raw.includes(`"runId":${JSON.stringify(runId)}`);
  const item = (raw: string, what: string): WorkItem | null => {
    const decoded = tryDecode(malformed, what, () => decodeItem(raw));
    return decoded !== null && decoded.runId === runId ? decoded : null;
  };

  const deadlines = new Map<string, number>();
  for (let i = 0; i + 1 < leaseFlat.length; i += 2)
    deadlines.set(leaseFlat[i] as string, Number(leaseFlat[i + 1]));
  const leased: LeasedItem[] = [];
  for (const [token, value] of Object.entries(leaseItems)) {
    const nl = value.indexOf("\n");
    const raw = value.slice(nl + 1);
    if (nl < 0 || !ofRun(raw)) continue;
    const decoded = item(raw, `lease ${token}`);
    if (decoded !== null)
      leased.push({ item: decoded, workerId: value.slice(0, nl), deadline: deadlines.get(token) ?? 0 });
  }
  const retrying: WaitingItem[] = [];
  for (let i = 0; i + 1 < delayedFlat.length; i += 2) {
    const raw = delayedFlat[i] as string;
    if (!ofRun(raw)) continue;
    const decoded = item(raw, "delayed item");
    if (decoded !== null) retrying.push({ item: decoded, due: Number(delayedFlat[i + 1]) });
  }
  const waiting = (raws: readonly string[], what: string): WaitingItem[] =>
    raws
      .map((raw) => item(raw, what))
      .filter(nonNull)
      .map((decoded) => ({ item: decoded, due: null }));

  const firstSeq = eventsTotal - eventRaws.length + 1;
  return {
    now,
    run: decodeRunInfo(fields),
    items: tryDecode(malformed, "item records", () => decodeItemStates(runId, fields)) ?? [],
    events: eventRaws
      .map((raw, i) => tryDecode(malformed, `event ${firstSeq + i}`, () => decodeEvent(raw, firstSeq + i)))
      .filter(nonNull),
    eventsTotal,
    errors: errorRaws
      .map((raw) => tryDecode(malformed, "error record", () => decodeErrorRecord(raw)))
      .filter(nonNull),
    leased,
    retrying,
    held: waiting(Object.values(heldMap), "held item"),
    parked: waiting(parkedRaws, "parked item"),
    checkpoint: tryDecode(malformed, "checkpoint", () =>
      decodeCheckpoint(replies[10] as Record<string, string>),
    ),
    malformed,
  };
}
