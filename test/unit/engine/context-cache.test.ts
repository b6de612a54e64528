import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import { ContextCache } from "../../../worker/engine/index.ts";
import {
  MemoryBackend,
  type Claim,
  type EventRecord,
  type WorkflowStore,
} from "../../../worker/store/index.ts";
import { item, success } from "../../store/contract-suite.ts";

/** Counts the log reads a cache makes, on a real memory store. */
function counting(store: WorkflowStore) {
  const reads: { afterSeq: number; returned: number }[] = [];
  const wrapped = {
    readEvents: async (runId: string, afterSeq: number): Promise<EventRecord[]> => {
      const events = await store.readEvents(runId, afterSeq);
      reads.push({ afterSeq, returned: events.length });
      return events;
    },
    loadCheckpoint: (runId: string) => store.loadCheckpoint(runId),
    saveCheckpoint: (runId: string, checkpoint: { seq: number; state: unknown }) =>
      store.saveCheckpoint(runId, checkpoint),
  };
  return { wrapped, reads };
}

const sum = { initial: () => 0, reduce: (total: number, n: unknown) => total + (n as number) };

async function runWithEvents(store: WorkflowStore, count: number): Promise<{ runId: string; claim: Claim }> {
  const runId = randomUUID();
  await store.createRun({
    runId,
    idempotencyKey: null,
    input: null,
    version: "1",
    startItem: item(store, runId, "a"),
  });
  let claim = (await store.claim({ workerId: "w", leaseMs: 10_000, blockMs: 0 })) as Claim;
  for (let i = 1; i <= count; i += 1) {
    const events = [{ id: randomUUID(), node: "a", itemId: claim.item.id, event: i }];
    await store.commit(claim, success({ events, followUps: [item(store, runId, "a")] }));
    claim = (await store.claim({ workerId: "w", leaseMs: 10_000, blockMs: 0 })) as Claim;
  }
  return { runId, claim };
}

describe("context cache: the per-step cost does not grow with the run", () => {
  test("a step reads only the events committed since the cached sequence", async () => {
    const store = new MemoryBackend().forWorkflow("cache");
    const { runId } = await runWithEvents(store, 300);
    const { wrapped, reads } = counting(store);
    const cache = new ContextCache(wrapped, sum as never, { checkpointEvery: 1_000_000 });
    assert.deepEqual(await cache.load(runId), { seq: 300, state: (300 * 301) / 2 });
    reads.length = 0;
    assert.equal((await cache.load(runId)).seq, 300);
    assert.deepEqual(reads, [{ afterSeq: 300, returned: 0 }], "only the tail is read");
  });

  test("when the claim says the cache is current, nothing is read at all", async () => {
    const store = new MemoryBackend().forWorkflow("cache");
    const { runId, claim } = await runWithEvents(store, 5);
    assert.equal(claim.contextSeq, 5, "the claim reports the run's event sequence");
    const { wrapped, reads } = counting(store);
    const cache = new ContextCache(wrapped, sum as never);
    await cache.load(runId, claim.contextSeq);
    const first = reads.length;
    assert.deepEqual(await cache.load(runId, 5), { seq: 5, state: 15 });
    assert.equal(reads.length, first, "no read for a current cache");
    assert.deepEqual(await cache.load(randomUUID(), 0), { seq: 0, state: 0 }, "a new run needs no read");
    assert.equal(reads.length, first);
  });

  test("a worker new to a long run starts from the newest checkpoint", async () => {
    const store = new MemoryBackend().forWorkflow("cache");
    const { runId } = await runWithEvents(store, 250);
    const writer = new ContextCache(store, sum as never, { checkpointEvery: 100 });
    await writer.load(runId);
    assert.equal((await store.loadCheckpoint(runId))?.seq, 250);
    const { wrapped, reads } = counting(store);
    const fresh = new ContextCache(wrapped, sum as never, { checkpointEvery: 100 });
    assert.deepEqual(await fresh.load(runId), { seq: 250, state: (250 * 251) / 2 });
    assert.deepEqual(reads, [{ afterSeq: 250, returned: 0 }], "the log before the checkpoint is not read");
  });
});
