/**
 * `floxide queue stats`: one line per workflow version, naming a stranded backlog, and one per
 * partition of a partitioned workflow.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { promisify } from "node:util";
import { after, before, test } from "node:test";
import { createRedisBackend, runIdIn, type RedisBackend } from "../../../worker/store/index.ts";
import { startRun } from "../../store/versions-suite.ts";
import { startRedis, type RedisServer } from "../../support/redis.ts";

let redis: RedisServer;
let backend: RedisBackend;

before(async () => {
  redis = await startRedis();
  backend = createRedisBackend({ connection: redis.url });
});
after(async () => {
  await backend.close();
  await redis.stop();
});

/** `floxide queue stats <workflow> --redis <url> ...args` in a child process. */
const queueStats = (workflow: string, ...args: string[]) =>
  promisify(execFile)(process.execPath, [
    "cli/main.ts",
    "queue",
    "stats",
    workflow,
    "--redis",
    redis.url,
    ...args,
  ]);

test("queue stats lists each version's backlog and role, and names the stranded one", async () => {
  const v1 = backend.forWorkflow("orders", "1");
  const v2 = backend.forWorkflow("orders", "2");
  for (let i = 0; i < 3; i += 1) await startRun(v1);
  await v1.writeRollout({ current: "2", ramp: null });
  await startRun(v1); // goes to version 2, the current one
  await v2.heartbeat({ workerId: "pod-v2", status: "idle", inFlight: 0, at: Date.now() }, 60_000);

  const run = (...args: string[]) => queueStats("orders", ...args);
  const { stdout } = await run();
  assert.match(stdout, /^workflow orders: ready 4, in flight 0, delayed 0, dead 0; workers 1\n/);
  assert.match(
    stdout,
    /\n {2}version 1 \(draining\): ready 3, in flight 0, delayed 0; workers 0; STRANDED: no worker of version 1/,
  );
  assert.match(stdout, /\n {2}version 2 \(current\): ready 1, in flight 0, delayed 0; workers 1\n/);

  const json = JSON.parse((await run("--json")).stdout) as {
    rollout: { current: string };
    versions: { version: string; ready: number; role: string; stranded: boolean }[];
  };
  assert.equal(json.rollout.current, "2");
  assert.deepEqual(
    json.versions.map(({ version, ready, role, stranded }) => ({ version, ready, role, stranded })),
    [
      { version: "1", ready: 3, role: "draining", stranded: true },
      { version: "2", ready: 1, role: "current", stranded: false },
    ],
  );
});

test("queue stats of six partitions shows each partition's depth; another --partitions is refused, naming both", async () => {
  const keyPrefix = `stats-${randomUUID().slice(0, 8)}`;
  const partitioned = createRedisBackend({ connection: redis.url, keyPrefix, partitions: 6 });
  try {
    const store = partitioned.forWorkflow("orders");
    // Skewed: three runs in partition 2, one in partition 5.
    for (const [partition, count] of [
      [2, 3],
      [5, 1],
    ] as const) {
      for (let i = 0; i < count; i += 1) {
        await startRun(store, runIdIn(partition, 6));
      }
    }
    const run = (...args: string[]) => queueStats("orders", "--key-prefix", keyPrefix, ...args);
    const { stdout } = await run("--partitions", "6");
    assert.match(stdout, /^workflow orders: ready 4, in flight 0, delayed 0, dead 0; workers 0\n/);
    assert.match(stdout, /\n {2}partition 2: ready 3, in flight 0, delayed 0, dead 0\n/);
    assert.match(stdout, /\n {2}partition 5: ready 1, in flight 0, delayed 0, dead 0\n/);
    assert.match(stdout, /\n {2}partition 0: ready 0, in flight 0, delayed 0, dead 0\n/);
    const json = JSON.parse((await run("--partitions", "6", "--json")).stdout) as {
      ready: number;
      partitions: { partition: number; ready: number }[];
    };
    assert.equal(json.ready, 4);
    assert.deepEqual(
      json.partitions.map(({ partition, ready }) => [partition, ready]),
      [
        [0, 0],
        [1, 0],
        [2, 3],
        [3, 0],
        [4, 0],
        [5, 1],
      ],
    );
    await assert.rejects(run("--partitions", "4"), (error: { code: number; stderr: string }) => {
      assert.notEqual(error.code, 0);
      assert.match(error.stderr, /has 6 partition\(s\) in Redis .* configured with 4: set --partitions 6/);
      return true;
    });
  } finally {
    await partitioned.close();
  }
});
