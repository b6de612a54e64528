/**
 * What the Redis store promises beyond the shared contract: an idle worker is quiet, a blocked
 * claim wakes at once for new work and for due retries, retries live in Redis, bad queue
 * entries are dead-lettered, queue depth is cheap to read, finished runs expire.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { Redis } from "ioredis";
import type { FloxideError } from "../../../worker/sdk/index.ts";
import {
  createRedisBackend,
  readQueueDepth,
  readQueueDepths,
  LAYOUT_VERSION,
  WorkflowKeys,
  type Claim,
  type RedisBackend,
  type WorkflowStore,
} from "../../../worker/store/index.ts";
import { keysFor, runScript } from "../../../worker/store/redis/scripts.ts";
import { item, success } from "../../store/contract-suite.ts";
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

/** A backend with its own key prefix; `name` tags its connections in CLIENT LIST. */
function open(options: { name?: string; retentionMs?: number; keyPrefix?: string } = {}): RedisBackend {
  const backend = createRedisBackend({
    connection: { url: redis.url, ...(options.name === undefined ? {} : { connectionName: options.name }) },
    keyPrefix: options.keyPrefix ?? `q-${randomUUID().slice(0, 8)}`,
    retentionMs: options.retentionMs ?? 60_000,
  });
  backends.push(backend);
  return backend;
}

async function startRun(store: WorkflowStore, extra: Parameters<typeof item>[4] = {}): Promise<string> {
  const runId = randomUUID();
  await store.createRun({
    runId,
    idempotencyKey: null,
    input: { n: 1 },
    version: "1",
    startItem: item(store, runId, "a", { n: 1 }, extra),
  });
  return runId;
}

/** CLIENT LIST entries of the connections named `name`. */
const clients = (name: string) => clientsNamed(admin, name);
const blockedIn = async (name: string): Promise<boolean> => (await blockedCount(admin, name)) > 0;

