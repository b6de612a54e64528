/** A dead letter made through the store's own functions: a run whose only item failed for good. */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import type { WorkflowStore } from "../../worker/store/index.ts";
import { item } from "../store/contract-suite.ts";

/** Starts a run, claims its item and commits a permanent failure: the item is dead-lettered, the run failed. */
export async function deadLetterRun(
  store: WorkflowStore,
  input: unknown = null,
): Promise<{ runId: string; itemId: string }> {
  const runId = randomUUID();
  const start = item(store, runId, "a", input);
  await store.createRun({ runId, idempotencyKey: null, input, version: "1", startItem: start });
  const claim = await store.claim({ workerId: "dead-letter-maker", leaseMs: 60_000, blockMs: 0 });
  assert.equal(claim?.item.id, start.id, "the new run's item is the one claimed");
  await store.commit(claim, {
    kind: "fail",
    error: { code: "NodeFailed", message: "no" },
    deadLetter: true,
    durationMs: 1,
  });
  return { runId, itemId: start.id };
}
