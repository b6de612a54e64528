/**
 * What crosses the wire to Redis: JSON encoders with a canonical item layout the Lua scripts
 * rely on, and decoders that validate everything read back against the TypeBox schemas of
 * record-schemas.ts (Redis is shared; a foreign or older writer must produce a clear InvalidItem
 * error, not a TypeError deep in a worker).
 */
import { FloxideError, type ErrorInfo, type EventDraft, type EventRecord } from "../../sdk/index.ts";
import { Type, type Static } from "@sinclair/typebox";
import type {
  Checkpoint,
  DeadLetter,
  ErrorRecord,
  FanFrame,
  ItemState,
  NodeMetrics,
  RunInfo,
  RunOutput,
  WorkItem,
  WorkerLiveness,
  WorkflowMetrics,
} from "../types.ts";
import {
  CheckpointHashSchema,
  DeadLetterSchema,
  ErrorInfoSchema,
  ErrorRecordSchema,
  EventSchema,
  FanFrameSchema,
  ItemRecordSchema,
  MetricsHashSchema,
  RunHashSchema,
  RunOutputSchema,
  WorkItemSchema,
} from "./record-schemas.ts";
import { compiledCheck, decodeReply, malformed, WorkerLivenessSchema } from "./reply-schemas.ts";

type Json = Record<string, unknown>;

/** JSON of a user value; `undefined` is stored as null, as a JSON store would. */
export function toJson(value: unknown, what: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new FloxideError(
      "InvalidInput",
      `${what} is not JSON-serialisable: ${String(error)}`,
      {},
      { cause: error },
    );
  }
  return text ?? "null";
}

function parse(raw: string, what: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch (error) {
    throw malformed(what, `: not JSON (${(error as Error).message})`);
  }
}

const isRecord = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const isCount = (value: number, min: number): boolean => Number.isInteger(value) && value >= min;

// ---- work items ------------------------------------------------------------------------------

const FRAMES = Type.Array(FanFrameSchema);

/** The first frame whose index is not below its count, as a problem; JSON Schema cannot say it. */
function frameRangeProblem(frames: readonly FanFrame[]): string | null {
  for (const frame of frames) {
    if (frame.index >= frame.count) return `frame index ${frame.index} of ${frame.count} is out of range`;
  }
  return null;
}

/** The frames as stored: `{id, index, count}` each, whatever else a frame object carried. */
function storedFrames(item: WorkItem): FanFrame[] {
  const frames: unknown = item.frames;
  const stored = Array.isArray(frames)
    ? frames.map((frame: Partial<FanFrame> | null) => ({
        id: frame?.id,
        index: frame?.index,
        count: frame?.count,
      }))
    : frames;
  const problem = compiledCheck(FRAMES).Check(stored)
    ? frameRangeProblem(stored)
    : "frames must be {id, index, count} with integers 0 <= index < count";
  if (problem !== null)
    throw new FloxideError("InvalidItem", `item ${item.id}: ${problem}`, { itemId: item.id });
  return stored as FanFrame[];
}

/**
 * The item JSON up to and including `"input":`. Lua relies on this layout: the attempt comes
 * first (a retry rewrites it in place) and the input last (a join appends its inputs).
 */
export function encodeItemHead(item: WorkItem): string {
  if (!isCount(item.attempt, 1) || !isCount(item.maxAttempts, 1)) {
    throw new FloxideError("InvalidItem", `item ${item.id}: attempt and maxAttempts must be integers >= 1`, {
      itemId: item.id,
    });
  }
  if (!Number.isFinite(item.enqueuedAt)) {
    throw new FloxideError("InvalidItem", `item ${item.id}: enqueuedAt is not a number`, { itemId: item.id });
  }
  for (const field of ["id", "runId", "workflow", "version", "node"] as const) {
    if (typeof item[field] !== "string" || item[field] === "") {
      throw new FloxideError("InvalidItem", `item field "${field}" must be a non-empty string`, {
        itemId: item.id,
      });
    }
  }
  const frames = storedFrames(item);
  return (
    `{"attempt":${item.attempt},"maxAttempts":${item.maxAttempts},"id":${JSON.stringify(item.id)}` +
    `,"runId":${JSON.stringify(item.runId)},"workflow":${JSON.stringify(item.workflow)}` +
    `,"version":${JSON.stringify(item.version)},"node":${JSON.stringify(item.node)}` +
    `,"enqueuedAt":${item.enqueuedAt},"frames":${JSON.stringify(frames)},"input":`
  );
}

export function encodeItem(item: WorkItem): string {
  return `${encodeItemHead(item)}${toJson(item.input, `input of item ${item.id}`)}}`;
}

