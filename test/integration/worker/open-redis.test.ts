import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import { pino } from "pino";
import { loadWorkerConfig } from "../../../contract/index.ts";
import { openRedisBackend } from "../../../worker/store/open-redis.ts";
import { startRedis, startRedisSentinel, type RedisServer } from "../../support/redis.ts";
import { item } from "../../store/contract-suite.ts";

let master: RedisServer;
let sentinel: Awaited<ReturnType<typeof startRedisSentinel>>;

before(async () => {
  master = await startRedis();
  sentinel = await startRedisSentinel(master, "floxide-master");
});
after(async () => {
  await sentinel.stop();
  await master.stop();
});

test("FLOXIDE_REDIS_MODE=sentinel reaches the master through the Sentinel named by the URL", async () => {
  const config = loadWorkerConfig(
    {},
    {
      FLOXIDE_WORKFLOW: "examples/video.ts",
      FLOXIDE_REDIS_URL: `redis://${sentinel.host}:${sentinel.port}`,
      FLOXIDE_REDIS_MODE: "sentinel",
      FLOXIDE_REDIS_SENTINEL_NAME: "floxide-master",
    },
  );
  const backend = await openRedisBackend(config, pino({ level: "silent" }));
  try {
    await backend.ping();
    const store = backend.forWorkflow("sentinel-check");
    const runId = randomUUID();
    await store.createRun({
      runId,
      idempotencyKey: null,
      input: 1,
      version: "1",
      startItem: item(store, runId, "a"),
    });
    assert.equal((await store.getRun(runId))?.status, "queued");
    const direct = new Redis(master.url);
    try {
      assert.ok((await direct.keys("*sentinel-check*")).length > 0, "the run was written on the master");
    } finally {
      direct.disconnect();
    }
  } finally {
    await backend.close();
  }
});
