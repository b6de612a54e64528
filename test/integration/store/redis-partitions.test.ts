/**
 * What partitions promise beyond the shared contract (which runs with P = 6 in redis.test.ts and
 * redis-cluster.test.ts): P is fixed once recorded and another P is refused, naming both; an
 * idempotency key finds its run in one call; a worker works one partition at a time and a busy
 * partition cannot starve another; an idle worker of six partitions stays quiet and still picks
 * up an item at once; the console's readers merge the partitions. Real redis-server.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { Redis } from "ioredis";
import { Orchestrator, WorkerPool } from "../../../worker/engine/index.ts";
import { next, node, workflow, type FloxideError } from "../../../worker/sdk/index.ts";
import {
  createRedisBackend,
  findRun,
  listWorkflows,
  partitionOf,
  readDeadLetters,
  readQueueDepth,
  readRunDetail,
  readRunsPage,
  readWorkersWithLeases,
  readWorkflowVersions,
  runIdIn,
  WorkflowKeys,
  writeRolloutWith,
  type PartitionedRedisStore,
  type RedisBackend,
} from "../../../worker/store/index.ts";
import { item, success } from "../../store/contract-suite.ts";
import { startRun } from "../../store/versions-suite.ts";
import { startRedis, type RedisServer } from "../../support/redis.ts";
import { blockedCount, clientsNamed } from "../../support/redis-clients.ts";
import { waitFor } from "../../support/wait.ts";

let redis: RedisServer;
let admin: Redis;
const backends: RedisBackend[] = [];
const LEASE = { workerId: "w1", leaseMs: 10_000, blockMs: 0 };

before(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
});
after(async () => {
  for (const backend of backends) await backend.close();
  admin.disconnect();
  await redis.stop();
});

function open(partitions: number, keyPrefix: string, name?: string): RedisBackend {
  const backend = createRedisBackend({
    connection: { url: redis.url, ...(name === undefined ? {} : { connectionName: name }) },
    keyPrefix,
    retentionMs: 60_000,
    partitions,
  });
  backends.push(backend);
  return backend;
}

const prefix = (): string => `parts-${randomUUID().slice(0, 8)}`;

describe("redis partitions: the recorded partition count", () => {
  for (const [recorded, configured] of [
    [1, 6],
    [6, 4],
  ] as const) {
    test(`a store of ${configured} partitions refuses a workflow recorded with ${recorded}, naming both`, async () => {
      const keyPrefix = prefix();
      await startRun(open(recorded, keyPrefix).forWorkflow("orders"));
      const other = open(configured, keyPrefix).forWorkflow("orders");
      const expected = (error: FloxideError): boolean => {
        assert.equal(error.code, "InvalidConfig");
        assert.match(error.message, new RegExp(`has ${recorded} partition\\(s\\) in Redis`));
        assert.match(
          error.message,
          new RegExp(`configured with ${configured}: set --partitions ${recorded}`),
        );
        return true;
      };
      await assert.rejects(other.claim(LEASE), expected);
      await assert.rejects(startRun(other), expected);
      await assert.rejects(other.depth(), expected);
      await assert.rejects(
        readQueueDepth(admin, "orders", { prefix: keyPrefix, partitions: configured }),
        expected,
      );
      // Nothing was written under the other count: the workflow still has its one run, ready.
      const depth = await readQueueDepth(admin, "orders", { prefix: keyPrefix, partitions: recorded });
      assert.deepEqual(depth, { ready: 1, inFlight: 0, delayed: 0, dead: 0 });
    });
  }

  test("P = 1 records its count beside the layout and keeps the one-partition keys", async () => {
    const keyPrefix = prefix();
    const runId = await startRun(open(1, keyPrefix).forWorkflow("orders"));
    assert.equal(await admin.get(`{${keyPrefix}:orders}:layout`), "4;partitions=1");
    assert.equal(await admin.exists(`{${keyPrefix}:orders}:run:${runId}`), 1);
    assert.deepEqual(await admin.keys(`{${keyPrefix}:orders#*`), []);
  });
});

describe("redis partitions: runs and idempotency keys", () => {
  test("an idempotency key returns its run from the key's partition; a run id elsewhere is refused", async () => {
    const store = open(6, prefix()).forWorkflow("orders");
    const def = workflow({ name: "orders", version: "1", start: "a", nodes: [node("a", () => next(null))] });
    const orchestrator = new Orchestrator(store, def);
    const first = await orchestrator.start(1, { idempotencyKey: "order-7" });
    const second = await orchestrator.start(2, { idempotencyKey: "order-7" });
    assert.deepEqual(second, { runId: first.runId, created: false });
    assert.equal(partitionOf(first.runId, 6), partitionOf("order-7", 6));
    const elsewhere = runIdIn((partitionOf("order-7", 6) + 1) % 6, 6);
    await assert.rejects(
      orchestrator.start(3, { idempotencyKey: "order-7", runId: elsewhere }),
      (error: FloxideError) => {
        assert.equal(error.code, "InvalidInput");
        assert.match(error.message, /different partitions.*give only the idempotency key/);
        return true;
      },
    );
    assert.equal((await store.depth()).ready, 1);
  });
});

describe("redis partitions: commits", () => {
  test("commits asked for in one tick are batched per partition: one call per partition", async () => {
    const store = open(6, prefix()).forWorkflow("batched");
    const fcalls = async (): Promise<number> =>
      Number(/cmdstat_fcall:calls=(\d+)/.exec(String(await admin.info("commandstats")))?.[1] ?? 0);
    // Two runs in partition 1, one in partition 4: two calls (one batch of three would be one).
    for (const partition of [1, 1, 4]) await startRun(store, runIdIn(partition, 6));
    const claims = [];
    for (let i = 0; i < 3; i += 1) claims.push(await store.claim(LEASE));
    const before = await fcalls();
    const results = await Promise.all(
      claims.map((claim) => store.commit(claim as NonNullable<typeof claim>, success())),
    );
    assert.equal((await fcalls()) - before, 2, "one commit call per partition");
    assert.deepEqual(
      results.map((result) => result.status),
      ["committed", "committed", "committed"],
    );
  });
});

describe("redis partitions: claiming", () => {
  test("a busy partition does not starve another: a worker turns to it within a quantum", async () => {
    const name = `fair-${randomUUID().slice(0, 6)}`;
    const ran: string[] = [];
    const def = workflow({
      name,
      version: "1",
      start: "a",
      nodes: [node("a", (_ctx, input: string) => (ran.push(input), next(null)))],
    });
    const store = open(6, prefix()).forWorkflow(name);
    const orchestrator = new Orchestrator(store, def);
    // Skewed load: 120 runs in partition 0, created first, then 6 in partition 3.
    for (let i = 0; i < 120; i += 1) await orchestrator.start("busy", { runId: runIdIn(0, 6) });
    for (let i = 0; i < 6; i += 1) await orchestrator.start("quiet", { runId: runIdIn(3, 6) });
    const pool = new WorkerPool({
      store,
      workflow: def,
      workerId: "fair",
      concurrency: 1,
      leaseMs: 10_000,
      heartbeatMs: 1000,
      blockMs: 500,
    });
    pool.start();
    try {
      await waitFor(() => ran.length === 126, { timeoutMs: 30_000, message: "all 126 runs to run" });
    } finally {
      await pool.stop({ graceMs: 2000 });
    }
    const lastQuiet = ran.lastIndexOf("quiet");
    // Sticking to partition 0 would run the quiet runs last (index 125); a quantum of 16 steps
    // then one sweep from the next partition runs them after about 16.
    assert.ok(lastQuiet < 40, `the last run of the quiet partition ran as step ${lastQuiet} of 126`);
  });

  test("a worker's claim loops work one partition at a time, every partition in turn", async () => {
    const name = `turns-${randomUUID().slice(0, 6)}`;
    const ran: number[] = [];
    const def = workflow({
      name,
      version: "1",
      start: "a",
      nodes: [node("a", (_ctx, input: number) => (ran.push(input), next(null)))],
    });
    const store = open(6, prefix()).forWorkflow(name);
    const orchestrator = new Orchestrator(store, def);
    // Even load: 80 runs in each partition, each run's input its partition.
    for (let partition = 0; partition < 6; partition += 1) {
      await Promise.all(
        Array.from({ length: 80 }, () => orchestrator.start(partition, { runId: runIdIn(partition, 6) })),
      );
    }
    const pool = new WorkerPool({
      store,
      workflow: def,
      workerId: "turns",
      concurrency: 8,
      leaseMs: 10_000,
      heartbeatMs: 1000,
      blockMs: 500,
    });
    pool.start();
    try {
      await waitFor(() => ran.length === 480, { timeoutMs: 30_000, message: "all 480 runs to run" });
    } finally {
      await pool.stop({ graceMs: 2000 });
    }
    // Loops spread over the partitions would change partition at nearly every step (~400 times);
    // one partition at a time, a turn is 8 loops x 16 steps (more than a partition's 80 runs), so
    // the steps change partition about once per partition, plus the steps in flight at each turn.
    const changes = ran.filter((partition, i) => i > 0 && partition !== ran[i - 1]).length;
    assert.ok(changes <= 6 * 8, `the steps changed partition ${changes} times in 480 steps`);
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5].map((partition) => ran.filter((p) => p === partition).length),
      [80, 80, 80, 80, 80, 80],
    );
  });

  test("an idle worker of six partitions sends about one command per second or less per partition", async (t) => {
    const name = `idle-${randomUUID().slice(0, 8)}`;
    const keyPrefix = prefix();
    const store = open(6, keyPrefix, name).forWorkflow("idle");
    const stop = new AbortController();
    const claimed: string[] = [];
    const loops = [0, 1, 2, 3].map(async (slot) => {
      while (!stop.signal.aborted) {
        const claim = await store.claim({
          workerId: `w/${slot}`,
          leaseMs: 30_000,
          blockMs: 5000,
          signal: stop.signal,
        });
        if (claim !== null) claimed.push(claim.item.runId);
      }
    });
    await waitFor(async () => (await blockedCount(admin, name)) === 6, {
      message: "one blocked doorbell per partition",
    });
    const addresses = new Set((await clientsNamed(admin, name)).map((client) => client.addr));
    const monitor = await admin.monitor(); // a new connection of its own, in MONITOR mode
    let commands = 0;
    monitor.on("monitor", (_time: string, _args: string[], source: string) => {
      if (addresses.has(source)) commands += 1;
    });
    const windowMs = 11_000;
    await delay(windowMs); // a measurement window, not a synchronisation
    monitor.disconnect();
    // Still blocked, and an item enqueued in any partition is picked up at once.
    const producer = open(6, keyPrefix).forWorkflow("idle");
    const started = performance.now();
    const runId = await startRun(producer, runIdIn(5, 6));
    await waitFor(() => claimed.includes(runId), {
      intervalMs: 5,
      message: "the idle loops to claim the new run",
    });
    const latencyMs = performance.now() - started;
    stop.abort();
    await Promise.all(loops);
    const perPartition = commands / (windowMs / 1000) / 6;
    t.diagnostic(
      `idle worker, 6 partitions: ${commands} commands in ${windowMs} ms (${perPartition.toFixed(2)}/s per partition)`,
    );
    assert.ok(perPartition <= 1, `an idle worker sent ${perPartition.toFixed(2)} commands/s per partition`);
    assert.ok(latencyMs < 500, `picked up after ${latencyMs.toFixed(0)} ms`);
  });

  test("an item enqueued in any partition while a worker is blocked is claimed within milliseconds", async (t) => {
    const name = `latency-${randomUUID().slice(0, 8)}`;
    const keyPrefix = prefix();
    const worker = open(6, keyPrefix, name).forWorkflow("fast");
    const producer = open(6, keyPrefix).forWorkflow("fast");
    for (const partition of [4, 0, 2]) {
      const pending = worker.claim({ ...LEASE, blockMs: 10_000 });
      await waitFor(async () => (await blockedCount(admin, name)) === 6, {
        intervalMs: 10,
        message: "six doorbells",
      });
      const started = performance.now();
      const runId = await startRun(producer, runIdIn(partition, 6));
      const claim = await pending;
      const latencyMs = performance.now() - started;
      t.diagnostic(`partition ${partition}: pick-up latency ${latencyMs.toFixed(1)} ms`);
      assert.equal(claim?.item.runId, runId);
      assert.ok(latencyMs < 500, `picked up after ${latencyMs.toFixed(0)} ms`);
    }
  });

  test("the depth reader sums the partitions and shows each one's backlog", async () => {
    const keyPrefix = prefix();
    const store = open(6, keyPrefix).forWorkflow("orders");
    for (let i = 0; i < 3; i += 1) await startRun(store, runIdIn(1, 6));
    await startRun(store, runIdIn(4, 6));
    const found = (await readWorkflowVersions(admin, ["orders"], { prefix: keyPrefix, partitions: 6 })).get(
      "orders",
    );
    assert.deepEqual(
      found?.partitions.map(({ partition, ready }) => [partition, ready]),
      [
        [0, 0],
        [1, 3],
        [2, 0],
        [3, 0],
        [4, 1],
        [5, 0],
      ],
    );
    assert.deepEqual(await store.depth(), { ready: 4, inFlight: 0, delayed: 0, dead: 0 });
  });
});
describe("redis partitions: the rollout", () => {
  /** The `ramp-until` of each partition's `versions` hash, read directly. */
  const rampEnds = async (workflowName: string, keyPrefix: string): Promise<(string | null)[]> =>
    Promise.all(
      new WorkflowKeys(workflowName, keyPrefix)
        .partitions(6)
        .map((keys) => admin.hget(keys.key("versions"), "ramp-until")),
    );

  test("a ramp ends at one instant in every partition, written by a store or by the operator's writer", async () => {
    const keyPrefix = prefix();
    const store = open(6, keyPrefix).forWorkflow("ramped", "1");
    const ramp = { current: "1", ramp: { version: "2", percent: 30, periodMs: 600_000 } };
    await store.writeRollout(ramp);
    const until = (await store.readVersions()).rollout.ramp?.until;
    assert.ok(until !== undefined && until > 0);
    assert.deepEqual(await rampEnds("ramped", keyPrefix), Array(6).fill(String(until)));
    // Written again (a controller writes on every reconcile): the end stays.
    await store.writeRollout({ ...ramp, ramp: { ...ramp.ramp, periodMs: 1 } });
    assert.deepEqual(await rampEnds("ramped", keyPrefix), Array(6).fill(String(until)));

    const written = await writeRolloutWith(admin, "ramped-op", ramp, keyPrefix, 6);
    assert.ok(written !== null);
    assert.deepEqual(await rampEnds("ramped-op", keyPrefix), Array(6).fill(String(written)));
  });
});

