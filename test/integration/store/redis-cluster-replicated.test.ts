/**
 * `durability: replicated` on a local Redis Cluster of 3 masters + 3 replicas: the store
 * contract, the key slot the replicated commit routes by, a commit no replica confirms, and
 * commits across a manual failover.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { FloxideError } from "../../../worker/sdk/index.ts";
import { createRedisBackend, createRedisClient, type WorkflowStore } from "../../../worker/store/index.ts";
import { keySlot } from "../../../worker/store/redis/key-slot.ts";
import { describeStoreContract, item, success } from "../../store/contract-suite.ts";
import { startRedisCluster, type RedisClusterServer } from "../../support/redis.ts";

let cluster: RedisClusterServer;
before(async () => {
  cluster = await startRedisCluster({ replicas: 1 });
});
after(async () => {
  await cluster.stop();
});

const replicatedBackend = (keyPrefix = `test-${randomUUID().slice(0, 8)}`, retentionMs = 60_000) =>
  createRedisBackend({ connection: cluster.url, keyPrefix, durability: "replicated", retentionMs });

describeStoreContract("redis cluster 3+3, durability replicated", {
  create: async (options) => replicatedBackend(undefined, options.retentionMs),
});

/** A new one-node run; its id. */
async function createOne(store: WorkflowStore, input: unknown = 1): Promise<string> {
  const runId = randomUUID();
  const startItem = item(store, runId, "a");
  await store.createRun({ runId, idempotencyKey: null, input, version: "1", startItem });
  return runId;
}

/** A new run whose first item is claimed. */
async function startOne(store: WorkflowStore, leaseMs = 10_000) {
  await createOne(store);
  const claim = await store.claim({ workerId: "w", leaseMs, blockMs: 0 });
  assert.ok(claim, "the run's first item is claimed");
  return claim;
}

describe("durability replicated on a cluster with replicas", () => {
  test("the slot the commit routes by is the one Redis computes", async () => {
    const client = createRedisClient(cluster.url);
    try {
      const keys = ["foo", "{orders}:ready", "{}x", "a{b", "{a}{b}", "x{}{y}", "ünïcode{tag}", randomUUID()];
      for (const key of keys) {
        assert.equal(keySlot(key), Number(await client.call("CLUSTER", "KEYSLOT", key)), key);
      }
    } finally {
      client.disconnect();
    }
  });

  test("the backend refuses a durability it does not know, naming the choices", () => {
    assert.throws(
      () => createRedisBackend({ connection: cluster.url, durability: "eventual" as "fast" }),
      (error: unknown) =>
        error instanceof FloxideError &&
        error.code === "InvalidConfig" &&
        /fast, replicated/.test(error.message),
    );
  });

  test("a commit no replica acknowledges within its lease is not reported (and stands on the master)", async () => {
    const backend = replicatedBackend();
    try {
      const store = backend.forWorkflow("stalled");
      const claim = await startOne(store, 1500);
      const waiting = await createOne(store, 2);
      const { awake } = await cluster.stallReplicas(4000);
      const started = Date.now();
      const claimNext = { workerId: "w", leaseMs: 60_000 };
      await assert.rejects(
        store.commit(
          claim,
          success({ outputs: [{ node: "a", itemId: claim.item.id, value: 1 }] }),
          claimNext,
        ),
        (error: unknown) =>
          error instanceof FloxideError &&
          error.code === "StoreUnavailable" &&
          error.details.notReplicated === true &&
          /not confirmed by a Redis replica/.test(error.message),
      );
      // It waited for the lease (1.5 s), not for the replicas (4 s).
      const waited = Date.now() - started;
      assert.ok(waited < 3500, `gave up after ${waited} ms, past the lease`);
      await awake;
      // Not lost: the master applied it; only its report was withheld.
      assert.equal((await store.getRun(claim.item.runId))?.status, "completed");
      // The item the call claimed for the loop's next step was handed back, not left to its lease.
      const depth = await store.depth();
      assert.deepEqual([depth.ready, depth.inFlight], [1, 0]);
      const again = await store.claim({ workerId: "w2", leaseMs: 10_000, blockMs: 0 });
      assert.equal(again?.item.runId, waiting);
      assert.equal(again?.item.attempt, 1, "no attempt counted");
    } finally {
      await backend.close();
    }
  });

  test("commits before and after a manual failover are confirmed and kept", async () => {
    const keyPrefix = `mf-${randomUUID().slice(0, 8)}`;
    const backend = replicatedBackend(keyPrefix);
    try {
      const store = backend.forWorkflow("orders");
      const first = await startOne(store);
      assert.deepEqual(await store.commit(first, success()), { status: "committed", run: "completed" });
      const master = await cluster.masterOf(`{${keyPrefix}:orders}`);
      const { promoted } = await cluster.manualFailover(master);
      assert.notEqual(promoted.port, master.port);
      assert.deepEqual(await cluster.masterOf(`{${keyPrefix}:orders}`), promoted);
      // The old master is now the new one's replica, so the next commit can be confirmed.
      const second = await startOne(store);
      assert.deepEqual(await store.commit(second, success()), { status: "committed", run: "completed" });
      assert.equal((await store.getRun(first.item.runId))?.status, "completed");
      assert.equal((await store.getRun(second.item.runId))?.status, "completed");
    } finally {
      await backend.close();
    }
  });
});
