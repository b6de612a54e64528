/**
 * TypeBox schemas of the records the Redis store writes and reads back: work items, events,
 * outputs, errors, dead letters (JSON), and the text fields of the run, metrics and checkpoint
 * hashes. codec.ts decodes with them (reply-schemas.ts `decodeReply`); the types they describe
 * are the store's own (types.ts), and a drift between the two fails the compile below.
 */
import { Type, type Static, type TLiteral, type TObject, type TProperties } from "@sinclair/typebox";
import { STACK_MAX_CHARS, type ErrorInfo } from "../../sdk/index.ts";
import type { DeadLetter, ErrorRecord, FanFrame, ItemStatus, RunStatus, WorkItem } from "../types.ts";

/** A union of string literals, from the list that names them. */
const oneOf = <const T extends readonly string[]>(values: T) =>
  Type.Union(values.map((value) => Type.Literal(value)) as TLiteral<T[number]>[]);

export const RUN_STATUSES = ["queued", "running", "paused", "completed", "failed", "cancelled"] as const;
export const ITEM_STATUSES = [
  "queued",
  "running",
  "retrying",
  "held",
  "parked",
  "completed",
  "failed",
  "dead",
  "cancelled",
] as const;
const ERROR_ACTIONS = ["retry", "fallback", "fail", "dead", "reclaim"] as const;

// Hash fields are text: numbers as Lua writes them (HINCRBY integers, times in ms).
/** An integer as text (a HINCRBY counter). */
export const IntegerText = Type.String({ pattern: "^-?[0-9]+$" });
/** A finite number as text. */
export const NumberText = Type.String({ pattern: "^-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?$" });
const CountText = Type.String({ pattern: "^[0-9]+$" });

export const FanFrameSchema = Type.Object(
  { id: Type.String(), index: Type.Integer({ minimum: 0 }), count: Type.Integer({ minimum: 1 }) },
  { additionalProperties: false },
);

const itemFields = {
  attempt: Type.Integer({ minimum: 1 }),
  maxAttempts: Type.Integer({ minimum: 1 }),
  id: Type.String(),
  runId: Type.String(),
  workflow: Type.String(),
  version: Type.String(),
  node: Type.String(),
  enqueuedAt: Type.Number(),
  frames: Type.Array(FanFrameSchema),
  // Absent reads as null, as a JSON store would keep `undefined`.
  input: Type.Optional(Type.Unknown()),
} satisfies TProperties;

/**
 * A work item about to run. Strict: a field this worker does not know means the item was
 * written by something else (or a newer format) and would run with part of its meaning lost.
 */
export const WorkItemSchema = Type.Object(itemFields, { additionalProperties: false });

/** The item of a dead letter: whatever else it carried is why it may be there, so not strict. */
const DeadItemSchema: TObject<typeof itemFields> = Type.Object(itemFields);

/** Extra fields are dropped when decoded; `node` is kept only when it is a string. */
export const ErrorInfoSchema = Type.Object({
  code: Type.String(),
  message: Type.String(),
  node: Type.Optional(Type.Unknown()),
  // errorStack's bound: a longer one was not written by a worker.
  stack: Type.Optional(Type.String({ maxLength: STACK_MAX_CHARS })),
});

export const EventSchema = Type.Object({
  id: Type.String(),
  node: Type.String(),
  itemId: Type.String(),
  event: Type.Optional(Type.Unknown()),
});

export const RunOutputSchema = Type.Object({
  node: Type.String(),
  itemId: Type.String(),
  value: Type.Optional(Type.Unknown()),
});

export const ErrorRecordSchema = Type.Object({
  runId: Type.String(),
  itemId: Type.String(),
  node: Type.String(),
  attempt: Type.Number(),
  error: ErrorInfoSchema,
  action: oneOf(ERROR_ACTIONS),
  at: Type.Number(),
});

export const DeadLetterSchema = Type.Object({
  item: DeadItemSchema,
  error: ErrorInfoSchema,
  at: Type.Number(),
});

/**
 * The run's hash (includes/runs.lua RUN_FIELDS); its other fields (`o:<n>` outputs, `i:<id>`
 * item records, join and event counters) are read on their own.
 */
export const RunHashSchema = Type.Object({
  runId: Type.String(),
  workflow: Type.String(),
  version: Type.String(),
  status: oneOf(RUN_STATUSES),
  input: Type.String(),
  createdAt: NumberText,
  startedAt: Type.Optional(NumberText),
  finishedAt: Type.Optional(NumberText),
  error: Type.Optional(Type.String()),
  idempotencyKey: Type.Optional(Type.String()),
  pending: CountText,
  held: CountText,
  outputs: Type.Optional(CountText),
});

/** An item record of the run hash split at its tabs: status, attempt, updatedAt, durationUs, node. */
export const ItemRecordSchema = Type.Tuple([
  oneOf(ITEM_STATUSES),
  CountText,
  NumberText,
  NumberText,
  Type.String(),
]);

/** The metrics hash: every field a HINCRBY counter. */
export const MetricsHashSchema = Type.Record(Type.String(), IntegerText);

export const CheckpointHashSchema = Type.Object({ seq: IntegerText, state: Type.String() });

// The store's types and the schemas must agree; a drift fails the compile here.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const agree: [
  Same<Static<typeof FanFrameSchema>, FanFrame>,
  Static<typeof WorkItemSchema> extends Omit<WorkItem, "input" | "frames"> ? true : false,
  Same<Static<(typeof RunHashSchema)["properties"]["status"]>, RunStatus>,
  Same<Static<(typeof ItemRecordSchema)["items"][0]>, ItemStatus>,
  Same<Static<(typeof ErrorRecordSchema)["properties"]["action"]>, ErrorRecord["action"]>,
  Static<typeof ErrorInfoSchema> extends Omit<ErrorInfo, "node"> ? true : false,
  Static<typeof DeadLetterSchema>["at"] extends DeadLetter["at"] ? true : false,
] = [true, true, true, true, true, true, true];
void agree;
