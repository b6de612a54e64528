/**
 * What crosses the wire to Redis: JSON encoders with a canonical item layout the Lua scripts
 * rely on, and decoders that validate everything read back (Redis is shared; a foreign or
 * older writer must produce a clear InvalidItem error, not a TypeError deep in a worker).
 */
import { FloxideError, type ErrorInfo, type EventDraft, type EventRecord } from "../../sdk/index.ts";
import type {
  Checkpoint,
  DeadLetter,
  ErrorRecord,
  FanFrame,
  ItemState,
  ItemStatus,
  NodeMetrics,
  RunInfo,
  RunOutput,
  RunStatus,
  WorkItem,
  WorkerLiveness,
  WorkflowMetrics,
} from "../types.ts";

type Json = Record<string, unknown>;

const invalid = (what: string, problem: string): FloxideError =>
  new FloxideError("InvalidItem", `malformed ${what} read from Redis: ${problem}`, { what });

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
    throw invalid(what, `not JSON (${(error as Error).message})`);
  }
}

const isRecord = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);

function record(value: unknown, what: string): Json {
  if (!isRecord(value)) throw invalid(what, "not a JSON object");
  return value;
}

function str(object: Json, field: string, what: string): string {
  const value = object[field];
  if (typeof value !== "string") throw invalid(what, `field "${field}" is not a string`);
  return value;
}

function num(object: Json, field: string, what: string): number {
  const value = object[field];
  if (typeof value !== "number" || !Number.isFinite(value))
    throw invalid(what, `field "${field}" is not a number`);
  return value;
}

const isCount = (value: number, min: number): boolean => Number.isInteger(value) && value >= min;

// ---- work items ------------------------------------------------------------------------------

function checkFrames(frames: unknown, what: string): FanFrame[] {
  if (!Array.isArray(frames)) throw invalid(what, 'field "frames" is not an array');
  return frames.map((entry: unknown) => {
    const frame = record(entry, `${what} frame`);
    const index = num(frame, "index", what);
    const count = num(frame, "count", what);
    if (!isCount(count, 1) || !isCount(index, 0) || index >= count) {
      throw invalid(what, `frame index ${index} of ${count} is out of range`);
    }
    return { id: str(frame, "id", what), index, count };
  });
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
  const frames = checkFrames(item.frames, `item ${item.id}`);
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

const ITEM_FIELDS: ReadonlySet<string> = new Set([
  "attempt",
  "maxAttempts",
  "id",
  "runId",
  "workflow",
  "version",
  "node",
  "enqueuedAt",
  "frames",
  "input",
]);

/**
 * A work item about to run. Strict: a field this worker does not know means the item was
 * written by something else (or a newer format) and would run with part of its meaning lost.
 */
export function decodeItem(raw: string): WorkItem {
  const object = parse(raw, "work item");
  if (isRecord(object)) {
    const unknown = Object.keys(object).filter((field) => !ITEM_FIELDS.has(field));
    if (unknown.length > 0)
      throw invalid(
        "work item",
        `unknown field${unknown.length > 1 ? "s" : ""} ${unknown.map((f) => `"${f}"`).join(", ")}`,
      );
  }
  return itemFrom(object);
}

function itemFrom(value: unknown): WorkItem {
  const what = "work item";
  const object = record(value, what);
  const attempt = num(object, "attempt", what);
  const maxAttempts = num(object, "maxAttempts", what);
  if (!isCount(attempt, 1) || !isCount(maxAttempts, 1))
    throw invalid(what, "attempt counts are not integers >= 1");
  return {
    id: str(object, "id", what),
    runId: str(object, "runId", what),
    workflow: str(object, "workflow", what),
    version: str(object, "version", what),
    node: str(object, "node", what),
    input: object.input === undefined ? null : object.input,
    attempt,
    maxAttempts,
    frames: checkFrames(object.frames, what),
    enqueuedAt: num(object, "enqueuedAt", what),
  };
}

// ---- errors, events, outputs -------------------------------------------------------------------

/** Only the ErrorInfo fields are stored; whatever else an error object carries is dropped. */
export function encodeError(error: ErrorInfo): string {
  return JSON.stringify({
    code: String(error.code),
    message: String(error.message),
    ...(error.node === undefined ? {} : { node: String(error.node) }),
  });
}

function decodeErrorInfo(value: unknown, what: string): ErrorInfo {
  const object = record(value, what);
  const node = object.node;
  return {
    code: str(object, "code", what),
    message: str(object, "message", what),
    ...(typeof node === "string" ? { node } : {}),
  };
}

export function encodeEvent(draft: EventDraft): string {
  return `{"id":${JSON.stringify(draft.id)},"node":${JSON.stringify(draft.node)},"itemId":${JSON.stringify(
    draft.itemId,
  )},"event":${toJson(draft.event, `event ${draft.id}`)}}`;
}

export function decodeEvent(raw: string, seq: number): EventRecord {
  const what = "event";
  const object = record(parse(raw, what), what);
  return {
    id: str(object, "id", what),
    seq,
    node: str(object, "node", what),
    itemId: str(object, "itemId", what),
    event: object.event === undefined ? null : object.event,
  };
}

export function encodeOutput(output: RunOutput): string {
  return `{"node":${JSON.stringify(output.node)},"itemId":${JSON.stringify(output.itemId)},"value":${toJson(
    output.value,
    `output of item ${output.itemId}`,
  )}}`;
}

function decodeOutput(raw: string): RunOutput {
  const what = "run output";
  const object = record(parse(raw, what), what);
  return {
    node: str(object, "node", what),
    itemId: str(object, "itemId", what),
    value: object.value === undefined ? null : object.value,
  };
}

// ---- runs ----------------------------------------------------------------------------------------

const RUN_STATUSES: readonly RunStatus[] = [
  "queued",
  "running",
  "paused",
  "completed",
  "failed",
  "cancelled",
];
const ITEM_STATUSES: readonly ItemStatus[] = [
  "queued",
  "running",
  "retrying",
  "held",
  "parked",
  "completed",
  "failed",
  "dead",
  "cancelled",
];

/** HGETALL (as an object or ioredis' flat array from a script) into field -> value. */
export function toFields(reply: unknown): Record<string, string> {
  if (Array.isArray(reply)) {
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < reply.length; i += 2) fields[String(reply[i])] = String(reply[i + 1]);
    return fields;
  }
  if (isRecord(reply)) return Object.fromEntries(Object.entries(reply).map(([k, v]) => [k, String(v)]));
  throw invalid("hash", "not a hash reply");
}

