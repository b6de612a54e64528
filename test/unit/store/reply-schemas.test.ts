import assert from "node:assert/strict";
import { test } from "node:test";
import {
  decodeReply,
  LivenessReplySchema,
  QueueDepthReplySchema,
  WorkerLivenessSchema,
} from "../../../worker/store/index.ts";
import { FloxideError } from "../../../worker/sdk/index.ts";

const isInvalidItem = (pattern: RegExp) => (error: unknown) =>
  error instanceof FloxideError && error.code === "InvalidItem" && pattern.test(error.message);

test("a queue depth reply is four counts, as Redis returns them", () => {
  assert.deepEqual(decodeReply(QueueDepthReplySchema, [3, 0, 1, 2], "queue depth"), [3, 0, 1, 2]);
});

test("a queue depth reply that is not four counts is an InvalidItem error naming the read", () => {
  assert.throws(
    () => decodeReply(QueueDepthReplySchema, [3, "x", 1, 2], "queue depth of 'video'"),
    isInvalidItem(/malformed queue depth of 'video' read from Redis at \/1/),
  );
  assert.throws(
    () => decodeReply(QueueDepthReplySchema, [3, 0, 1], "queue depth"),
    isInvalidItem(/queue depth/),
  );
  assert.throws(
    () => decodeReply(QueueDepthReplySchema, [-1, 0, 1, 2], "queue depth"),
    isInvalidItem(/queue depth/),
  );
});

test("a worker liveness record decodes by the schema the reader and the store share", () => {
  const record = { workerId: "w-1", status: "busy", inFlight: 2, at: 1 };
  assert.deepEqual(decodeReply(WorkerLivenessSchema, record, "worker liveness"), record);
  assert.throws(
    () => decodeReply(WorkerLivenessSchema, { ...record, status: "sleeping" }, "worker liveness"),
    isInvalidItem(/worker liveness .* at \/status/),
  );
  assert.throws(() => decodeReply(LivenessReplySchema, ["now", []], "liveness"), isInvalidItem(/liveness/));
});
