/**
 * The store contract on a local 3-master Redis Cluster with one and six partitions, the
 * one-slot-per-partition layout, and partitions spread over the masters.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { Cluster, Redis } from "ioredis";
import { createRedisBackend, createRedisClient, type WorkflowStore } from "../../../worker/store/index.ts";
import { runIdIn, type PartitionedRedisStore } from "../../../worker/store/redis/index.ts";
import { RedisBacklogReader } from "../../../operator/backlog/reader.ts";
import { describeStoreContract, item, success, type BackendFactory } from "../../store/contract-suite.ts";
import { describeVersionContract } from "../../store/versions-suite.ts";
import { startRedisCluster, type RedisClusterServer } from "../../support/redis.ts";

let cluster: RedisClusterServer;
before(async () => {
  cluster = await startRedisCluster();
});
after(async () => {
  await cluster.stop();
});

/** Backends on the cluster with a key prefix each. */
const backends = (partitions: number): BackendFactory => ({
  create: async (options) =>
    createRedisBackend({
      ...options,
      connection: cluster.url,
      keyPrefix: `test-${randomUUID().slice(0, 8)}`,
      partitions,
    }),
});

describeStoreContract("redis cluster", backends(1));
describeVersionContract("redis cluster", backends(1));
describeStoreContract("redis cluster, 6 partitions", backends(6));
describeVersionContract("redis cluster, 6 partitions", backends(6));

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

describe("redis cluster partitions", () => {
  test("each partition's keys hash to one slot of its own, and six partitions sit two on each master", async () => {
    const keyPrefix = `parts-${randomUUID().slice(0, 8)}`;
    const backend = createRedisBackend({
      connection: cluster.url,
      keyPrefix,
      retentionMs: 60_000,
      partitions: 6,
    });
    const client = createRedisClient(cluster.url) as Cluster;
    try {
      const store = backend.forWorkflow("orders") as PartitionedRedisStore;
      // Enough runs that every partition holds some: keys, runs, queues, dead letters, metrics.
      for (let i = 0; i < 40; i += 1) {
        const runId = store.newRunId(`key-${i}`);
        const startItem = item(store, runId, "a");
        await store.createRun({ runId, idempotencyKey: `key-${i}`, input: i, version: "1", startItem });
      }
      const lease = { workerId: "w", leaseMs: 10_000, blockMs: 0 };
      for (
        let claim = await store.claim(lease), i = 0;
        claim !== null;
        claim = await store.claim(lease), i += 1
      ) {
        const fail = {
          kind: "fail",
          error: { code: "E", message: "dead" },
          deadLetter: true,
          durationMs: 1,
        } as const;
        await store.commit(claim, i % 2 === 0 ? success() : fail);
      }
      await store.heartbeat({ workerId: "w", status: "idle", inFlight: 0, at: Date.now() }, 60_000);
      const node = client.nodes("master")[0] as Redis;
      const slotsByPartition = new Map<number, Set<unknown>>();
      const partitionsPerMaster: number[] = [];
      for (const master of client.nodes("master")) {
        const keys = await master.keys(`{${keyPrefix}:orders*`);
        const here = new Set<number>();
        for (const key of keys) {
          const partition = Number(/^\{[^}#]*(?:#(\d+)\.\d+)?\}/.exec(key)?.[1] ?? 0);
          here.add(partition);
          const slots = slotsByPartition.get(partition) ?? new Set();
          slots.add(await node.call("CLUSTER", "KEYSLOT", key));
          slotsByPartition.set(partition, slots);
        }
        partitionsPerMaster.push(here.size);
      }
      assert.deepEqual([...slotsByPartition.keys()].sort(), [0, 1, 2, 3, 4, 5]);
      for (const [partition, slots] of slotsByPartition)
        assert.equal(slots.size, 1, `partition ${partition}`);
      const distinct = new Set([...slotsByPartition.values()].map((slots) => [...slots][0]));
      assert.equal(distinct.size, 6, "six partitions, six slots");
      // Tags spaced evenly over the slots (keys.ts partitionTag): two per master of three.
      assert.deepEqual(partitionsPerMaster, [2, 2, 2], "the partitions spread evenly over the three masters");
    } finally {
      client.disconnect();
      await backend.close();
    }
  });
});

describe("the operator's backlog reader on the cluster", () => {
  test("sums the six partitions spread over the masters; another partition count is refused", async () => {
    const keyPrefix = `reader-${randomUUID().slice(0, 8)}`;
    const backend = createRedisBackend({
      connection: cluster.url,
      keyPrefix,
      retentionMs: 60_000,
      partitions: 6,
    });
    const reader = new RedisBacklogReader({ timeoutMs: 10_000 });
    try {
      const store = backend.forWorkflow("orders");
      for (let partition = 0; partition < 6; partition += 1) {
        for (let i = 0; i <= partition; i += 1) {
          const runId = runIdIn(partition, 6);
          await store.createRun({
            runId,
            idempotencyKey: null,
            input: i,
            version: "1",
            startItem: item(store, runId, "a"),
          });
        }
      }
      const target = {
        workflow: "orders",
        prefix: keyPrefix,
        connection: { url: cluster.url, cluster: true as const },
      };
      const readings = await reader.read([
        { ...target, key: "apps/orders", partitions: 6 },
        { ...target, key: "apps/wrong", partitions: 3 },
      ]);
      const orders = readings.get("apps/orders");
      assert.ok(orders?.ok, JSON.stringify(orders));
      assert.deepEqual(orders.depth, { ready: 21, inFlight: 0, delayed: 0, dead: 0 });
      const wrong = readings.get("apps/wrong");
      assert.ok(wrong !== undefined && !wrong.ok);
      assert.match(wrong.error, /has 6 partition\(s\) in Redis .*configured with 3: set --partitions 6/);
    } finally {
      await reader.close();
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
