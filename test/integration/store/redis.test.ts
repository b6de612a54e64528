/** The store contract on a real standalone redis-server. */
import { randomUUID } from "node:crypto";
import { after, before } from "node:test";
import { createRedisBackend } from "../../../worker/store/index.ts";
import { describeStoreContract, type BackendFactory } from "../../store/contract-suite.ts";
import { describeVersionContract } from "../../store/versions-suite.ts";
import { startRedis, type RedisServer } from "../../support/redis.ts";

let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis.stop();
});

/** Backends with a key prefix each (runs stay apart when REDIS_URL points at a shared server). */
const backends = (partitions: number): BackendFactory => ({
  create: async (options) =>
    createRedisBackend({
      ...options,
      connection: redis.url,
      keyPrefix: `test-${randomUUID().slice(0, 8)}`,
      partitions,
    }),
});

describeStoreContract("redis", backends(1));
describeVersionContract("redis", backends(1));
// Six partitions (keys.ts): every run in its own slot's keys, claims sweeping the partitions.
describeStoreContract("redis, 6 partitions", backends(6));
describeVersionContract("redis, 6 partitions", backends(6));
