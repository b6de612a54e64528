/**
 * Validate before write (DESIGN, keys.ts): every function of the store either succeeds or fails
 * before its first write. Each case corrupts one key or hash field of the layout (wrong type,
 * non-integer, garbage), then drives every store operation over a state that touches every key
 * kind; an operation that throws must leave every key exactly as it was (compared before and after),
 * and its error must name the corrupted key. Corruption confined to one run or entry is set
 * aside: the store keeps serving other runs.
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
import { STAGE_ABOVE } from "../../../worker/store/redis/stage.ts";
import { item, success } from "../../store/contract-suite.ts";
import { startRedis, type RedisServer } from "../../support/redis.ts";
import { waitFor } from "../../support/wait.ts";

const WORKFLOW = "corrupt";
const LEASE = { workerId: "w1", leaseMs: 60_000, blockMs: 0 };

let redis: RedisServer;
let admin: Redis;
const backends: RedisBackend[] = [];

before(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
});
after(async () => {
  await Promise.all(backends.map((backend) => backend.close()));
  admin.disconnect();
  await redis.stop();
});

interface Scene {
  readonly store: WorkflowStore;
  readonly keys: WorkflowKeys;
  /** Run A: running, an event, a checkpoint, an error, a retry waiting, one item leased (`leased`). */
  readonly runA: string;
  /** Run B: one item held. */
  readonly runB: string;
  /** Run C: one item whose lease has expired (`expired`). */
  readonly runC: string;
  readonly leased: Claim;
  readonly expired: Claim;
  /** Leased items of two more runs, committed as a retry and a dead-lettered failure. */
  readonly toRetry: Claim;
  readonly toFail: Claim;
}

async function claimOne(store: WorkflowStore, leaseMs = LEASE.leaseMs): Promise<Claim> {
  const claim = await store.claim({ ...LEASE, leaseMs });
  assert.ok(claim !== null, "an item to claim");
  return claim;
}

async function createRun(store: WorkflowStore, runId: string, node = "start"): Promise<void> {
  await store.createRun({
    runId,
    idempotencyKey: `idem-${runId}`,
    input: { runId },
    version: "1",
    startItem: item(store, runId, node),
  });
}

/** A state that touches every key kind of the layout. */
async function scene(): Promise<Scene> {
  const prefix = `c${randomUUID().slice(0, 8)}`;
  const backend = createRedisBackend({ connection: redis.url, keyPrefix: prefix });
  backends.push(backend);
  const store = backend.forWorkflow(WORKFLOW);
  const keys = new WorkflowKeys(WORKFLOW, prefix);
  const [runA, runB, runC] = [randomUUID(), randomUUID(), randomUUID()];

  await createRun(store, runA);
  const start = await claimOne(store);
  await store.commit(
    start,
    success({
      events: [{ id: randomUUID(), node: "start", itemId: start.item.id, event: { n: 1 } }],
      followUps: [item(store, runA, "work", 1), item(store, runA, "work", 2)],
    }),
  );
  const leased = await claimOne(store);
  const retried = await claimOne(store);
  await store.commit(retried, {
    kind: "retry",
    error: { code: "Error", message: "try again" },
    delayMs: 3_600_000,
    durationMs: 1,
  });
  await store.saveCheckpoint(runA, { seq: 1, state: { n: 1 } });

  await createRun(store, runB);
  await store.commit(await claimOne(store), success({ hold: { reason: "wait" } }));

  await createRun(store, runC);
  const expired = await claimOne(store, 1);
  await waitFor(async () => {
    const [seconds, micros] = (await admin.time()) as unknown as [string, string];
    return Number(seconds) * 1000 + Number(micros) / 1000 > expired.deadline + 5;
  });
  await store.heartbeat({ workerId: "w1", status: "busy", inFlight: 1, at: Date.now() }, 60_000);
  // Two more runs whose start items are leased, to be committed as a retry and a failure.
  await createRun(store, randomUUID());
  const toRetry = await claimOne(store);
  await createRun(store, randomUUID());
  const toFail = await claimOne(store);
  return { store, keys, runA, runB, runC, leased, expired, toRetry, toFail };
}

/**
 * Every key of the workflow as DUMP bytes, or, where the bytes differ although nothing was written
 * (a hash in hashtable encoding dumps in its dict order, which reads may rehash), its type and
 * sorted contents.
 */
