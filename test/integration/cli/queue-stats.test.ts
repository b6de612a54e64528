/** `floxide queue stats`: one line per workflow version, naming a stranded backlog. */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { promisify } from "node:util";
import { after, before, test } from "node:test";
import { createRedisBackend, type RedisBackend, type WorkflowStore } from "../../../worker/store/index.ts";
import { item } from "../../store/contract-suite.ts";
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

async function start(store: WorkflowStore): Promise<void> {
  const runId = randomUUID();
  const startItem = item(store, runId, "a", null, { version: store.version });
  await store.createRun({ runId, idempotencyKey: null, input: null, version: store.version, startItem });
}

test("queue stats lists each version's backlog and role, and names the stranded one", async () => {
  const v1 = backend.forWorkflow("orders", "1");
  const v2 = backend.forWorkflow("orders", "2");
  for (let i = 0; i < 3; i += 1) await start(v1);
  await v1.writeRollout({ current: "2", ramp: null });
  await start(v1); // goes to version 2, the current one
  await v2.heartbeat({ workerId: "pod-v2", status: "idle", inFlight: 0, at: Date.now() }, 60_000);

  const run = (...args: string[]) =>
    promisify(execFile)(process.execPath, [
      "cli/main.ts",
      "queue",
      "stats",
      "orders",
      "--redis",
      redis.url,
      ...args,
    ]);
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
