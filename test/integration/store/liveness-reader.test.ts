import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import { pino } from "pino";
import {
  decodeLivenessEntries,
  readWorkerLiveness,
  WorkflowKeys,
  type WorkflowStore,
} from "../../../worker/store/index.ts";
import { openRedisBackend } from "../../../worker/store/open-redis.ts";
import { startRedis, type RedisServer } from "../../support/redis.ts";

let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis.stop();
});

/** Workflow `wf`'s store under `keyPrefix` and a plain client, both closed after `body`. */
async function withStore(
  keyPrefix: string,
  body: (store: WorkflowStore, client: Redis) => Promise<void>,
): Promise<void> {
  const backend = await openRedisBackend(
    { redisUrl: redis.url, redisMode: "standalone", keyPrefix, retentionSeconds: 60 },
    pino({ level: "silent" }),
  );
  const client = new Redis(redis.url);
  try {
    await body(backend.forWorkflow("wf"), client);
  } finally {
    client.disconnect();
    await backend.close();
  }
}

test("the read-only liveness reader sees what heartbeats wrote, judged by the Redis clock", async () => {
  await withStore("live-test", async (store, client) => {
    await store.heartbeat({ workerId: "a", status: "busy", inFlight: 2, at: Date.now() }, 60_000);
    await store.heartbeat({ workerId: "b", status: "idle", inFlight: 0, at: Date.now() }, 60_000);
    const key = new WorkflowKeys("wf", "live-test").key("workers");
    // Expired by the Redis clock, whatever this process' clock says; and one corrupt entry.
    await client.hset(
      key,
      "gone",
      `1|${JSON.stringify({ workerId: "gone", status: "idle", inFlight: 0, at: 1 })}`,
    );
    await client.hset(key, "bad", `${Date.now() + 60_000}|{"workerId":"bad","status":"asleep"}`);
    const reading = await readWorkerLiveness(client, "wf", "live-test");
    assert.deepEqual(reading.workers.map((w) => [w.workerId, w.status, w.inFlight]).sort(), [
      ["a", "busy", 2],
      ["b", "idle", 0],
    ]);
    assert.equal(reading.malformed.length, 1);
    assert.match(reading.malformed[0] ?? "", /^bad: /);
    assert.equal(await client.hexists(key, "gone"), 1, "the reader never prunes");
  });
});

test("decoding: expiry compared with the given (Redis) time, malformed entries reported", () => {
  const record = (id: string) => JSON.stringify({ workerId: id, status: "idle", inFlight: 0, at: 5 });
  const reading = decodeLivenessEntries(
    ["x", `100|${record("x")}`, "y", `300|${record("y")}`, "z", "junk"],
    200,
  );
  assert.deepEqual(
    reading.workers.map((w) => w.workerId),
    ["y"],
  );
  assert.deepEqual(reading.malformed, ["z: no '<expiresAt>|' prefix"]);
});

test("a heartbeat carries the worker's concurrency and host; one readers would reject is refused before the write", async () => {
  await withStore("live-shape", async (store, client) => {
    const at = Date.now();
    await store.heartbeat(
      { workerId: "p", status: "idle", inFlight: 0, at, concurrency: 4, host: "pod-7" },
      60_000,
    );
    const [worker] = (await readWorkerLiveness(client, "wf", "live-shape")).workers;
    assert.deepEqual([worker?.concurrency, worker?.host], [4, "pod-7"]);
    await assert.rejects(
      store.heartbeat({ workerId: "q", status: "idle", inFlight: 0, at, concurrency: 0 }, 60_000),
      /worker liveness/,
    );
    const key = new WorkflowKeys("wf", "live-shape").key("workers");
    assert.equal(await client.hexists(key, "q"), 0, "nothing written for the refused record");
  });
});
