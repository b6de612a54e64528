/** The store contract on a local 3-master Redis Cluster, and the one-slot-per-workflow layout. */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { Cluster, Redis } from "ioredis";
import { createRedisBackend, createRedisClient, type WorkflowStore } from "../../../worker/store/index.ts";
import { describeStoreContract, item, success } from "../../store/contract-suite.ts";
import { describeVersionContract } from "../../store/versions-suite.ts";
import { startRedisCluster, type RedisClusterServer } from "../../support/redis.ts";

let cluster: RedisClusterServer;
before(async () => {
  cluster = await startRedisCluster();
});
after(async () => {
  await cluster.stop();
});

describeStoreContract("redis cluster", {
  create: async (options) =>
    createRedisBackend({
      ...options,
      connection: cluster.url,
      keyPrefix: `test-${randomUUID().slice(0, 8)}`,
    }),
});

describeVersionContract("redis cluster", {
  create: async (options) =>
    createRedisBackend({
      ...options,
      connection: cluster.url,
      keyPrefix: `test-${randomUUID().slice(0, 8)}`,
    }),
});

describe("redis cluster key layout", () => {
  test("every key of a workflow hashes to one slot, whatever its runs do", async () => {
    const keyPrefix = `slots-${randomUUID().slice(0, 8)}`;
    const backend = createRedisBackend({ connection: cluster.url, keyPrefix, retentionMs: 60_000 });
    const client = createRedisClient(cluster.url) as Cluster;
    try {
      const store = backend.forWorkflow("orders");
      await exerciseEveryKind(store);
      const keys: string[] = [];
      for (const node of client.nodes("master")) {
        keys.push(...(await node.keys(`{${keyPrefix}:orders}*`)));
      }
      assert.ok(keys.length >= 15, `expected the run to create many keys, got ${keys.join(", ")}`);
      const node = client.nodes("master")[0] as Redis;
      const slots = new Set(await Promise.all(keys.map((key) => node.call("CLUSTER", "KEYSLOT", key))));
      assert.equal(slots.size, 1, `keys spread over slots ${[...slots].join(", ")}`);
    } finally {
      client.disconnect();
      await backend.close();
    }
  });
});

/** Touches every kind of key: queue, leases, retries, joins, holds, dead letters, liveness. */
async function exerciseEveryKind(store: WorkflowStore): Promise<void> {
  const lease = { workerId: "w", leaseMs: 10_000, blockMs: 0 };
  const runId = randomUUID();
  await store.createRun({
    runId,
    idempotencyKey: "key-1",
    input: 1,
    version: "1",
    startItem: item(store, runId, "a"),
  });
  const root = await store.claim(lease);
  assert.ok(root);
  const frame = { id: `${root.item.id}:b`, index: 0, count: 2 };
  const branch = item(store, runId, "b", 2, { frames: [{ ...frame, index: 1 }] });
  const joinItem = item(store, runId, "j", null, { id: `${frame.id}>j` });
  await store.commit(
    root,
    success({
      events: [{ id: randomUUID(), node: "a", itemId: root.item.id, event: 1 }],
      followUps: [branch, item(store, runId, "c")],
      arrivals: [{ frame, value: 1, joinItem }],
      outputs: [{ node: "a", itemId: root.item.id, value: 1 }],
    }),
  );
  await store.saveCheckpoint(runId, { seq: 1, state: 1 });
  const b = await store.claim(lease);
  assert.ok(b);
  await store.commit(b, {
    kind: "retry",
    error: { code: "E", message: "again" },
    delayMs: 60_000,
    durationMs: 1,
  });
  const c = await store.claim(lease);
  assert.ok(c);
  await store.commit(c, success({ hold: { reason: null } }));
  await store.pauseRun(runId);
  await store.heartbeat({ workerId: "w", status: "idle", inFlight: 0, at: Date.now() }, 60_000);
  await store.reclaimExpired();
  const other = randomUUID();
  await store.createRun({
    runId: other,
    idempotencyKey: null,
    input: 2,
    version: "1",
    startItem: item(store, other, "a"),
  });
  const doomed = await store.claim(lease);
  assert.ok(doomed);
  await store.commit(doomed, {
    kind: "fail",
    error: { code: "E", message: "dead" },
    deadLetter: true,
    durationMs: 1,
  });
  await store.cancelRun(runId, "done");
}