/** `input` read as null where it is absent, as a JSON store keeps `undefined`. */
function withInput<T extends { input?: unknown }>(item: T): T & { input: unknown } {
  if (item.input === undefined) (item as { input: unknown }).input = null;
  return item as T & { input: unknown };
}

/**
 * A work item about to run (the claim's hot path): one compiled check of the parsed JSON, which
 * is returned as it is (a fresh object, this call's own), so a claim allocates nothing more.
 */
export function decodeItem(raw: string): WorkItem {
  const what = "work item";
  const item = withInput(decodeReply(WorkItemSchema, parse(raw, what), what));
  const problem = frameRangeProblem(item.frames);
  if (problem !== null) throw malformed(what, `: ${problem}`);
  return item;
}

// ---- errors, events, outputs -------------------------------------------------------------------

/** Only the ErrorInfo fields are stored; whatever else an error object carries is dropped. */
export function encodeError(error: ErrorInfo): string {
  return JSON.stringify({
    code: String(error.code),
    message: String(error.message),
    ...(error.node === undefined ? {} : { node: String(error.node) }),
    ...(error.stack === undefined ? {} : { stack: String(error.stack) }),
  });
}

/** The ErrorInfo fields of a decoded error, nothing else. */
function errorInfo(error: Static<typeof ErrorInfoSchema>): ErrorInfo {
  const { code, message, node, stack } = error;
  return {
    code,
    message,
    ...(typeof node === "string" ? { node } : {}),
    ...(stack === undefined ? {} : { stack }),
  };
}

export function encodeEvent(draft: EventDraft): string {
  return `{"id":${JSON.stringify(draft.id)},"node":${JSON.stringify(draft.node)},"itemId":${JSON.stringify(
    draft.itemId,
  )},"event":${toJson(draft.event, `event ${draft.id}`)}}`;
}

export function decodeEvent(raw: string, seq: number): EventRecord {
  const what = "event";
  const { id, node, itemId, event } = decodeReply(EventSchema, parse(raw, what), what);
  return { id, seq, node, itemId, event: event === undefined ? null : event };
}

export function encodeOutput(output: RunOutput): string {
  return `{"node":${JSON.stringify(output.node)},"itemId":${JSON.stringify(output.itemId)},"value":${toJson(
    output.value,
    `output of item ${output.itemId}`,
  )}}`;
}

function decodeOutput(raw: string): RunOutput {
  const what = "run output";
  const { node, itemId, value } = decodeReply(RunOutputSchema, parse(raw, what), what);
  return { node, itemId, value: value === undefined ? null : value };
}

// ---- runs ----------------------------------------------------------------------------------------

/** HGETALL (as an object or ioredis' flat array from a script) into field -> value. */
export function toFields(reply: unknown): Record<string, string> {
  if (Array.isArray(reply)) {
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < reply.length; i += 2) fields[String(reply[i])] = String(reply[i + 1]);
    return fields;
  }
  if (isRecord(reply)) return Object.fromEntries(Object.entries(reply).map(([k, v]) => [k, String(v)]));
  throw malformed("hash", ": not a hash reply");
}

const optionalNumber = (value: string | undefined): number | null =>
  value === undefined ? null : Number(value);

/** The run's hash: its fields, its outputs (`o:1`..`o:<outputs>`) and item records (`i:<id>`). */
export function decodeRunInfo(fields: Record<string, string>): RunInfo {
  const what = "run info";
  const run = decodeReply(RunHashSchema, fields, what);
  const outputs: RunOutput[] = [];
  const count = Number(run.outputs ?? 0);
  for (let n = 1; n <= count; n += 1) {
    const output = fields[`o:${n}`];
    if (output === undefined) throw malformed(what, ` at /o:${n}: output ${n} of ${count} is missing`);
    outputs.push(decodeOutput(output));
  }
  return {
    runId: run.runId,
    workflow: run.workflow,
    version: run.version,
    status: run.status,
    input: parse(run.input, what),
    createdAt: Number(run.createdAt),
    startedAt: optionalNumber(run.startedAt),
    finishedAt: optionalNumber(run.finishedAt),
    outputs,
    error:
      run.error === undefined ? null : errorInfo(decodeReply(ErrorInfoSchema, parse(run.error, what), what)),
    idempotencyKey: run.idempotencyKey ?? null,
    pending: Number(run.pending),
    held: Number(run.held),
  };
}

/**
 * The item records of a run's hash (fields `i:<item id>`), each
 * `status TAB attempt TAB updatedAt TAB durationUs TAB node TAB lastError JSON or empty`.
 */