async function dumpAll(keys: WorkflowKeys): Promise<Map<string, string>> {
  const names = await admin.keys(`${keys.base.replace(/[{}]/g, "\\$&")}*`);
  const dump = new Map<string, string>();
  for (const name of names.sort()) {
    const type = await admin.type(name);
    let content: unknown;
    if (type === "hash") content = Object.entries(await admin.hgetall(name)).sort();
    else if (type === "list") content = await admin.lrange(name, 0, -1);
    else if (type === "zset") content = await admin.zrange(name, 0, "-1", "WITHSCORES");
    else if (type === "set") content = (await admin.smembers(name)).sort();
    else content = (await admin.dumpBuffer(name))?.toString("hex");
    dump.set(name, `${type}:${JSON.stringify(content)}`);
  }
  return dump;
}

interface Corruption {
  readonly name: string;
  /** The key the error must name when an operation refuses. */
  readonly key: (scene: Scene) => string;
  readonly apply: (scene: Scene) => Promise<unknown>;
  /** A workflow-wide key: other runs cannot be served until it is fixed. */
  readonly wide?: boolean;
}

const WRONG_TYPE: Record<string, "string" | "hash"> = {
  ready: "string",
  leases: "string",
  "lease-items": "string",
  delayed: "string",
  wake: "string",
  dead: "string",
  errors: "string",
  metrics: "string",
  runs: "string",
  expiring: "string",
  workers: "string",
  "worker-expiry": "string",
  "reclaim-guard": "hash",
  versions: "string",
};

async function makeWrongType(key: string, as: "string" | "hash"): Promise<void> {
  await admin.del(key);
  if (as === "string") await admin.set(key, "garbage");
  else await admin.hset(key, "garbage", "1");
}

const corruptions: Corruption[] = [
  ...Object.entries(WRONG_TYPE).map(([name, as]): Corruption => ({
    name: `workflow key ${name} of the wrong type`,
    key: (s) => s.keys.key(name as never),
    apply: (s) => makeWrongType(s.keys.key(name as never), as),
    wide: true,
  })),
  ...(["status", "pending", "held", "openJoins", "eventSeq", "outputs"] as const).map(
    (field): Corruption => ({
      name: `run hash field ${field} garbage`,
      key: (s) => s.keys.run("run", s.runA),
      apply: (s) => admin.hset(s.keys.run("run", s.runA), field, "x"),
    }),
  ),
  {
    name: "versions: a ramp that is not a percentage",
    key: (s) => s.keys.key("versions"),
    apply: (s) =>
      admin.hset(s.keys.key("versions"), "ramp-version", "2", "ramp-percent", "x", "ramp-until", "1"),
    wide: true,
  },
  {
    name: "run hash of the wrong type",
    key: (s) => s.keys.run("run", s.runA),
    apply: (s) => makeWrongType(s.keys.run("run", s.runA), "string"),
  },
  {
    name: "item record garbage",
    key: (s) => s.keys.run("run", s.runA),
    apply: (s) => admin.hset(s.keys.run("run", s.runA), `i:${s.leased.item.id}`, "garbage"),
  },
  {
    name: "lease-items entry of the leased item garbage",
    key: (s) => s.keys.key("lease-items"),
    apply: (s) => admin.hset(s.keys.key("lease-items"), s.leased.token, "garbage"),
  },
  {
    name: "lease-items entry of the expired lease garbage",
    key: (s) => s.keys.key("lease-items"),
    apply: (s) => admin.hset(s.keys.key("lease-items"), s.expired.token, "w1\n{not json"),
  },
  ...(["runsStarted", "leaseReclaims", "node:completed:work", "node:durationUsTotal:work"] as const).map(
    (field): Corruption => ({
      name: `metrics counter ${field} not an integer`,
      key: (s) => s.keys.key("metrics"),
      apply: (s) => admin.hset(s.keys.key("metrics"), field, "1.5x"),
    }),
  ),
  ...(["events", "joins", "open-joins", "errors", "checkpoint", "parked"] as const).map(
    (kind): Corruption => ({
      name: `run key ${kind} of the wrong type`,
      key: (s) => s.keys.run(kind, s.runA),
      apply: (s) =>
        makeWrongType(
          s.keys.run(kind, s.runA),
          kind === "joins" || kind === "checkpoint" ? "string" : "hash",
        ),
    }),
  ),
  {
    name: "run key held of the wrong type",
    key: (s) => s.keys.run("held", s.runB),
    apply: (s) => makeWrongType(s.keys.run("held", s.runB), "string"),
  },
  {
    name: "a garbage entry in the delayed set, due now",
    key: (s) => s.keys.key("delayed"),
    apply: (s) => admin.zadd(s.keys.key("delayed"), 0, "garbage"),
  },
  {
    name: "idempotency key of the wrong type",
    key: (s) => `${s.keys.base}:idem:idem-${s.runA}`,
    apply: (s) => makeWrongType(`${s.keys.base}:idem:idem-${s.runA}`, "hash"),
  },
  {
    name: "a garbage entry in the workers registry",
    key: (s) => s.keys.key("workers"),
    apply: (s) => admin.hset(s.keys.key("workers"), "w9", "garbage"),
  },
];

