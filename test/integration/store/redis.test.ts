/** The store contract on a real standalone redis-server. */
import { randomUUID } from "node:crypto";
import { after, before } from "node:test";
import { createRedisBackend } from "../../../worker/store/index.ts";
import { describeStoreContract } from "../../store/contract-suite.ts";
import { describeVersionContract } from "../../store/versions-suite.ts";
import { startRedis, type RedisServer } from "../../support/redis.ts";

let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis.stop();
});

describeStoreContract("redis", {
  // A key prefix per backend keeps runs apart when REDIS_URL points at a shared server.
  create: async (options) =>
    createRedisBackend({ ...options, connection: redis.url, keyPrefix: `test-${randomUUID().slice(0, 8)}` }),
});

describeVersionContract("redis", {
  create: async (options) =>
    createRedisBackend({ ...options, connection: redis.url, keyPrefix: `test-${randomUUID().slice(0, 8)}` }),
});

// Six partitions (keys.ts): every run in its own slot's keys, claims sweeping the partitions.
describeStoreContract("redis, 6 partitions", {
  create: async (options) =>
    createRedisBackend({
      ...options,
      connection: redis.url,
      keyPrefix: `test-${randomUUID().slice(0, 8)}`,
      partitions: 6,
    }),
});

describeVersionContract("redis, 6 partitions", {
  create: async (options) =>
    createRedisBackend({
      ...options,
      connection: redis.url,
      keyPrefix: `test-${randomUUID().slice(0, 8)}`,
      partitions: 6,
    }),
});
