/**
 * redrive.lua validates before it writes: every refusal (an entry no worker can run, a run that
 * expired or finished since, a key of the wrong type, a corrupt run hash) leaves every key of the
 * workflow exactly as it was, and the dead letter stays to be discarded or retried.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import {
  createRedisBackend,
  WorkflowKeys,
  type RedisBackend,
  type WorkflowStore,
} from "../../../worker/store/index.ts";
import { deadLetterRun } from "../../support/dead-letter.ts";
import { startRedis, type RedisServer } from "../../support/redis.ts";

let redis: RedisServer;
let admin: Redis;
let backend: RedisBackend;
let counter = 0;

before(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
  backend = createRedisBackend({ connection: redis.url, keyPrefix: "redrive", retentionMs: 60_000 });
});
after(async () => {
  await backend.close();
  admin.disconnect();
  await redis.stop();
});

/** A fresh workflow with one run whose only item was dead-lettered (the run failed). */
async function deadLetter(): Promise<{
  store: WorkflowStore;
  keys: WorkflowKeys;
  runId: string;
  itemId: string;
}> {
  const workflow = `redrive-${(counter += 1)}`;
  const store = backend.forWorkflow(workflow);
  const { runId, itemId } = await deadLetterRun(store);
  return { store, keys: new WorkflowKeys(workflow, "redrive"), runId, itemId };
}

/** Every key of the workflow with its type and contents (TTLs included: a revival clears them). */
async function snapshot(keys: WorkflowKeys): Promise<string> {
  const names = (await admin.keys(`${keys.base.replace(/[{}]/g, "\\$&")}*`)).sort();
  const parts: string[] = [];
  for (const name of names) {
    const type = await admin.type(name);
    const content =
      type === "hash"
        ? Object.entries(await admin.hgetall(name)).sort()
        : type === "list"
          ? await admin.lrange(name, 0, -1)
          : type === "zset"
            ? await admin.zrange(name, 0, "-1", "WITHSCORES")
            : await admin.get(name).catch(() => type);
    parts.push(
      `${name} ${type} ${(await admin.pttl(name)) > 0 ? "ttl" : "no-ttl"} ${JSON.stringify(content)}`,
    );
  }
  return parts.join("\n");
}

async function refusedUnchanged(
  keys: WorkflowKeys,
  call: () => Promise<unknown>,
  expected: RegExp | { code: string },
): Promise<void> {
  const before = await snapshot(keys);
  await assert.rejects(call(), expected);
  assert.equal(await snapshot(keys), before, "nothing was written");
}

test("a set-aside entry (no runnable item) is refused: discard it", async () => {
  const { store, keys } = await deadLetter();
  const id = "corrupt-0123456789abcdef";
  await admin.rpush(
    keys.key("dead"),
    `{"at":1,"error":{"code":"CorruptEntry","message":"x"},"item":{"attempt":1,"maxAttempts":1,"id":"${id}","runId":"","workflow":"","version":"","node":"","enqueuedAt":1,"frames":[],"input":"garbage"}}`,
  );
  await refusedUnchanged(keys, () => store.redriveDeadLetter(id, "redrive"), { code: "InvalidItem" });
  await store.redriveDeadLetter(id, "discard");
  assert.equal(
    (await admin.lrange(keys.key("dead"), 0, -1)).some((raw) => raw.includes(id)),
    false,
  );
});

test("a run that expired, or finished since, is refused and its dead letter kept", async () => {
  const expired = await deadLetter();
  await admin.del(expired.keys.run("run", expired.runId));
  await refusedUnchanged(expired.keys, () => expired.store.redriveDeadLetter(expired.itemId, "redrive"), {
    code: "RunNotFound",
  });
  const finished = await deadLetter();
  await admin.hset(finished.keys.run("run", finished.runId), "status", "completed");
  await refusedUnchanged(finished.keys, () => finished.store.redriveDeadLetter(finished.itemId, "redrive"), {
    code: "RunFinished",
  });
});

test("a key of the wrong type or a corrupt run hash is refused before any write, naming it", async () => {
  const wrongReady = await deadLetter();
  await admin.set(wrongReady.keys.key("ready"), "not a list");
  await refusedUnchanged(
    wrongReady.keys,
    () => wrongReady.store.redriveDeadLetter(wrongReady.itemId, "redrive"),
    new RegExp(`CORRUPT key ${wrongReady.keys.key("ready").replace(/[{}]/g, "\\$&")}`),
  );
  const badRun = await deadLetter();
  await admin.hset(badRun.keys.run("run", badRun.runId), "pending", "many");
  await refusedUnchanged(
    badRun.keys,
    () => badRun.store.redriveDeadLetter(badRun.itemId, "redrive"),
    /CORRUPT field pending of .* is not an integer/,
  );
});

test("a revived run's keys stop expiring; discard takes out only the named item's entry", async () => {
  const { store, keys, runId, itemId } = await deadLetter();
  assert.ok((await admin.pttl(keys.run("run", runId))) > 0, "a failed run's keys expire");
  const other = await deadLetter();
  await admin.rpush(keys.key("dead"), (await admin.lrange(other.keys.key("dead"), 0, -1))[0] as string);
  await store.redriveDeadLetter(itemId, "redrive");
  assert.equal(await admin.pttl(keys.run("run", runId)), -1);
  assert.equal(await admin.zscore(keys.key("expiring"), runId), null);
  assert.equal((await admin.lrange(keys.key("dead"), 0, -1)).length, 1, "the other item's entry stays");
});
