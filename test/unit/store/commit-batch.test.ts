import assert from "node:assert/strict";
import { test } from "node:test";
import { batchSize, MAX_COMMIT_BATCH } from "../../../worker/store/redis/commit-batch.ts";

test("a tick's commits go out whole below 4, in two halves from 4, never over the call limit", () => {
  const cases: [count: number, size: number][] = [
    [1, 1],
    [3, 3],
    [4, 2],
    [5, 3],
    [16, 8],
    [2 * MAX_COMMIT_BATCH, MAX_COMMIT_BATCH],
    [10 * MAX_COMMIT_BATCH, MAX_COMMIT_BATCH],
  ];
  for (const [count, size] of cases) assert.equal(batchSize(count), size, `${count} commits`);
});
