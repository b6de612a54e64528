/**
 * The Redis store's decoders (codec.ts on the schemas of record-schemas.ts, the read-only readers
 * on reply-schemas.ts): what the store wrote reads back as it was; anything else is an InvalidItem
 * error that names what was read and where.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { FloxideError, STACK_MAX_CHARS } from "../../../worker/sdk/index.ts";
import {
  decodeCheckpoint,
  decodeDeadLetter,
  decodeErrorRecord,
  decodeEvent,
  decodeItem,
  decodeItemStates,
  decodeMetrics,
  decodeRunInfo,
  encodeError,
  encodeItem,
} from "../../../worker/store/redis/codec.ts";
import {
  decodeReply,
  LivenessReplySchema,
  QueueDepthReplySchema,
  WorkerLivenessSchema,
  type WorkItem,
} from "../../../worker/store/index.ts";

const invalid = (pattern: RegExp) => (error: unknown) =>
  error instanceof FloxideError && error.code === "InvalidItem" && pattern.test(error.message);

const item: WorkItem = {
  id: "r1:fan:0",
  runId: "r1",
  workflow: "video",
  version: "2",
  node: "fan",
  input: { n: 1 },
  attempt: 1,
  maxAttempts: 3,
  frames: [{ id: "f", index: 1, count: 2 }],
  enqueuedAt: 1_700_000_000_000,
};
const raw = encodeItem(item);
const edit = (change: (json: Record<string, unknown>) => void): string => {
  const json = JSON.parse(raw) as Record<string, unknown>;
  change(json);
  return JSON.stringify(json);
};

test("a work item reads back as it was written; an absent input reads as null", () => {
  assert.deepEqual(decodeItem(raw), item);
  assert.equal(
    decodeItem(
      edit((json) => {
        delete json.input;
      }),
    ).input,
    null,
  );
});

test("a work item with a field this worker does not know is refused, naming the fields", () => {
  assert.throws(
    () => decodeItem(edit((json) => (json.priority = 1))),
    invalid(/^malformed work item read from Redis: unknown field "priority"$/),
  );
  assert.throws(
    () => decodeItem(edit((json) => Object.assign(json, { a: 1, b: 2 }))),
    invalid(/unknown fields "a", "b"$/),
  );
});

test("a work item that is not JSON, of the wrong types or with a frame out of range is refused", () => {
  assert.throws(() => decodeItem("{half"), invalid(/malformed work item read from Redis: not JSON/));
  assert.throws(() => decodeItem(edit((json) => (json.attempt = 0))), invalid(/at \/attempt: .*found 0$/));
  assert.throws(() => decodeItem(edit((json) => (json.node = 7))), invalid(/at \/node: Expected string/));
  assert.throws(
    () => decodeItem(edit((json) => (json.frames = [{ id: "f", index: 2, count: 2 }]))),
    invalid(/frame index 2 of 2 is out of range/),
  );
  assert.throws(() => decodeItem("[1]"), invalid(/work item/));
});

const runHash: Record<string, string> = {
  runId: "r1",
  workflow: "video",
  version: "2",
  status: "completed",
  input: '{"n":1}',
  createdAt: "1700000000000",
  startedAt: "1700000000001",
  finishedAt: "1700000000009",
  pending: "0",
  held: "0",
  outputs: "1",
  "o:1": '{"node":"end","itemId":"r1:end","value":[1]}',
  "i:r1:end": 'completed\t1\t1700000000009\t1500\tend\t{"code":"E","message":"m","extra":1}',
};

test("a run's hash reads back as its info and item states", () => {
  const info = decodeRunInfo(runHash);
  assert.equal(info.status, "completed");
  assert.deepEqual(info.input, { n: 1 });
  assert.deepEqual(info.outputs, [{ node: "end", itemId: "r1:end", value: [1] }]);
  assert.deepEqual(
    [info.createdAt, info.startedAt, info.pending, info.error],
    [1_700_000_000_000, 1_700_000_000_001, 0, null],
  );
  assert.deepEqual(decodeItemStates("r1", runHash), [
    {
      itemId: "r1:end",
      runId: "r1",
      node: "end",
      status: "completed",
      attempt: 1,
      updatedAt: 1_700_000_000_009,
      durationMs: 1.5,
      lastError: { code: "E", message: "m" },
    },
  ]);
});

test("a run's hash with a garbage field is refused naming the field, never read as NaN", () => {
  for (const field of ["pending", "held", "createdAt", "outputs", "startedAt"]) {
    assert.throws(
      () => decodeRunInfo({ ...runHash, [field]: "x" }),
      invalid(new RegExp(`run info .* at /${field}:`)),
    );
  }
  assert.throws(
    () => decodeRunInfo({ ...runHash, status: "done" }),
    invalid(/at \/status: Expected one of "queued", .*found "done"/),
  );
  assert.throws(() => decodeRunInfo({ ...runHash, outputs: "2" }), invalid(/output 2 of 2 is missing/));
  assert.throws(
    () => decodeItemStates("r1", { "i:x": "sleeping\t1\t1\t1\tend\t" }),
    invalid(/item state of item x .* at \/0: Expected one of/),
  );
  assert.throws(
    () => decodeItemStates("r1", { "i:x": "completed\t1\t1\t1\tend" }),
    invalid(/5 tab-separated fields/),
  );
});

test("metrics: counters by name and by node; a counter that is not an integer is refused", () => {
  const metrics = decodeMetrics({
    runsStarted: "3",
    "node:completed:end": "2",
    "node:durationUsTotal:end": "2500",
  });
  assert.equal(metrics.runsStarted, 3);
  assert.equal(metrics.runsFailed, 0);
  assert.deepEqual(metrics.nodes.end, { completed: 2, failed: 0, retried: 0, held: 0, durationMsTotal: 2.5 });
  assert.throws(() => decodeMetrics({ runsStarted: "1.5x" }), invalid(/metrics .* at \/runsStarted/));
});

test("events, error records, dead letters and checkpoints decode by their schemas", () => {
  assert.deepEqual(decodeEvent('{"id":"e","node":"n","itemId":"i"}', 4), {
    id: "e",
    seq: 4,
    node: "n",
    itemId: "i",
    event: null,
  });
  assert.throws(() => decodeEvent('{"id":"e","node":"n"}', 1), invalid(/event .* at \/itemId/));
  const record = {
    runId: "r",
    itemId: "i",
    node: "n",
    attempt: 1,
    error: { code: "E", message: "m" },
    at: 5,
  };
  assert.deepEqual(decodeErrorRecord(JSON.stringify({ ...record, action: "retry" })), {
    ...record,
    action: "retry",
  });
  assert.throws(
    () => decodeErrorRecord(JSON.stringify({ ...record, action: "explode" })),
    invalid(/error record .* at \/action/),
  );
  // A dead letter keeps the item that was refused for an unknown field, without that field.
  const letter = decodeDeadLetter(
    JSON.stringify({
      item: { ...JSON.parse(raw), priority: 1 },
      error: { code: "InvalidItem", message: "m", node: 3 },
      at: 9,
    }),
  );
  assert.deepEqual(letter, { item, error: { code: "InvalidItem", message: "m" }, at: 9 });
  // A stack survives the store's encoding; one longer than a worker records is refused.
  const withStack = {
    code: "TypeError",
    message: "m",
    node: "n",
    stack: "TypeError: m\n    at f (x.ts:1:1)",
  };
  assert.deepEqual(
    decodeErrorRecord(
      JSON.stringify({ ...record, action: "fail", error: JSON.parse(encodeError(withStack)) }),
    ).error,
    withStack,
  );
  assert.throws(
    () =>
      decodeErrorRecord(
        JSON.stringify({
          ...record,
          action: "fail",
          error: { ...withStack, stack: "s".repeat(STACK_MAX_CHARS + 1) },
        }),
      ),
    invalid(/error record .* at \/error\/stack/),
  );
  assert.deepEqual(decodeCheckpoint({ seq: "2", state: '{"s":1}' }), { seq: 2, state: { s: 1 } });
  assert.equal(decodeCheckpoint({}), null);
  assert.throws(() => decodeCheckpoint({ seq: "two", state: "{}" }), invalid(/checkpoint .* at \/seq/));
});

test("a queue depth reply is four counts, as Redis returns them", () => {
  assert.deepEqual(decodeReply(QueueDepthReplySchema, [3, 0, 1, 2], "queue depth"), [3, 0, 1, 2]);
});

test("a queue depth reply that is not four counts is an InvalidItem error naming the read", () => {
  assert.throws(
    () => decodeReply(QueueDepthReplySchema, [3, "x", 1, 2], "queue depth of 'video'"),
    invalid(/malformed queue depth of 'video' read from Redis at \/1/),
  );
  assert.throws(() => decodeReply(QueueDepthReplySchema, [3, 0, 1], "queue depth"), invalid(/queue depth/));
  assert.throws(
    () => decodeReply(QueueDepthReplySchema, [-1, 0, 1, 2], "queue depth"),
    invalid(/queue depth/),
  );
});

test("a worker liveness record decodes by the schema the reader and the store share", () => {
  const record = { workerId: "w-1", status: "busy", inFlight: 2, at: 1 };
  assert.deepEqual(decodeReply(WorkerLivenessSchema, record, "worker liveness"), record);
  assert.throws(
    () => decodeReply(WorkerLivenessSchema, { ...record, status: "sleeping" }, "worker liveness"),
    invalid(/worker liveness .* at \/status/),
  );
  assert.throws(() => decodeReply(LivenessReplySchema, ["now", []], "liveness"), invalid(/liveness/));
});
