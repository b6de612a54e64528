import assert from "node:assert/strict";
import { test } from "node:test";
import { backoffDelayMs } from "../../../common/backoff.ts";

test("fixed, linear and exponential growth from the initial delay, capped", () => {
  const delays = (growth: "fixed" | "linear" | "exponential") =>
    [1, 2, 3, 4, 5].map((n) => backoffDelayMs({ growth, initialMs: 100, maxMs: 450 }, n));
  assert.deepEqual(delays("fixed"), [100, 100, 100, 100, 100]);
  assert.deepEqual(delays("linear"), [100, 200, 300, 400, 450]);
  assert.deepEqual(delays("exponential"), [100, 200, 400, 450, 450]);
});

test("jitter spreads the delay by the share either way; attempt 0 counts as the first", () => {
  const policy = { growth: "exponential", initialMs: 1000, maxMs: 1000, jitter: 0.2 } as const;
  assert.equal(Math.round(backoffDelayMs(policy, 1, () => 0)), 800);
  assert.equal(Math.round(backoffDelayMs(policy, 1, () => 1)), 1200);
  assert.equal(backoffDelayMs({ growth: "linear", initialMs: 50, maxMs: 2000 }, 0), 50);
  assert.equal(backoffDelayMs({ growth: "exponential", initialMs: 1, maxMs: 5000 }, 10_000), 5000);
});
