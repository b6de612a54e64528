import assert from "node:assert/strict";
import { test } from "node:test";
import { batchSize, CommitBatcher, MAX_COMMIT_BATCH } from "../../../worker/store/redis/commit-batch.ts";

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

test("whole (durability replicated): a tick's commits go out in one call, never over the call limit", () => {
  const cases: [count: number, size: number][] = [
    [1, 1],
    [4, 4],
    [16, 16],
    [2 * MAX_COMMIT_BATCH, MAX_COMMIT_BATCH],
  ];
  for (const [count, size] of cases) assert.equal(batchSize(count, true), size, `${count} commits`);
});

test("a call carries the earliest lease end of its commits (a replicated commit waits no longer)", async () => {
  const calls: { args: (string | number)[]; deadline: number }[] = [];
  // Records what would go to Redis and answers each commit 'committed' (no Redis in a unit test).
  const recordingSend = async (args: (string | number)[], deadline: number): Promise<unknown> => {
    calls.push({ args, deadline });
    const commits = Number(args[1]);
    return [...Array.from({ length: commits }, () => ["committed", "running"]).flat(), "none", 0];
  };
  const batcher = new CommitBatcher("wf", recordingSend, { whole: true });
  const entry = (deadline: number) => ({ args: [1, `token-${deadline}`], deadline });
  const replies = await Promise.all(
    [3000, 2000, 5000, 1000].map((deadline) => batcher.commit(entry(deadline))),
  );
  assert.deepEqual(
    replies.map((reply) => reply.status),
    ["committed", "committed", "committed", "committed"],
  );
  assert.equal(calls.length, 1, "one call for the tick");
  assert.equal(calls[0]?.deadline, 1000);
});

test("two calls in flight at most: the commits asked for meanwhile wait, then go out in one call", async () => {
  const calls: { commits: number; answer: () => void }[] = [];
  const called: (() => void)[] = [];
  // Records what would go to Redis and answers each call when the test says so (no Redis in a unit test).
  const heldSend = (args: (string | number)[]): Promise<unknown> =>
    new Promise((resolve) => {
      const commits = Number(args[1]);
      calls.push({
        commits,
        answer: () =>
          resolve([...Array.from({ length: commits }, () => ["committed", "running"]).flat(), "none", ""]),
      });
      called.shift()?.();
    });
  const nthCall = (n: number): Promise<void> =>
    calls.length >= n
      ? Promise.resolve()
      : new Promise<void>((resolve) => called.push(resolve)).then(() => nthCall(n));
  const batcher = new CommitBatcher("wf", heldSend);
  const entry = (i: number) => ({
    args: [1, `token-${i}`],
    deadline: 1000,
    next: { token: `next-${i}`, workerId: "w", leaseMs: 30_000 },
  });
  const first = Array.from({ length: 16 }, (_, i) => batcher.commit(entry(i)));
  await nthCall(2);
  assert.deepEqual(
    calls.map((call) => call.commits),
    [8, 8],
    "a tick's 16 commits: two halves",
  );
  const later = Array.from({ length: 5 }, (_, i) => batcher.commit(entry(16 + i)));
  // The batcher's flush of this tick runs before this callback (setImmediate callbacks run in order).
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(calls.length, 2, "no third call while two are in flight");
  calls[0]?.answer();
  await nthCall(3);
  assert.equal(calls[2]?.commits, 5, "the waiting commits go out together when a call returns");
  calls[1]?.answer();
  calls[2]?.answer();
  const replies = await Promise.all([...first, ...later]);
  assert.equal(replies.filter((reply) => reply.status === "committed").length, 21);
});

test("a call that fails frees its place: the commits waiting behind it go out (and learn their own fate)", async () => {
  let calls = 0;
  const failures: (() => void)[] = [];
  // The first two calls fail when the test says so, the third answers (no Redis in a unit test).
  const failingSend = (args: (string | number)[]): Promise<unknown> => {
    calls += 1;
    if (calls <= 2)
      return new Promise((_, reject) => failures.push(() => reject(new Error("connection lost"))));
    const commits = Number(args[1]);
    return Promise.resolve([
      ...Array.from({ length: commits }, () => ["committed", "running"]).flat(),
      "none",
      "",
    ]);
  };
  const batcher = new CommitBatcher("wf", failingSend);
  const entry = (i: number) => ({ args: [1, `token-${i}`], deadline: 1000 });
  const first = Array.from({ length: 8 }, (_, i) =>
    batcher.commit(entry(i)).catch((error: Error) => error.message),
  );
  await new Promise((resolve) => setImmediate(resolve));
  const waiting = Array.from({ length: 3 }, (_, i) => batcher.commit(entry(8 + i)));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(calls, 2, "the waiting commits wait while two calls are out");
  for (const fail of failures) fail();
  assert.deepEqual(
    await Promise.all(first),
    Array.from({ length: 8 }, () => "connection lost"),
  );
  assert.deepEqual(
    (await Promise.all(waiting)).map((reply) => reply.status),
    ["committed", "committed", "committed"],
  );
  assert.equal(calls, 3);
});