describe("redis store: claiming", () => {
  test("an idle worker with four claim loops sends at most about one command per second", async (t) => {
    const name = `idle-${randomUUID().slice(0, 8)}`;
    const store = open({ name }).forWorkflow("idle");
    const stop = new AbortController();
    const loops = [0, 1, 2, 3].map(async (slot) => {
      while (!stop.signal.aborted) {
        await store.claim({ workerId: `w/${slot}`, leaseMs: 30_000, blockMs: 5000, signal: stop.signal });
      }
    });
    await waitFor(() => blockedIn(name), { message: "the claim loops to block in Redis" });
    const addresses = new Set((await clients(name)).map((client) => client.addr));
    const monitor = await admin.monitor(); // a new connection of its own, in MONITOR mode
    let commands = 0;
    monitor.on("monitor", (_time: string, _args: string[], source: string) => {
      if (addresses.has(source)) commands += 1;
    });
    const windowMs = 6000;
    await delay(windowMs); // a measurement window, not a synchronisation
    monitor.disconnect();
    stop.abort();
    await Promise.all(loops);
    const perSecond = commands / (windowMs / 1000);
    t.diagnostic(`idle worker: ${commands} commands in ${windowMs} ms (${perSecond.toFixed(2)}/s)`);
    assert.ok(perSecond <= 1, `an idle worker sent ${perSecond.toFixed(2)} commands/s`);
  });

  test("an item enqueued while a worker is blocked is claimed within milliseconds", async (t) => {
    const name = `latency-${randomUUID().slice(0, 8)}`;
    const keyPrefix = `q-${randomUUID().slice(0, 8)}`;
    const worker = open({ name, keyPrefix }).forWorkflow("fast");
    const producer = open({ keyPrefix }).forWorkflow("fast");
    const pending = worker.claim({ ...LEASE, blockMs: 10_000 });
    await waitFor(() => blockedIn(name), { intervalMs: 10, message: "the claim to block in Redis" });
    const started = performance.now();
    const runId = await startRun(producer);
    const claim = await pending;
    const latencyMs = performance.now() - started;
    t.diagnostic(`pick-up latency (enqueue -> claim returned): ${latencyMs.toFixed(1)} ms`);
    assert.equal(claim?.item.runId, runId);
    assert.ok(latencyMs < 500, `picked up after ${latencyMs.toFixed(0)} ms`);
  });

  test("a retry falling due wakes a blocked claim on another worker", async () => {
    const name = `retry-${randomUUID().slice(0, 8)}`;
    const keyPrefix = `q-${randomUUID().slice(0, 8)}`;
    const first = open({ keyPrefix }).forWorkflow("retry");
    const second = open({ name, keyPrefix }).forWorkflow("retry");
    await startRun(first);
    const claim = await first.claim(LEASE);
    assert.ok(claim);
    const pending = second.claim({ ...LEASE, blockMs: 20_000 });
    await waitFor(() => blockedIn(name), { intervalMs: 10, message: "the second worker to block" });
    const started = Date.now();
    const error = { code: "Error", message: "flaky" };
    await first.commit(claim, { kind: "retry", error, delayMs: 300, durationMs: 1 });
    const again = await pending;
    const elapsed = Date.now() - started;
    assert.equal(again?.item.id, claim.item.id);
    assert.equal(again?.item.attempt, 2);
    assert.ok(elapsed >= 250, `delivered after ${elapsed} ms, before its delay`);
    assert.ok(elapsed < 5000, `delivered after ${elapsed} ms: the claim slept through the due time`);
  });

  test("a retry survives the worker that scheduled it", async () => {
    const keyPrefix = `q-${randomUUID().slice(0, 8)}`;
    const doomed = open({ keyPrefix });
    const store = doomed.forWorkflow("survive");
    await startRun(store);
    const claim = await store.claim(LEASE);
    assert.ok(claim);
    await store.commit(claim, {
      kind: "retry",
      error: { code: "E", message: "x" },
      delayMs: 200,
      durationMs: 1,
    });
    await doomed.close();
    const again = await open({ keyPrefix })
      .forWorkflow("survive")
      .claim({ ...LEASE, blockMs: 5000 });
    assert.equal(again?.item.id, claim.item.id);
    assert.equal(again?.item.attempt, 2);
  });

  test("an item whose wake marker a dying worker took is still claimed", async () => {
    const keys = new WorkflowKeys("marker", `q-${randomUUID().slice(0, 8)}`);
    const store = open({ keyPrefix: keys.prefix }).forWorkflow("marker");
    const runId = await startRun(store);
    assert.equal(((await admin.zpopmin(keys.key("wake"))) as string[]).length, 2, "the marker was set");
    const claim = await store.claim({ ...LEASE, blockMs: 5000 });
    assert.equal(claim?.item.runId, runId);
  });

  test("malformed entries in the ready list are dead-lettered and the next item is delivered", async () => {
    const keys = new WorkflowKeys("malformed", `q-${randomUUID().slice(0, 8)}`);
    const store = open({ keyPrefix: keys.prefix }).forWorkflow("malformed");
    await admin.rpush(keys.key("ready"), "{not json", JSON.stringify({ attempt: 1, id: "x" }));
    const runId = await startRun(store);
    const claim = await store.claim(LEASE);
    assert.equal(claim?.item.runId, runId);
    const dead = await store.deadLetters();
    assert.equal(dead.length, 2);
    assert.deepEqual(
      dead.map((letter) => letter.error.code),
      ["InvalidItem", "InvalidItem"],
    );
    assert.match(
      dead[0]?.error.message ?? "",
      /malformed work item in the ready list \(not JSON\): \{not json/,
    );
    assert.match(dead[1]?.error.message ?? "", /field "runId" is missing/);
    assert.equal(dead[0]?.item.input, "{not json", "the raw entry is kept for inspection");
    assert.deepEqual(
      (await store.listErrors()).map((error) => error.action),
      ["dead", "dead"],
    );
    assert.deepEqual(await store.depth(), { ready: 0, inFlight: 1, delayed: 0, dead: 2 });
  });

  test("an item moved into another workflow's ready list is dead-lettered there", async () => {
    const prefix = `q-${randomUUID().slice(0, 8)}`;
    const backend = open({ keyPrefix: prefix });
    const [storeA, storeB] = [backend.forWorkflow("wf-a"), backend.forWorkflow("wf-b")];
    await startRun(storeA);
    const [keysA, keysB] = [new WorkflowKeys("wf-a", prefix), new WorkflowKeys("wf-b", prefix)];
    await admin.lmove(keysA.key("ready"), keysB.key("ready"), "LEFT", "RIGHT");
    assert.equal(await storeB.claim(LEASE), null);
    const dead = await storeB.deadLetters();
    assert.equal(dead.length, 1);
    assert.match(dead[0]?.error.message ?? "", /item of workflow "wf-a" in the queue of "wf-b"/);
  });

  test("twelve claim loops on three backends deliver every item exactly once", async () => {
    const keyPrefix = `q-${randomUUID().slice(0, 8)}`;
    const stores = [0, 1, 2].map(() => open({ keyPrefix }).forWorkflow("busy"));
    const first = stores[0] as WorkflowStore;
    const runIds = await Promise.all(Array.from({ length: 100 }, () => startRun(first)));
    const deliveries = new Map<string, number>();
    const stop = new AbortController();
    let completed = 0;
    const loops = stores.flatMap((store, index) =>
      [0, 1, 2, 3].map(async (slot) => {
        while (!stop.signal.aborted) {
          const options = {
            workerId: `${index}/${slot}`,
            leaseMs: 10_000,
            blockMs: 1000,
            signal: stop.signal,
          };
          const claim = await store.claim(options);
          if (claim === null) continue;
          deliveries.set(claim.item.id, (deliveries.get(claim.item.id) ?? 0) + 1);
          const { runId, node, id } = claim.item;
          const events = [{ id: randomUUID(), node, itemId: id, event: node }];
          const followUps = node === "a" ? [item(store, runId, "b")] : [];
          const result = await store.commit(claim, success({ events, followUps }));
          if (result.status === "committed" && result.run === "completed") completed += 1;
        }
      }),
    );
    try {
      await waitFor(() => completed === runIds.length, {
        timeoutMs: 30_000,
        message: "every run to complete",
      });
    } finally {
      stop.abort();
      await Promise.all(loops);
    }
    assert.equal(deliveries.size, 200);
    assert.deepEqual(new Set(deliveries.values()), new Set([1]), "no item was delivered twice");
    for (const runId of runIds) {
      assert.deepEqual(
        (await first.readEvents(runId, 0)).map((event) => event.event),
        ["a", "b"],
      );
    }
    assert.deepEqual(await first.depth(), { ready: 0, inFlight: 0, delayed: 0, dead: 0 });
  });

  test("a claim re-sent with the same lease token gets the same lease, not a second item", async () => {
    // ioredis re-sends a command whose reply a Redis restart lost: the same script, the same
    // token. The second send must not lease another item under that token.
    const keys = new WorkflowKeys("resent", `q-${randomUUID().slice(0, 8)}`);
    const store = open({ keyPrefix: keys.prefix }).forWorkflow("resent");
    const runIds = [await startRun(store), await startRun(store)];
    const token = randomUUID();
    const send = (): Promise<unknown> =>
      runScript(admin, "claim", keysFor(keys, "claim"), [keys.base, 60_000, "resent", 10_000, token, "w1"]);
    // {'items', '', token, item JSON, deadline, runEventSeq}
    const first = (await send()) as [string, string, string, string, number, number];
    const second = (await send()) as [string, string, string, string, number, number];
    assert.equal(first[0], "items");
    assert.deepEqual(second, first, "the re-sent claim returns the first claim's lease");
    assert.deepEqual(await store.depth(), { ready: 1, inFlight: 1, delayed: 0, dead: 0 });
    const other = await store.claim(LEASE);
    const firstRunId = (JSON.parse(first[3]) as { runId: string }).runId;
    assert.deepEqual(
      new Set([firstRunId, other?.item.runId]),
      new Set(runIds),
      "both items are still delivered",
    );
  });

  test("a worker refuses keys written in a layout version it does not know, and records its own", async () => {
    const keys = new WorkflowKeys("layout", `q-${randomUUID().slice(0, 8)}`);
    const store = open({ keyPrefix: keys.prefix }).forWorkflow("layout");
    await startRun(store);
    assert.equal(await admin.get(keys.key("layout")), `${LAYOUT_VERSION};partitions=1`);
    const future = new WorkflowKeys("future", keys.prefix);
    await admin.set(future.key("layout"), "99");
    const newer = open({ keyPrefix: keys.prefix }).forWorkflow("future");
    await assert.rejects(newer.claim(LEASE), (error: FloxideError) => {
      assert.equal(error.code, "InvalidConfig");
      assert.match(error.message, /layout version 99; this worker knows only version/);
      return true;
    });
    assert.equal(await admin.llen(future.key("ready")), 0, "nothing was written");
  });

  test("commits asked for in one tick are batched: three in one call, four in two halves", async () => {
    const store = open().forWorkflow("batched");
    const fcalls = async (): Promise<number> =>
      Number(/cmdstat_fcall:calls=(\d+)/.exec(String(await admin.info("commandstats")))?.[1] ?? 0);
    for (const [count, calls] of [
      [3, 1],
      [4, 2],
    ] as const) {
      const runIds = await Promise.all(Array.from({ length: count }, () => startRun(store)));
      const claims: Claim[] = [];
      for (const _ of runIds) claims.push((await store.claim(LEASE)) as Claim);
      const before = await fcalls();
      const results = await Promise.all(claims.map((claim) => store.commit(claim, success())));
      assert.equal((await fcalls()) - before, calls, `${count} commits, ${calls} call(s)`);
      assert.deepEqual(
        results.map((result) => result.status),
        runIds.map(() => "committed"),
      );
      for (const runId of runIds) assert.equal((await store.getRun(runId))?.status, "completed");
    }
  });

  test("waiters arriving with earlier deadlines end a block once, not once each (no listener leak)", async () => {
    const name = `interrupt-${randomUUID().slice(0, 8)}`;
    const keyPrefix = `q-${randomUUID().slice(0, 8)}`;
    const backend = open({ name, keyPrefix });
    const worker = backend.forWorkflow("wf");
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning);
    process.on("warning", onWarning);
    try {
      const first = worker.claim({ ...LEASE, blockMs: 10_000 });
      await waitFor(() => blockedIn(name), { intervalMs: 10, message: "the first claim to block in Redis" });
      // Each arrives with a deadline before the block's end, the later ones while it is ending.
      const later = Array.from({ length: 12 }, (_, i) =>
        worker.claim({ ...LEASE, blockMs: 5_000 - i * 100 }),
      );
      const runId = await startRun(open({ keyPrefix }).forWorkflow("wf"));
      const claimed = await Promise.race([first, ...later].map((pending) => pending.then((claim) => claim)));
      assert.equal(claimed?.item.runId, runId);
      await backend.close();
      const all = await Promise.all([first, ...later]);
      assert.equal(all.filter((claim) => claim !== null).length, 1, "one item, one claim");
      assert.deepEqual(
        warnings.map((warning) => `${warning.name}: ${warning.message}`),
        [],
        "no warning (a connection disconnected once per waiter leaks its close listeners)",
      );
    } finally {
      process.off("warning", onWarning);
    }
  });

  test("a blocked claim ends with null when the backend closes", async () => {
    const name = `close-${randomUUID().slice(0, 8)}`;
    const backend = open({ name });
    const pending = backend.forWorkflow("closing").claim({ ...LEASE, blockMs: 30_000 });
    await waitFor(() => blockedIn(name), { intervalMs: 10, message: "the claim to block" });
    await backend.close();
    assert.equal(await pending, null);
  });
});

