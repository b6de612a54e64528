/**
 * After Redis loses acknowledged commits (appendfsync everysec and a machine crash, or a
 * failover to a replica that lagged), a run's event log can be shorter than what a worker has
 * cached. The cache must then fall back to the log, or nodes see state Redis no longer has.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ContextCache } from "../../worker/engine/context-cache.ts";
import type { EventRecord } from "../../worker/sdk/index.ts";

function logStore(events: EventRecord[]) {
  return {
    readEvents: async (_runId: string, afterSeq: number) => events.filter((e) => e.seq > afterSeq),
    loadCheckpoint: async () => null,
    saveCheckpoint: async () => undefined,
  };
}

const event = (seq: number): EventRecord => ({
  id: `e${seq}`,
  seq,
  node: "n",
  itemId: `i${seq}`,
  event: seq,
});

test(
  "a cache ahead of a log that lost its tail is not trusted",
  { todo: "bug: ContextCache.load trusts any entry with seq >= knownSeq (worker/engine/context-cache.ts)" },
  async () => {
    const log = [event(1), event(2), event(3)];
    const cache = new ContextCache(logStore(log), {
      initial: () => [] as number[],
      reduce: (state: number[], e: unknown) => [...state, e as number],
    } as never);
    assert.deepEqual((await cache.load("r", 3)).state, [1, 2, 3]);
    log.splice(1); // Redis restarted without the commits of seq 2 and 3
    const view = await cache.load("r", 1);
    assert.deepEqual({ seq: view.seq, state: view.state }, { seq: 1, state: [1] });
  },
);
