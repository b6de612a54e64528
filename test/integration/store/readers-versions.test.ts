/**
 * The console's readers with one workflow running on two versions (runs are pinned to their
 * version, each version has its own queue keys: keys.ts): a run of version 2 shows the item its
 * worker leased, and the workers of both versions show what each holds, with the concurrency and
 * host their pools report. Real WorkerPools on a real redis-server.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import { pino } from "pino";
import { WorkerPool } from "../../../worker/engine/index.ts";
import { next, node, workflow } from "../../../worker/sdk/index.ts";
import { readRunDetail, readWorkersWithLeases } from "../../../worker/store/index.ts";
import { openRedisBackend } from "../../../worker/store/open-redis.ts";
import { startRun } from "../../store/versions-suite.ts";
import { startRedis, type RedisServer } from "../../support/redis.ts";
import { waitFor } from "../../support/wait.ts";

const PREFIX = "readers-versions";
const NAME = "two-versions";

/** Steps run until the test lets them finish, so their leases stay visible meanwhile. */
let finish: () => void = () => undefined;
const finished = new Promise<void>((resolve) => {
  finish = resolve;
});

/** One node that waits for `finished`. */
const versioned = (version: string) =>
  workflow({
    name: NAME,
    version,
    start: "a",
    nodes: [node("a", async () => (await finished, next(null)))],
  });

let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis.stop();
});

test("a run of version 2 shows its leased item; the Workers reader shows the workers of both versions", async () => {
  // One backend per version, as in production (a worker process serves one version).
  const open = () =>
    openRedisBackend(
      { redisUrl: redis.url, redisMode: "standalone", keyPrefix: PREFIX, retentionSeconds: 60 },
      pino({ level: "silent" }),
    );
  const backends = [await open(), await open()] as const;
  const client = new Redis(redis.url);
  const pools: WorkerPool[] = [];
  try {
    const stores = { "1": backends[0].forWorkflow(NAME, "1"), "2": backends[1].forWorkflow(NAME, "2") };
    const runs = { "1": await startRun(stores["1"]), "2": await startRun(stores["2"]) };
    assert.equal((await stores["2"].getRun(runs["2"]))?.version, "2");
    for (const version of ["1", "2"] as const) {
      const pool = new WorkerPool({
        store: stores[version],
        workflow: versioned(version),
        concurrency: Number(version) + 1,
        workerId: `pool-v${version}`,
        host: `pod-v${version}`,
        blockMs: 200,
      });
      pools.push(pool);
      pool.start();
    }
    const leasedItem = async (runId: string) =>
      (await readRunDetail(client, NAME, runId, { prefix: PREFIX }))?.leased[0];
    await waitFor(
      async () => (await leasedItem(runs["2"])) !== undefined && (await leasedItem(runs["1"])) !== undefined,
      {
        message: "both runs leased",
      },
    );
    const leased = await leasedItem(runs["2"]);
    assert.equal(leased?.item.version, "2");
    assert.match(leased?.workerId ?? "", /^pool-v2\/\d+$/);

    await waitFor(
      async () =>
        (await readWorkersWithLeases(client, NAME, PREFIX)).workers.every(
          (w) => w.liveness?.status === "busy",
        ),
      { message: "both pools report busy" },
    );
    const reading = await readWorkersWithLeases(client, NAME, PREFIX);
    assert.deepEqual(reading.malformed, []);
    assert.deepEqual(
      reading.workers.map((w) => ({
        workerId: w.workerId,
        version: w.liveness?.version,
        concurrency: w.liveness?.concurrency,
        host: w.liveness?.host,
        runs: w.items.map((i) => i.item.runId),
      })),
      [
        { workerId: "pool-v1", version: "1", concurrency: 2, host: "pod-v1", runs: [runs["1"]] },
        { workerId: "pool-v2", version: "2", concurrency: 3, host: "pod-v2", runs: [runs["2"]] },
      ],
    );
    const held = reading.workers[1]?.items[0];
    assert.ok(
      held?.claimedAt !== null && held !== undefined && held.claimedAt <= reading.now,
      "lease age known",
    );
    // Let the steps finish: both runs complete, each on its own version's worker.
    finish();
    for (const version of ["1", "2"] as const) {
      await waitFor(async () => (await stores[version].getRun(runs[version]))?.status === "completed", {
        message: `the version ${version} run completes`,
      });
    }
  } finally {
    finish();
    await Promise.all(pools.map((pool) => pool.stop()));
    client.disconnect();
    for (const backend of backends) await backend.close();
  }
});