describe("redis partitions: the console's readers", () => {
  test("list, page, find, detail, dead letters and leases see every partition", async () => {
    const keyPrefix = prefix();
    const store = open(6, keyPrefix).forWorkflow("orders") as PartitionedRedisStore;
    const runIds: string[] = [];
    for (let i = 0; i < 12; i += 1) {
      const runId = store.newRunId(`key-${i}`);
      const startItem = item(store, runId, "a");
      await store.createRun({ runId, idempotencyKey: `key-${i}`, input: i, version: "1", startItem });
      runIds.push(runId);
    }
    const partitionsUsed = new Set(runIds.map((runId) => partitionOf(runId, 6)));
    assert.ok(partitionsUsed.size >= 3, `runs in ${partitionsUsed.size} partitions`);
    // Two dead letters, the rest leased by one worker.
    const claims = [];
    for (let claim = await store.claim(LEASE); claim !== null; claim = await store.claim(LEASE))
      claims.push(claim);
    assert.equal(claims.length, 12);
    const dead = {
      kind: "fail",
      error: { code: "E", message: "dead" },
      deadLetter: true,
      durationMs: 1,
    } as const;
    for (const claim of claims.slice(0, 2)) await store.commit(claim, dead);

    assert.deepEqual(await listWorkflows(admin, keyPrefix), ["orders"]);

    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await readRunsPage(admin, "orders", { limit: 5, cursor }, keyPrefix, 6);
      seen.push(...page.runs.map((run) => run.runId));
      cursor = page.next ?? undefined;
    } while (cursor !== undefined);
    assert.deepEqual(new Set(seen), new Set(runIds), "every run once, over pages");
    assert.equal(seen.length, 12);
    const created = await Promise.all(seen.map(async (runId) => (await store.getRun(runId))?.createdAt ?? 0));
    assert.deepEqual(
      created,
      [...created].sort((a, b) => b - a),
      "newest first across partitions",
    );

    const last = runIds[11] as string;
    assert.equal((await findRun(admin, "orders", last, keyPrefix, 6))?.runId, last);
    assert.equal((await findRun(admin, "orders", "key-11", keyPrefix, 6))?.runId, last);
    const leased = claims[5]?.item.runId as string;
    const detail = await readRunDetail(admin, "orders", leased, { prefix: keyPrefix, partitions: 6 });
    assert.equal(detail?.run.runId, leased);
    assert.equal(detail?.leased.length, 1);

    const letters = await readDeadLetters(admin, "orders", {}, keyPrefix, 6);
    assert.equal(letters.total, 2);
    assert.deepEqual(
      new Set(letters.entries.map((entry) => entry.letter?.item.runId)),
      new Set(claims.slice(0, 2).map((claim) => claim.item.runId)),
    );

    const workers = await readWorkersWithLeases(admin, "orders", keyPrefix, 6);
    const held = workers.workers.flatMap((worker) => worker.items.map((entry) => entry.item.runId));
    assert.deepEqual(new Set(held), new Set(claims.slice(2).map((claim) => claim.item.runId)));
    assert.ok(workers.workers.every((worker) => worker.items.every((entry) => entry.claimedAt !== null)));
  });
});