export function decodeItemStates(runId: string, fields: Record<string, string>): ItemState[] {
  const states: ItemState[] = [];
  for (const [field, value] of Object.entries(fields)) {
    if (!field.startsWith("i:")) continue;
    const itemId = field.slice(2);
    const what = `item state of item ${itemId}`;
    const parts = value.split("\t");
    const [status, attempt, updatedAt, durationUs, node] = decodeReply(
      ItemRecordSchema,
      parts.slice(0, 5),
      what,
    );
    if (parts.length < 6) throw malformed(what, `: ${parts.length} tab-separated fields, expected 6`);
    const lastError = parts.slice(5).join("\t");
    states.push({
      itemId,
      runId,
      node,
      status,
      attempt: Number(attempt),
      updatedAt: Number(updatedAt),
      durationMs: Number(durationUs) / 1000,
      lastError:
        lastError === "" ? null : errorInfo(decodeReply(ErrorInfoSchema, parse(lastError, what), what)),
    });
  }
  return states;
}

export function decodeErrorRecord(raw: string): ErrorRecord {
  const what = "error record";
  const record = decodeReply(ErrorRecordSchema, parse(raw, what), what);
  const { runId, itemId, node, attempt, action, at } = record;
  return { runId, itemId, node, attempt, error: errorInfo(record.error), action, at };
}

export function decodeDeadLetter(raw: string): DeadLetter {
  const what = "dead letter";
  const letter = decodeReply(DeadLetterSchema, parse(raw, what), what);
  // The item as the store's type has it: the fields it does not know are left out.
  const { id, runId, workflow, version, node, input, attempt, maxAttempts, frames, enqueuedAt } = letter.item;
  const item: WorkItem = {
    id,
    runId,
    workflow,
    version,
    node,
    input: input === undefined ? null : input,
    attempt,
    maxAttempts,
    frames,
    enqueuedAt,
  };
  return { item, error: errorInfo(letter.error), at: letter.at };
}

// ---- metrics, liveness, checkpoints ------------------------------------------------------------

const WORKFLOW_COUNTERS = [
  "runsStarted",
  "runsCompleted",
  "runsFailed",
  "runsCancelled",
  "leaseReclaims",
  "deadLettered",
] as const;
const NODE_COUNTERS = ["completed", "failed", "retried", "held", "durationMsTotal"] as const;

/**
 * The metrics HASH: workflow counters by name, node counters as `node:<counter>:<node>`, and one
 * gauge, `parkedItems`: the items parked now (held by `hold` or kept by a paused run) in the
 * workflow's live runs, kept by the functions that park and unpark them (park_item, commit's
 * hold, resume-run, finish, redrive), so the console reads it in O(1).
 */
export function decodeMetrics(fields: Record<string, string>): WorkflowMetrics {
  decodeReply(MetricsHashSchema, fields, "metrics");
  const nodes: Record<string, Record<(typeof NODE_COUNTERS)[number], number>> = {};
  for (const [field, value] of Object.entries(fields)) {
    const match = /^node:([A-Za-z]+):(.*)$/s.exec(field);
    if (match === null) continue;
    const node = match[2] as string;
    // Durations are kept as integer microseconds (`durationUsTotal`).
    const micros = match[1] === "durationUsTotal";
    const counter = (micros ? "durationMsTotal" : match[1]) as (typeof NODE_COUNTERS)[number];
    if (!NODE_COUNTERS.includes(counter) || (counter === "durationMsTotal" && !micros)) continue;
    nodes[node] ??= { completed: 0, failed: 0, retried: 0, held: 0, durationMsTotal: 0 };
    if (micros) nodes[node].durationMsTotal += Number(value) / 1000;
    else nodes[node][counter] = Number(value);
  }
  const counters = Object.fromEntries(
    WORKFLOW_COUNTERS.map((name) => [name, Number(fields[name] ?? 0)]),
  ) as Record<(typeof WORKFLOW_COUNTERS)[number], number>;
  return {
    nodes: nodes as Record<string, NodeMetrics>,
    ...counters,
    parked: Number(fields.parkedItems ?? 0),
  };
}

export function decodeLiveness(raw: string): WorkerLiveness {
  const what = "worker liveness";
  return decodeReply(WorkerLivenessSchema, parse(raw, what), what);
}

export function decodeCheckpoint(fields: Record<string, string>): Checkpoint | null {
  if (fields.seq === undefined || fields.state === undefined) return null;
  const what = "checkpoint";
  const checkpoint = decodeReply(CheckpointHashSchema, fields, what);
  return { seq: Number(checkpoint.seq), state: parse(checkpoint.state, what) };
}