describe("redis store: outages", () => {
  test("a claim blocked while Redis restarts ends, and the next claims work", async (t) => {
    if (redis.external) return t.skip("REDIS_URL names a server this test cannot restart");
    const own = await startRedis();
    const backend = createRedisBackend({ connection: own.url });
    try {
      const store = backend.forWorkflow("outage");
      const blocked = store.claim({ ...LEASE, blockMs: 1000 }).catch((error: Error) => error);
      await own.restart();
      const outcome = await blocked;
      assert.ok(outcome === null || outcome instanceof Error, "the blocked claim ended");
      const runId = await startRun(store);
      assert.equal((await store.claim({ ...LEASE, blockMs: 5000 }))?.item.runId, runId);
    } finally {
      await backend.close();
      await own.stop();
    }
  });

  test("a server that forgot the function library (FUNCTION FLUSH) gets it loaded again", async () => {
    const store = open().forWorkflow("flushed");
    const first = await startRun(store);
    const claimOne = async (): Promise<Claim> => {
      const claim = await store.claim(LEASE);
      assert.ok(claim);
      return claim;
    };
    assert.equal((await store.commit(await claimOne(), success())).status, "committed");
    await admin.call("FUNCTION", "FLUSH");
    assert.deepEqual(await admin.call("FUNCTION", "LIST"), []);
    const second = await startRun(store);
    assert.equal((await store.commit(await claimOne(), success())).status, "committed");
    assert.equal((await store.getRun(first))?.status, "completed");
    assert.equal((await store.getRun(second))?.status, "completed");
    assert.equal(((await admin.call("FUNCTION", "LIST")) as unknown[]).length, 1);
  });

  test("ping fails within its timeout while Redis is down and succeeds once it is back", async (t) => {
    if (redis.external) return t.skip("REDIS_URL names a server this test cannot kill");
    const own = await startRedis();
    const backend = createRedisBackend({ connection: own.url });
    try {
      await backend.ping();
      await own.kill();
      const started = Date.now();
      await assert.rejects(backend.ping(), { code: "StoreUnavailable" });
      assert.ok(Date.now() - started < 3000, "a down Redis is reported promptly");
      await own.restart();
      await waitFor(() => backend.ping().then(() => true), { message: "ping to succeed after the restart" });
    } finally {
      await backend.close();
      await own.stop();
    }
  });
});

