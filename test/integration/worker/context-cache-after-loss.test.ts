/**
 * After Redis loses acknowledged commits (appendfsync everysec and a machine crash, or a
 * failover to a replica that lagged), a run's event log can be shorter than what a worker has
 * cached, or as long again with different events. The worker's context cache must then fall
 * back to the log, or nodes see state Redis no longer has. The loss is made here by trimming
 * the run's event list, which leaves Redis in the state it would restart in.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import { ContextCache } from "../../../worker/engine/context-cache.ts";
import type { ContextSpec } from "../../../worker/sdk/index.ts";
import {
  createRedisBackend,
  WorkflowKeys,
  type RedisBackend,
  type WorkflowStore,
} from "../../../worker/store/index.ts";
import { item, success } from "../../store/contract-suite.ts";
import { startRedis, type RedisServer } from "../../support/redis.ts";
import { waitFor } from "../../support/wait.ts";

let redis: RedisServer;
let admin: Redis;
let backend: RedisBackend;
const prefix = `cache-${randomUUID().slice(0, 8)}`;
const LEASE = { workerId: "w1", leaseMs: 10_000, blockMs: 0 };
const spec: ContextSpec<string[], string> = {
  initial: () => [],
  reduce: (state, event) => [...state, event],
};

before(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
  backend = createRedisBackend({ connection: redis.url, keyPrefix: prefix });
});
after(async () => {
  await backend.close();
  admin.disconnect();
  await redis.stop();
});

/** A run whose steps each commit the given event and queue the next step; returns the run id. */
async function runWithEvents(store: WorkflowStore, events: string[]): Promise<string> {
  const runId = randomUUID();
  await store.createRun({
    runId,
    idempotencyKey: null,
    input: null,
    version: "1",
    startItem: item(store, runId, "s"),
  });
  for (const event of events) await commitStep(store, runId, event);
  return runId;
}

async function commitStep(store: WorkflowStore, runId: string, event: string): Promise<void> {
  const claim = await store.claim(LEASE);
  assert.equal(claim?.item.runId, runId);
  const followUps = [item(store, runId, "s")];
  const events = [{ id: randomUUID(), node: "s", itemId: claim.item.id, event }];
  assert.equal((await store.commit(claim, success({ events, followUps }))).status, "committed");
}

const eventsKey = (store: WorkflowStore, runId: string): string =>
  new WorkflowKeys(store.workflow, prefix).run("events", runId);

test("a cache ahead of a log that lost its tail is not trusted", async () => {
  const store = backend.forWorkflow("tail-lost");
  const runId = await runWithEvents(store, ["a", "b", "c"]);
  const cache = new ContextCache(store, spec as ContextSpec<unknown, unknown>);
  assert.deepEqual((await cache.load(runId, 3)).state, ["a", "b", "c"]);
  await admin.ltrim(eventsKey(store, runId), 0, 0); // Redis restarted without "b" and "c"
  const claim = await store.claim(LEASE);
  assert.equal(claim?.contextSeq, 1, "the claim reports the log as Redis has it");
  const view = await cache.load(runId, claim.contextSeq);
  assert.deepEqual({ seq: view.seq, state: view.state }, { seq: 1, state: ["a"] });
});

test("a cache is dropped when the store reconnects, even if the log grew back to its length", async () => {
  const store = backend.forWorkflow("tail-refilled");
  const runId = await runWithEvents(store, ["a", "b", "c"]);
  const cache = new ContextCache(store, spec as ContextSpec<unknown, unknown>);
  assert.deepEqual((await cache.load(runId, 3)).state, ["a", "b", "c"]);
  await admin.ltrim(eventsKey(store, runId), 0, 0);
  await commitStep(store, runId, "x");
  await commitStep(store, runId, "y"); // the log is 3 long again, with other events
  const epoch = store.connectionEpoch;
  await admin.call("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"); // what a restart does to clients
  await waitFor(async () => store.connectionEpoch !== epoch && (await store.depth()).ready === 1, {
    message: "the store to reconnect",
  });
  const claim = await store.claim(LEASE);
  assert.equal(claim?.contextSeq, 3);
  assert.deepEqual((await cache.load(runId, claim.contextSeq)).state, ["a", "x", "y"]);
});