/** Every operation of the store, in an order that reaches every function. */
function operations(s: Scene): [string, () => Promise<unknown>][] {
  const { store } = s;
  let claimed: Claim | null = null;
  return [
    [
      "heartbeat",
      () => store.heartbeat({ workerId: "w2", status: "idle", inFlight: 0, at: Date.now() }, 60_000),
    ],
    ["listWorkers", () => store.listWorkers()],
    ["extendLeases", () => store.extendLeases([s.leased], 60_000)],
    ["saveCheckpoint", () => store.saveCheckpoint(s.runA, { seq: 2, state: { n: 2 } })],
    [
      "commit (events, a follow-up, a join arrival), claiming the next item",
      () =>
        store.commit(
          s.leased,
          success({
            events: [{ id: randomUUID(), node: "work", itemId: s.leased.item.id, event: { n: 2 } }],
            followUps: [item(store, s.runA, "work", 3)],
            arrivals: [
              {
                frame: { id: "f", index: 0, count: 2 },
                value: 1,
                joinItem: item(store, s.runA, "join", null, { id: "f>join" }),
              },
            ],
          }),
          // Claims the next item in the same call, after the commit's writes.
          { workerId: "w1", leaseMs: 60_000 },
        ),
    ],
    [
      "commit (a retry)",
      () =>
        store.commit(s.toRetry, {
          kind: "retry",
          error: { code: "Error", message: "again" },
          delayMs: 3_600_000,
          durationMs: 1,
        }),
    ],
    [
      "commit (a failure, dead-lettered)",
      () =>
        store.commit(s.toFail, {
          kind: "fail",
          error: { code: "Error", message: "no" },
          deadLetter: true,
          durationMs: 1,
        }),
    ],
    ["reclaimExpired", () => store.reclaimExpired()],
    ["createRun", () => createRun(store, randomUUID())],
    ["createRun again with run A's idempotency key", () => createRun(store, s.runA)],
    ["claim", async () => (claimed = await store.claim(LEASE))],
    [
      "commit (a fan-out large enough to be staged)",
      async () => {
        const fan = await store.claim(LEASE);
        if (fan === null) return;
        // Paused: the fan-out is parked, not queued in front of the run the test serves last.
        await store.pauseRun(fan.item.runId);
        const followUps = Array.from({ length: STAGE_ABOVE + 1 }, (_, i) =>
          item(store, fan.item.runId, "work", i),
        );
        await store.commit(fan, success({ followUps }));
      },
    ],
    ["release", () => (claimed === null ? Promise.resolve(0) : store.release([claimed]))],
    ["pauseRun A", () => store.pauseRun(s.runA)],
    ["resumeRun A", () => store.resumeRun(s.runA)],
    ["resumeRun B (held)", () => store.resumeRun(s.runB)],
    ["cancelRun A", () => store.cancelRun(s.runA, "test")],
  ];
}

describe("redis functions validate before they write", () => {
  for (const corruption of corruptions) {
    test(`${corruption.name}: each operation succeeds or fails before any write, naming the key`, async () => {
      const s = await scene();
      await corruption.apply(s);
      const refused: string[] = [];
      for (const [name, run] of operations(s)) {
        const before = await dumpAll(s.keys);
        let error: unknown = null;
        try {
          await run();
        } catch (caught) {
          error = caught;
        }
        if (error === null) continue;
        refused.push(name);
        const after = await dumpAll(s.keys);
        const changed = [...new Set([...before.keys(), ...after.keys()])].filter(
          (key) => before.get(key) !== after.get(key),
        );
        assert.deepEqual(changed, [], `${name} failed (${(error as Error).message}) after writing`);
        if (/redis function/.test((error as Error).message)) {
          assert.ok(
            (error as Error).message.includes(corruption.key(s)),
            `${name}: the error names ${corruption.key(s)}: ${(error as Error).message}`,
          );
        }
      }
      if (corruption.wide === true) return;
      // Confined to one run or entry: another run is served from start to finish.
      const runId = randomUUID();
      await createRun(s.store, runId, "last");
      const claim = await waitFor(async () => {
        const next = await s.store.claim(LEASE);
        if (next !== null && next.item.runId !== runId) {
          await s.store.commit(next, success());
          return null;
        }
        return next;
      });
      assert.equal((await s.store.commit(claim, success({ outputs: [] }))).status, "committed");
      assert.equal((await s.store.getRun(runId))?.status, "completed", `refused: ${refused.join(", ")}`);
    });
  }
});
