/**
 * Fan-out at any size up to MAX_FAN_OUT (issue 14, finding 2): a `nextAll` of 1,000,000 items
 * commits on real Redis as one all-or-nothing step (staged in chunks under the item's lease,
 * published by the commit), with no stack growth on the way; one value more is refused with an
 * error naming the limit, on the first attempt, never LeaseLost.
 *
 * Cost: the 1,000,000-item case takes about 20 s on one core and ~1.5 GB of worker heap.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import { next, nextAll, node, workflow } from "../../../worker/sdk/index.ts";
import { createRedisBackend, MAX_FAN_OUT, type RedisBackend } from "../../../worker/store/index.ts";
import { gate, startEngine } from "../../support/engine.ts";
import { startRedis, type RedisServer } from "../../support/redis.ts";
import { waitFor } from "../../support/wait.ts";

let redis: RedisServer;
let backend: RedisBackend;
let client: Redis;
const prefix = `fan-${randomUUID().slice(0, 8)}`;

before(async () => {
  redis = await startRedis();
  backend = createRedisBackend({ connection: redis.url, keyPrefix: prefix });
  client = new Redis(redis.url);
});
after(async () => {
  client.disconnect();
  await backend.close();
  await redis.stop();
});

/** fan -> leaf; the leaf waits on `hold` so the fan-out stays in the queue to be counted. */
function fanOut(name: string, count: number, hold: Promise<void>) {
  const fan = node<unknown, unknown>("fan", () => nextAll(Array.from({ length: count }, (_, i) => i)), {
    retry: { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 10, jitter: 0 },
  });
  const leaf = node<unknown, unknown>("leaf", async (_ctx, input) => {
    await hold;
    return next(input);
  });
  return workflow({ name, version: "1", start: "fan", nodes: [fan, leaf], edges: { fan: ["leaf"] } });
}

describe("fan-out up to the documented limit", () => {
  test("the limit is at least 1,000,000 items per nextAll", () => {
    assert.ok(MAX_FAN_OUT >= 1_000_000);
  });

  test("a nextAll of MAX_FAN_OUT items commits all of them in one step", { timeout: 300_000 }, async () => {
    const held = gate();
    const def = fanOut(`big-${randomUUID().slice(0, 6)}`, MAX_FAN_OUT, held.promise);
    const store = backend.forWorkflow(def.name);
    const engine = startEngine(def, { store, concurrency: 1, leaseMs: 30_000 });
    try {
      const { runId } = await engine.orchestrator.start({});
      const info = await waitFor(
        async () => {
          const run = await engine.orchestrator.status(runId);
          if (run.finishedAt !== null) assert.fail(`the run finished: ${JSON.stringify(run.error)}`);
          return run.pending === MAX_FAN_OUT ? run : false;
        },
        { timeoutMs: 240_000, intervalMs: 200, message: "the fan-out to commit" },
      );
      assert.equal(info.status, "running");
      const depth = await store.depth();
      assert.equal(depth.ready + depth.inFlight, MAX_FAN_OUT, JSON.stringify(depth));
      // The staging list was published and dropped by the commit.
      assert.deepEqual(await client.keys(`{${prefix}:${def.name}}:staged:*`), []);
      await engine.orchestrator.cancel(runId, "test done");
    } finally {
      held.open();
      await engine.stop();
      await client.del(`{${prefix}:${def.name}}:ready`);
    }
  });

  test(
    "one item over the limit fails the run at once with an error naming the limit",
    { timeout: 120_000 },
    async () => {
      const held = gate();
      held.open();
      const def = fanOut(`over-${randomUUID().slice(0, 6)}`, MAX_FAN_OUT + 1, held.promise);
      const engine = startEngine(def, { store: backend.forWorkflow(def.name), leaseMs: 5_000 });
      try {
        const { runId } = await engine.orchestrator.start({});
        const info = await engine.orchestrator.wait(runId, { timeoutMs: 90_000, pollMs: 100 });
        assert.equal(info.status, "failed");
        assert.equal(info.error?.code, "InvalidOutput", JSON.stringify(info.error));
        assert.match(info.error?.message ?? "", /1,000,000/);
        const items = await engine.orchestrator.items(runId);
        assert.deepEqual(
          items.map((item) => item.attempt),
          [1],
          "not retried",
        );
      } finally {
        await engine.stop();
      }
    },
  );
});
