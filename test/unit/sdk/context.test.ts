import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { foldEvents, mergeLogs, type EventRecord } from "../../../worker/sdk/index.ts";

const record = (seq: number, id = `e${seq}`): EventRecord<number> => ({
  id,
  seq,
  node: "n",
  itemId: "i",
  event: seq,
});

/** A small deterministic generator, so the property runs are repeatable. */
function* logs(seed: number, count: number): Generator<EventRecord<number>[]> {
  let state = seed;
  const random = (): number => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let i = 0; i < count; i += 1) {
    const size = Math.floor(random() * 8);
    yield Array.from({ length: size }, () => record(1 + Math.floor(random() * 12)));
  }
}

describe("mergeLogs: the union by event id, ordered by the store's sequence", () => {
  const samples = [...logs(7, 60)];

  test("is commutative", () => {
    for (let i = 0; i + 1 < samples.length; i += 2) {
      const a = samples[i] ?? [];
      const b = samples[i + 1] ?? [];
      assert.deepEqual(mergeLogs(a, b), mergeLogs(b, a));
    }
  });

  test("is associative", () => {
    for (let i = 0; i + 2 < samples.length; i += 3) {
      const [a, b, c] = [samples[i] ?? [], samples[i + 1] ?? [], samples[i + 2] ?? []];
      assert.deepEqual(mergeLogs(mergeLogs(a, b), c), mergeLogs(a, mergeLogs(b, c)));
    }
  });

  test("is idempotent, with the empty log as identity", () => {
    for (const a of samples) {
      const merged = mergeLogs(a, []);
      assert.deepEqual(mergeLogs(merged, merged), merged);
      assert.deepEqual(mergeLogs([], merged), merged);
    }
  });

  test("loses no event of either side and orders by sequence, not arrival", () => {
    const branchA = [record(1), record(4), record(6)];
    const branchB = [record(2), record(3), record(5)];
    assert.deepEqual(
      mergeLogs(branchB, branchA).map((e) => e.seq),
      [1, 2, 3, 4, 5, 6],
    );
  });

  test("folding the merged log gives the same state whichever side merges first", () => {
    const spec = { initial: () => [] as number[], reduce: (s: number[], e: number) => [...s, e] };
    const a = [record(1), record(3)];
    const b = [record(2), record(4)];
    assert.deepEqual(foldEvents(spec, spec.initial(), mergeLogs(a, b)), [1, 2, 3, 4]);
    assert.deepEqual(foldEvents(spec, spec.initial(), mergeLogs(b, a)), [1, 2, 3, 4]);
  });
});