const optionalNumber = (value: string | undefined): number | null =>
  value === undefined ? null : Number(value);

/** The run's hash: its fields, its outputs (`o:1`..`o:<outputs>`) and item records (`i:<id>`). */
export function decodeRunInfo(fields: Record<string, string>): RunInfo {
  const what = "run info";
  const status = fields.status as RunStatus;
  if (!RUN_STATUSES.includes(status)) throw invalid(what, `unknown status "${fields.status}"`);
  const need = (field: string): string => {
    const value = fields[field];
    if (value === undefined) throw invalid(what, `field "${field}" is missing`);
    return value;
  };
  const outputs: RunOutput[] = [];
  const count = Number(fields.outputs ?? 0);
  for (let n = 1; n <= count; n += 1) outputs.push(decodeOutput(need(`o:${n}`)));
  return {
    runId: need("runId"),
    workflow: need("workflow"),
    version: need("version"),
    status,
    input: parse(need("input"), what),
    createdAt: Number(need("createdAt")),
    startedAt: optionalNumber(fields.startedAt),
    finishedAt: optionalNumber(fields.finishedAt),
    outputs,
    error: fields.error === undefined ? null : decodeErrorInfo(parse(fields.error, what), what),
    idempotencyKey: fields.idempotencyKey ?? null,
    pending: Number(need("pending")),
    held: Number(need("held")),
  };
}

/**
 * The item records of a run's hash (fields `i:<item id>`), each
 * `status TAB attempt TAB updatedAt TAB durationMs TAB node TAB lastError JSON or empty`.
 */
export function decodeItemStates(runId: string, fields: Record<string, string>): ItemState[] {
  const what = "item state";
  const states: ItemState[] = [];
  for (const [field, value] of Object.entries(fields)) {
    if (!field.startsWith("i:")) continue;
    const parts = value.split("\t");
    if (parts.length < 6) throw invalid(what, `record of item ${field.slice(2)} has ${parts.length} fields`);
    const [status, attempt, updatedAt, durationMs, node] = parts as [string, string, string, string, string];
    const lastError = parts.slice(5).join("\t");
    if (!ITEM_STATUSES.includes(status as ItemStatus)) throw invalid(what, `unknown status "${status}"`);
    const numbers = [attempt, updatedAt, durationMs].map(Number);
    if (numbers.some((n) => !Number.isFinite(n))) throw invalid(what, `record of item ${field.slice(2)}`);
    states.push({
      itemId: field.slice(2),
      runId,
      node,
      status: status as ItemStatus,
      attempt: numbers[0] as number,
      updatedAt: numbers[1] as number,
      durationMs: numbers[2] as number,
      lastError: lastError === "" ? null : decodeErrorInfo(parse(lastError, what), what),
    });
  }
  return states;
}

const ERROR_ACTIONS: readonly ErrorRecord["action"][] = ["retry", "fallback", "fail", "dead", "reclaim"];

export function decodeErrorRecord(raw: string): ErrorRecord {
  const what = "error record";
  const object = record(parse(raw, what), what);
  const action = str(object, "action", what) as ErrorRecord["action"];
  if (!ERROR_ACTIONS.includes(action)) throw invalid(what, `unknown action "${action}"`);
  return {
    runId: str(object, "runId", what),
    itemId: str(object, "itemId", what),
    node: str(object, "node", what),
    attempt: num(object, "attempt", what),
    error: decodeErrorInfo(object.error, what),
    action,
    at: num(object, "at", what),
  };
}

export function decodeDeadLetter(raw: string): DeadLetter {
  const what = "dead letter";
  const object = record(parse(raw, what), what);
  return {
    item: itemFrom(object.item),
    error: decodeErrorInfo(object.error, what),
    at: num(object, "at", what),
  };
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

/** The metrics HASH: workflow counters by name, node counters as `node:<counter>:<node>`. */
export function decodeMetrics(fields: Record<string, string>): WorkflowMetrics {
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
  return { nodes: nodes as Record<string, NodeMetrics>, ...counters };
}

const LIVENESS_STATUSES: readonly WorkerLiveness["status"][] = ["idle", "busy", "draining"];

export function decodeLiveness(raw: string): WorkerLiveness {
  const what = "worker liveness";
  const object = record(parse(raw, what), what);
  const status = str(object, "status", what) as WorkerLiveness["status"];
  if (!LIVENESS_STATUSES.includes(status)) throw invalid(what, `unknown status "${status}"`);
  return {
    workerId: str(object, "workerId", what),
    status,
    inFlight: num(object, "inFlight", what),
    at: num(object, "at", what),
  };
}

export function decodeCheckpoint(fields: Record<string, string>): Checkpoint | null {
  if (fields.seq === undefined || fields.state === undefined) return null;
  return { seq: Number(fields.seq), state: parse(fields.state, "checkpoint") };
}