describe("redis store: queue depth and retention", () => {
  test("readQueueDepth reads ready, in-flight, delayed and dead with the operator's own client", async () => {
    const keyPrefix = `q-${randomUUID().slice(0, 8)}`;
    const store = open({ keyPrefix }).forWorkflow("depth");
    for (let i = 0; i < 4; i += 1) await startRun(store, { maxAttempts: 1 });
    const inFlight = await store.claim(LEASE);
    const retried = await store.claim(LEASE);
    const failed = await store.claim(LEASE);
    assert.ok(inFlight && retried && failed);
    await store.commit(retried, {
      kind: "retry",
      error: { code: "E", message: "x" },
      delayMs: 60_000,
      durationMs: 1,
    });
    await store.commit(failed, {
      kind: "fail",
      error: { code: "E", message: "x" },
      deadLetter: true,
      durationMs: 1,
    });
    const operator = new Redis(redis.url);
    try {
      const expected = { ready: 1, inFlight: 1, delayed: 1, dead: 1 };
      assert.deepEqual(await readQueueDepth(operator, "depth", { prefix: keyPrefix }), expected);
      const many = await readQueueDepths(operator, ["depth", "unknown"], { prefix: keyPrefix });
      assert.deepEqual(Object.fromEntries(many), {
        depth: expected,
        unknown: { ready: 0, inFlight: 0, delayed: 0, dead: 0 },
      });
    } finally {
      operator.disconnect();
    }
  });

  test("a finished run's keys get the retention TTL; a running run's keys do not", async () => {
    const keys = new WorkflowKeys("retention", `q-${randomUUID().slice(0, 8)}`);
    const store = open({ keyPrefix: keys.prefix, retentionMs: 60_000 }).forWorkflow("retention");
    const done = await startRun(store);
    const claim = await store.claim(LEASE);
    assert.ok(claim);
    const events = [{ id: randomUUID(), node: "a", itemId: claim.item.id, event: 1 }];
    const outputs = [{ node: "a", itemId: claim.item.id, value: 1 }];
    await store.commit(claim, success({ events, outputs }));
    await store.saveCheckpoint(done, { seq: 1, state: 1 }); // written after the run finished
    const running = await startRun(store);
    for (const kind of ["run", "events", "checkpoint"] as const) {
      const ttl = await admin.pttl(keys.run(kind, done));
      assert.ok(ttl > 0 && ttl <= 60_000, `${kind} of the finished run has pttl ${ttl}`);
    }
    assert.equal(await admin.pttl(keys.run("run", running)), -1);
  });

  test("a run's errors and checkpoint written while it ran expire with it; keys it never had are not touched", async () => {
    const keys = new WorkflowKeys("rare-keys", `q-${randomUUID().slice(0, 8)}`);
    const store = open({ keyPrefix: keys.prefix, retentionMs: 60_000 }).forWorkflow("rare-keys");
    const runId = await startRun(store);
    const first = await store.claim(LEASE);
    assert.ok(first);
    await store.saveCheckpoint(runId, { seq: 0, state: 0 });
    const error = { code: "Error", message: "flaky", node: "a" };
    await store.commit(first, { kind: "retry", error, delayMs: 0, durationMs: 1 });
    const again = await store.claim({ ...LEASE, blockMs: 3000 });
    assert.equal(again?.item.id, first.item.id);
    assert.equal((await store.commit(again, success())).status, "committed");
    assert.equal((await store.getRun(runId))?.status, "completed");
    for (const kind of ["run", "checkpoint", "errors"] as const) {
      const ttl = await admin.pttl(keys.run(kind, runId));
      assert.ok(ttl > 0 && ttl <= 60_000, `${kind} of the finished run has pttl ${ttl}`);
    }
    const plain = await startRun(store);
    const claim = await store.claim(LEASE);
    await store.commit(claim!, success());
    assert.equal((await store.getRun(plain))?.status, "completed");
    for (const kind of ["checkpoint", "errors", "parked", "events", "joins"] as const)
      assert.equal(await admin.exists(keys.run(kind, plain)), 0, `${kind} of a run that never had one`);
    assert.ok((await admin.pttl(keys.run("run", plain))) > 0);
  });

  test("a run past its retention is gone, from listRuns too", async () => {
    const store = open({ retentionMs: 100 }).forWorkflow("expiry");
    const old = await startRun(store);
    const claim = await store.claim(LEASE);
    assert.ok(claim);
    await store.commit(claim, success());
    await waitFor(async () => (await store.getRun(old)) === null, {
      intervalMs: 25,
      message: "the run to expire",
    });
    const fresh = await startRun(store);
    assert.deepEqual(
      (await store.listRuns()).map((run) => run.runId),
      [fresh],
    );
    assert.deepEqual(await store.listRuns({ status: "completed" }), []);
  });
});
