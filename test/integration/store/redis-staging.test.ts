/**
 * A large fan-out is staged under the step's lease and published by its commit (stage.ts,
 * stage.lua, commit.lua): all or nothing. Nothing staged is visible before the commit, a stale
 * lease cannot stage or publish, and what a dead worker staged is dropped with its lease.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import {
  createRedisBackend,
  WorkflowKeys,
  type Claim,
  type RedisBackend,
  type WorkflowStore,
} from "../../../worker/store/index.ts";
import { keysFor, runScript } from "../../../worker/store/redis/scripts.ts";
import { STAGE_ABOVE } from "../../../worker/store/redis/stage.ts";
import { encodeItem } from "../../../worker/store/redis/codec.ts";
import { item, success } from "../../store/contract-suite.ts";
import { startRedis, type RedisServer } from "../../support/redis.ts";
import { waitFor } from "../../support/wait.ts";

const WORKFLOW = "staging";
let redis: RedisServer;
let admin: Redis;
let backend: RedisBackend;
let store: WorkflowStore;
let keys: WorkflowKeys;

before(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
  const prefix = `s${randomUUID().slice(0, 8)}`;
  backend = createRedisBackend({ connection: redis.url, keyPrefix: prefix });
  store = backend.forWorkflow(WORKFLOW);
  keys = new WorkflowKeys(WORKFLOW, prefix);
});
after(async () => {
  await backend.close();
  admin.disconnect();
  await redis.stop();
});

async function startRun(leaseMs = 60_000): Promise<{ runId: string; claim: Claim }> {
  const runId = randomUUID();
  const startItem = item(store, runId, "fan");
  await store.createRun({ runId, idempotencyKey: null, input: null, version: "1", startItem });
  const claim = await store.claim({ workerId: "w1", leaseMs, blockMs: 0 });
  assert.ok(claim !== null);
  return { runId, claim };
}

const fanOut = (runId: string, count: number) =>
  Array.from({ length: count }, (_, i) => item(store, runId, "leaf", i));

/** Stages items under a lease as one chunk of a staging worker would (stage.lua). */
function stage(claim: Claim, raws: string[], first: boolean): Promise<unknown> {
  return runScript(admin, "stage", keysFor(keys, "stage"), [
    keys.base,
    3_600_000,
    claim.token,
    first ? "1" : "0",
    ...raws,
  ]);
}

describe("staged fan-out", () => {
  test("a fan-out over the staging threshold commits whole and leaves no staging list", async () => {
    const { runId, claim } = await startRun();
    const followUps = fanOut(runId, STAGE_ABOVE * 3 + 1);
    const result = await store.commit(claim, success({ followUps }));
    assert.equal(result.status, "committed");
    assert.equal((await store.depth()).ready, followUps.length);
    assert.equal((await store.getRun(runId))?.pending, followUps.length);
    assert.deepEqual(await admin.keys(`${keys.base.replace(/[{}]/g, "\\$&")}:staged:*`), []);
    await store.cancelRun(runId, "done");
    await admin.del(keys.key("ready"));
  });

  test("a staging list of the wrong type: a later chunk is refused naming it, nothing written", async () => {
    const { runId, claim } = await startRun();
    const raws = fanOut(runId, 4).map(encodeItem);
    const ready = (await store.depth()).ready;
    assert.equal(await stage(claim, raws.slice(0, 2), true), 2);
    const staged = `${keys.base}:staged:${claim.token}`;
    await admin.del(staged);
    await admin.set(staged, "garbage");
    await assert.rejects(stage(claim, raws.slice(2), false), (error: Error) =>
      error.message.includes(`CORRUPT key ${staged} is a string, not a list`),
    );
    assert.equal(await admin.get(staged), "garbage", "nothing written");
    assert.equal((await store.depth()).ready, ready);
    // The step's own retry stages from a first chunk, which replaces the bad key.
    const result = await store.commit(claim, success({ followUps: fanOut(runId, STAGE_ABOVE + 1) }));
    assert.equal(result.status, "committed");
    assert.equal(await admin.exists(staged), 0);
    assert.equal((await store.depth()).ready, ready + STAGE_ABOVE + 1);
    await store.cancelRun(runId, "done");
    await admin.del(keys.key("ready"));
  });

  test("a worker that dies mid-staging leaves nothing visible; the sweep drops what it staged", async () => {
    const { runId, claim } = await startRun(50);
    const raws = fanOut(runId, 10).map(encodeItem);
    assert.equal(await stage(claim, raws.slice(0, 5), true), 5);
    assert.equal(await stage(claim, raws.slice(5), false), 10);
    const staged = `${keys.base}:staged:${claim.token}`;
    assert.equal(await admin.llen(staged), 10);
    assert.equal((await store.depth()).ready, 0, "nothing staged is in the queue");
    assert.equal((await store.getRun(runId))?.pending, 1, "nor counted by the run");
    // The worker dies: its lease expires and is swept.
    await waitFor(async () => (await store.reclaimExpired()).requeued === 1, { message: "the sweep" });
    assert.equal(await admin.exists(staged), 0, "the sweep dropped the staging list");
    // The stale lease can neither stage nor publish.
    assert.equal(await stage(claim, raws, true), "lease-lost");
    const late = await store.commit(claim, success({ followUps: fanOut(runId, STAGE_ABOVE + 1) }));
    assert.equal(late.status, "lease-lost");
    assert.equal((await store.depth()).ready, 1, "only the re-delivered item");
    assert.equal(await admin.exists(staged), 0);
  });

  test("a first chunk replaces what an earlier attempt of the same lease staged", async () => {
    const { runId, claim } = await startRun();
    const raws = fanOut(runId, 6).map(encodeItem);
    assert.equal(await stage(claim, raws, true), 6);
    assert.equal(await stage(claim, raws.slice(0, 2), true), 2);
    await store.release([claim]);
    assert.equal(await admin.exists(`${keys.base}:staged:${claim.token}`), 0, "release drops it");
  });
});
