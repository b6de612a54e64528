import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FloxideError } from "../../../worker/sdk/index.ts";
import { resolveRetry, retryDelay, shouldRetry } from "../../../worker/engine/index.ts";

describe("retry policy", () => {
  const noJitter = { jitter: 0, initialDelayMs: 100, maxDelayMs: 1000 };

  test("fixed, linear and exponential backoff, capped at maxDelayMs", () => {
    const delays = (backoff: "fixed" | "linear" | "exponential") =>
      [1, 2, 3, 4, 5].map((attempt) => retryDelay(resolveRetry({ ...noJitter, backoff }), attempt));
    assert.deepEqual(delays("fixed"), [100, 100, 100, 100, 100]);
    assert.deepEqual(delays("linear"), [100, 200, 300, 400, 500]);
    assert.deepEqual(delays("exponential"), [100, 200, 400, 800, 1000]);
  });

  test("jitter subtracts a random share of the delay", () => {
    const policy = resolveRetry({ ...noJitter, backoff: "fixed", jitter: 0.5 });
    assert.equal(
      retryDelay(policy, 1, () => 0),
      100,
    );
    assert.equal(
      retryDelay(policy, 1, () => 1),
      50,
    );
    assert.equal(
      retryDelay(policy, 1, () => 0.5),
      75,
    );
  });

  test("node options override workflow options, which override the defaults", () => {
    const policy = resolveRetry({ maxAttempts: 7, initialDelayMs: 5 }, { maxAttempts: 2 });
    assert.equal(policy.maxAttempts, 2);
    assert.equal(policy.initialDelayMs, 5);
    assert.equal(policy.backoff, "exponential");
  });

  test("invalid policies are refused with a clear message", () => {
    assert.throws(() => resolveRetry({ maxAttempts: 0 }), /maxAttempts must be an integer >= 1/);
    assert.throws(() => resolveRetry({ jitter: 2 }), /jitter must be between 0 and 1/);
    assert.throws(
      () => resolveRetry({ initialDelayMs: 10, maxDelayMs: 5 }),
      /maxDelayMs must be >= initialDelayMs/,
    );
  });

  test("attempts are counted from 1; the last allowed attempt is not retried", () => {
    const policy = resolveRetry({ maxAttempts: 3 });
    assert.equal(shouldRetry(policy, 1, new Error("x")), true);
    assert.equal(shouldRetry(policy, 2, new Error("x")), true);
    assert.equal(shouldRetry(policy, 3, new Error("x")), false);
  });

  test("the retryable predicate decides, and aborts or cancels are never retried", () => {
    const policy = resolveRetry({ maxAttempts: 5, retryable: (error) => !(error instanceof TypeError) });
    assert.equal(shouldRetry(policy, 1, new TypeError("bad input")), false);
    assert.equal(shouldRetry(policy, 1, new Error("network")), true);
    assert.equal(shouldRetry(policy, 1, new FloxideError("Aborted", "stop")), false);
    assert.equal(shouldRetry(policy, 1, new FloxideError("Cancelled", "stop")), false);
    const throwing = resolveRetry({
      retryable: () => {
        throw new Error("oops");
      },
    });
    assert.equal(shouldRetry(throwing, 1, new Error("x")), false);
  });
});
