import { test } from "node:test";
import assert from "node:assert/strict";
import { WorkQueue } from "../../../operator/runtime/work-queue.ts";
import { waitFor } from "../../support/wait.ts";

test("a key added many times while waiting runs once", async () => {
  const queue = new WorkQueue({ concurrency: 1 });
  const runs: string[] = [];
  for (let i = 0; i < 5; i++) queue.add("a");
  queue.add("b");
  queue.start(async (key) => void runs.push(key));
  await waitFor(() => runs.length === 2);
  assert.deepEqual(runs, ["a", "b"]);
  await queue.stop();
});

test("a key is never processed twice at once; an add during processing runs it again afterwards", async () => {
  const queue = new WorkQueue({ concurrency: 4 });
  let active = 0;
  let maxActive = 0;
  let runs = 0;
  let release: () => void = () => undefined;
  queue.start(async () => {
    active++;
    maxActive = Math.max(maxActive, active);
    runs++;
    if (runs === 1) await new Promise<void>((resolve) => (release = resolve));
    active--;
  });
  queue.add("k");
  await waitFor(() => runs === 1);
  queue.add("k");
  queue.add("k");
  release();
  await waitFor(() => runs === 2);
  assert.equal(maxActive, 1);
  await queue.stop();
  assert.equal(runs, 2);
});

test("failures are retried with per-key exponential backoff, reset by a success", async () => {
  const times: number[] = [];
  const errors: number[] = [];
  const queue = new WorkQueue({ baseDelayMs: 20, onError: (_key, _error, retryIn) => errors.push(retryIn) });
  queue.start(async () => {
    times.push(Date.now());
    if (times.length <= 3) throw new Error("conflict");
  });
  queue.add("x");
  await waitFor(() => times.length === 4, { timeoutMs: 3000 });
  assert.deepEqual(errors, [20, 40, 80]);
  assert.ok(times[3]! - times[2]! >= 70, "the third retry waited ~80 ms");
  await queue.stop();
});

test("requeueAfter schedules the next pass; an explicit add runs it sooner", async () => {
  const queue = new WorkQueue();
  const times: number[] = [];
  queue.start(async () => {
    times.push(Date.now());
    return { requeueAfterMs: 10_000 };
  });
  queue.add("p");
  await waitFor(() => times.length === 1);
  queue.add("p");
  await waitFor(() => times.length === 2);
  await queue.stop();
});
