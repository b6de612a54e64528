/**
 * Hostile or broken input against real worker processes: each case names the clear error it
 * must produce and proves nothing else broke (per-item faults: the item is dead-lettered with
 * the reason, the worker stays up and serves the next run; startup faults: exit 1 with a
 * message; connection faults: alive, not ready, the reason on /readyz).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import { Redis } from "ioredis";
import type { Orchestrator } from "../../../worker/engine/index.ts";
import { FloxideError } from "../../../worker/sdk/index.ts";
import { WorkflowKeys, type WorkItem } from "../../../worker/store/index.ts";
import { startRedis } from "../../support/redis.ts";
import { waitFor } from "../../support/wait.ts";
import { bedWithRedis, type WorkerBed } from "../../support/worker-bed.ts";
import { startWorkerProcess, type WorkerProcess } from "../../support/worker-process.ts";
import { makeTlsFiles, type TlsFiles } from "../security/tls-files.ts";

const STEPS = "test/support/workflows/steps.ts";
const FIXTURES = "test/integration/bad-input/workflows";

function workerExit(workflow: string) {
  return spawnSync(process.execPath, ["cli/main.ts", "worker", "--workflow", workflow, "--port", "0"], {
    encoding: "utf8",
    env: { ...process.env, FLOXIDE_REDIS_URL: "redis://127.0.0.1:1" },
    timeout: 30_000,
  });
}

async function notReadyReason(worker: WorkerProcess): Promise<string> {
  return waitFor(
    async () => {
      const response = await fetch(`http://127.0.0.1:${worker.port}/readyz`);
      return response.status === 503 ? response.text() : false;
    },
    { timeoutMs: 15_000, message: `/readyz of ${worker.name} to turn 503` },
  );
}

describe("bad input", () => {
  const { bed, redis } = bedWithRedis("bad");

  /** One worker of the module on a fresh key prefix, started after `seed` (see WorkerBed). */
  async function setup(modulePath: string, seed?: Parameters<WorkerBed["setup"]>[1]) {
    const { store, orchestrator, keyPrefix, worker } = await bed.setup(modulePath, seed);
    return { store, orchestrator, keyPrefix, worker: await worker(["--concurrency", "2"]) };
  }

  /** The worker is alive and still runs a good run to completion. */
  async function stillWorks(
    orchestrator: Orchestrator,
    worker: WorkerProcess,
    input: unknown,
  ): Promise<void> {
    const { runId } = await orchestrator.start(input);
    assert.equal((await orchestrator.wait(runId, { timeoutMs: 30_000, pollMs: 50 })).status, "completed");
    assert.equal(worker.child.exitCode, null, "the worker is still running");
    assert.equal((await fetch(`http://127.0.0.1:${worker.port}/readyz`)).status, 200);
  }

  test("an item for an unknown node is dead-lettered with the reason; one of another version waits for its version", async () => {
    const { store, orchestrator, worker } = await setup(STEPS);
    const forged = async (version: string, node: string) => {
      const runId = randomUUID();
      const startItem: WorkItem = {
        id: randomUUID(),
        runId,
        workflow: "steps",
        version,
        node,
        input: { count: 1, stepMs: 1 },
        attempt: 1,
        maxAttempts: 3,
        frames: [],
        enqueuedAt: Date.now(),
      };
      await store.createRun({ runId, idempotencyKey: null, input: startItem.input, version, startItem });
      return runId;
    };
    const otherVersion = await forged("0", "fan");
    const ghostNode = await forged("1", "ghost");
    const info = await orchestrator.wait(ghostNode, { timeoutMs: 30_000, pollMs: 50 });
    assert.equal(info.status, "failed");
    assert.equal(info.error?.code, "InvalidItem");
    const reasons = (await store.deadLetters()).map(
      (letter) => `${letter.error.code}: ${letter.error.message}`,
    );
    assert.equal(reasons.length, 1);
    assert.match(
      reasons[0] as string,
      /InvalidItem: item .* is for steps@1 node 'ghost', this worker runs steps@1/,
    );
    assert.equal((await store.listErrors()).filter((e) => e.action === "dead").length, 1);
    await stillWorks(orchestrator, worker, { count: 2, stepMs: 1 });
    // Pinned to version 0: never dead-lettered by a worker of version 1, still queued for its own.
    const pinned = await store.getRun(otherVersion);
    assert.equal(pinned?.status, "queued");
    assert.equal(pinned?.version, "0");
    const { versions } = await store.readVersions();
    assert.deepEqual(
      versions.find((v) => v.version === "0"),
      {
        version: "0",
        since: versions.find((v) => v.version === "0")?.since,
        ready: 1,
        inFlight: 0,
        delayed: 0,
      },
    );
  });

  test("malformed JSON and an unknown field in queued items: both dead-lettered with the reason", async () => {
    const runId = randomUUID();
    const { store, orchestrator, worker, keyPrefix } = await setup(STEPS, async (store, keys) => {
      const input = { count: 1, stepMs: 1 };
      const startItem: WorkItem = {
        ...{ id: randomUUID(), runId, workflow: "steps", version: "1", node: "fan", input },
        ...{ attempt: 1, maxAttempts: 3, frames: [], enqueuedAt: Date.now() },
      };
      await store.createRun({ runId, idempotencyKey: null, input, version: "1", startItem });
      const admin = new Redis(redis().url);
      try {
        const raw = (await admin.lindex(keys.key("ready"), 0)) as string;
        const extended = raw.replace('"maxAttempts":3,', '"maxAttempts":3,"priority":9,');
        assert.notEqual(extended, raw);
        await admin.lset(keys.key("ready"), 0, extended);
        await admin.lpush(keys.key("ready"), '{"attempt":1,"id":"half');
      } finally {
        admin.disconnect();
      }
    });
    const info = await orchestrator.wait(runId, { timeoutMs: 30_000, pollMs: 50 });
    assert.equal(info.status, "failed");
    assert.equal(info.error?.code, "InvalidItem");
    assert.match(info.error?.message ?? "", /malformed work item read from Redis: unknown field "priority"/);
    const reasons = (await store.deadLetters()).map(
      (letter) => `${letter.error.code}: ${letter.error.message}`,
    );
    assert.equal(reasons.length, 2, reasons.join("\n"));
    assert.match(
      reasons[0] ?? "",
      /^InvalidItem: malformed work item in the ready list \(not JSON\): \{"attempt":1,"id":"half$/,
    );
    assert.match(
      reasons[1] ?? "",
      /^InvalidItem: malformed work item read from Redis: unknown field "priority"$/,
    );
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, ["cli/main.ts", "queue", ...args, "steps", "--redis", redis().url], {
        encoding: "utf8",
        env: { ...process.env, FLOXIDE_KEY_PREFIX: keyPrefix },
        timeout: 30_000,
      });
    const listed = cli("dead");
    assert.equal(listed.status, 0, listed.stderr);
    assert.match(listed.stdout, /^\S+Z {2}- {2}run - {2}attempt 1 {2}InvalidItem: .*\(not JSON\)/m);
    assert.match(
      listed.stdout,
      new RegExp(`fan {2}run ${runId} {2}attempt 1 {2}InvalidItem: .*unknown field "priority"`),
    );
    const stats = cli("stats", "--json");
    assert.equal(stats.status, 0, stats.stderr);
    const { rollout, versions, partitions, ...totals } = JSON.parse(stats.stdout) as Record<
      string,
      unknown
    > & {
      versions: { version: string; ready: number; workers: number; stranded: boolean }[];
    };
    assert.deepEqual(rollout, { current: null, ramp: null });
    assert.deepEqual(partitions, [{ partition: 0, ready: 0, inFlight: 0, delayed: 0, dead: 2 }]);
    assert.deepEqual(
      versions.map(({ version, ready, workers, stranded }) => ({ version, ready, workers, stranded })),
      [{ version: "1", ready: 0, workers: 1, stranded: false }],
    );
    assert.deepEqual(totals, {
      workflow: "steps",
      ready: 0,
      inFlight: 0,
      delayed: 0,
      dead: 2,
      workers: 1,
      deadLettered: 2,
      leaseReclaims: 0,
    });
    await stillWorks(orchestrator, worker, { count: 2, stepMs: 1 });
  });

  test("a malformed item whose run can be identified: the dead letter names the run and the run fails", async () => {
    const runId = randomUUID();
    const { store, orchestrator, worker } = await setup(STEPS, async (store, keys) => {
      const input = { count: 1, stepMs: 1 };
      const startItem: WorkItem = {
        ...{ id: randomUUID(), runId, workflow: "steps", version: "1", node: "fan", input },
        ...{ attempt: 1, maxAttempts: 3, frames: [], enqueuedAt: Date.now() },
      };
      await store.createRun({ runId, idempotencyKey: null, input, version: "1", startItem });
      const admin = new Redis(redis().url);
      try {
        // The run's only item, its head cut off after the run id: no worker can run it.
        await admin.lset(keys.key("ready"), 0, `{"attempt":1,"maxAttempts":3,"id":"x","runId":"${runId}"}`);
      } finally {
        admin.disconnect();
      }
    });
    const info = await orchestrator.wait(runId, { timeoutMs: 30_000, pollMs: 50 });
    assert.equal(info.status, "failed");
    assert.equal(info.error?.code, "InvalidItem");
    assert.match(info.error?.message ?? "", /malformed work item in the ready list/);
    const letters = await store.deadLetters();
    assert.deepEqual(
      letters.map((letter) => letter.item.runId),
      [runId],
    );
    assert.deepEqual(
      (await store.listErrors()).map((record) => record.runId),
      [runId],
    );
    await stillWorks(orchestrator, worker, { count: 2, stepMs: 1 });
  });

  test("a run input over the payload limit is refused before anything is stored", async () => {
    const { store, orchestrator, worker } = await setup(STEPS);
    const before = (await store.readMetrics()).runsStarted;
    await assert.rejects(
      orchestrator.start({ count: 1, stepMs: 1, padding: "x".repeat(1024 * 1024 + 1) }),
      (error: unknown) =>
        error instanceof FloxideError &&
        error.code === "InvalidInput" &&
        /run input is \d+ bytes, over the limit of 1048576 bytes/.test(error.message),
    );
    assert.equal((await store.readMetrics()).runsStarted, before, "no run was created");
    await stillWorks(orchestrator, worker, { count: 1, stepMs: 1 });
  });

  test("a reducer that throws on an event fails that step (ReducerFailed, not retried) and its run, not the worker", async () => {
    const { store, orchestrator, worker } = await setup(`${FIXTURES}/bad-reducer.ts`);
    const { runId } = await orchestrator.start({ poison: true });
    const info = await orchestrator.wait(runId, { timeoutMs: 30_000, pollMs: 50 });
    assert.equal(info.status, "failed");
    assert.equal(info.error?.code, "ReducerFailed");
    assert.match(
      info.error?.message ?? "",
      /the context reducer threw on an event from 'record': .*poison event/,
    );
    assert.deepEqual(await store.readEvents(runId, 0), [], "the poison event was never committed");
    const dead = await store.deadLetters();
    assert.equal(dead.length, 1);
    assert.equal(dead[0]?.error.code, "ReducerFailed");
    assert.deepEqual(
      (await store.listItems(runId)).map((item) => item.attempt),
      [1],
      "not retried, although the workflow allows 2 attempts: a pure reducer throws again",
    );
    await stillWorks(orchestrator, worker, { poison: false });
  });

  test("a workflow module that throws on import, has an invalid graph or exports no workflow: exit 1 with the reason", () => {
    const throws = workerExit(`${FIXTURES}/throws-on-import.ts`);
    assert.equal(throws.status, 1, throws.stderr);
    assert.match(
      throws.stderr,
      /floxide worker: InvalidWorkflow: cannot load workflow module '.*throws-on-import\.ts' as TypeScript[^:]*: cannot connect to the payments API/,
    );
    const graph = workerExit(`${FIXTURES}/bad-graph.ts`);
    assert.equal(graph.status, 1, graph.stderr);
    assert.match(
      graph.stderr,
      /floxide worker: InvalidWorkflow: cannot load workflow module '.*bad-graph\.ts' [^:]*: .*node 'a' has an edge to unknown node 'b'/,
    );
    const missing = workerExit(`${FIXTURES}/no-such-module.ts`);
    assert.equal(missing.status, 1);
    assert.match(
      missing.stderr,
      /cannot load workflow module '.*no-such-module\.ts' as TypeScript[^:]*: Cannot find module/,
    );
    const noExport = workerExit("test/integration/bad-input/workflows/../../../support/wait.ts");
    assert.equal(noExport.status, 1);
    assert.match(
      noExport.stderr,
      /must export a workflow \(made with workflow\(\)\) as its default export; found waitFor/,
    );
  });

  test("a workflow key of the wrong type: /readyz 503 naming it, logged once, gauge 1; fixed: ready and serving", async () => {
    const { orchestrator, keyPrefix, worker } = await setup(STEPS);
    const leases = new WorkflowKeys("steps", keyPrefix).key("leases");
    const admin = new Redis(redis().url);
    const metric = async (): Promise<string | undefined> =>
      /^floxide_store_unusable\{workflow="steps"\} (\d+)$/m.exec(
        await (await fetch(`http://127.0.0.1:${worker.port}/metrics`)).text(),
      )?.[1];
    try {
      assert.equal(await metric(), "0");
      await admin.set(leases, "garbage");
      const { runId } = await orchestrator.start({ count: 2, stepMs: 1 });
      assert.match(
        await notReadyReason(worker),
        new RegExp(`key ${leases.replace(/[{}]/g, "\\$&")} is a string`),
      );
      assert.equal(await metric(), "1");
      // The claim loops keep retrying with backoff (many refused calls): logged once, below.
      await admin.del(leases);
      await waitFor(async () => (await fetch(`http://127.0.0.1:${worker.port}/readyz`)).status === 200, {
        timeoutMs: 15_000,
        message: "/readyz back to 200",
      });
      assert.equal(await metric(), "0");
      const done = await orchestrator.wait(runId, { timeoutMs: 30_000, pollMs: 50 });
      assert.equal(done.status, "completed", JSON.stringify(done.error));
      const unusable = worker.logs.filter((line) => String(line.msg).startsWith("store unusable"));
      assert.equal(unusable.length, 1, JSON.stringify(unusable));
      assert.ok(worker.logs.some((line) => line.msg === "store usable again"));
      assert.equal(worker.logs.filter((line) => line.msg === "worker loop error").length, 0);
    } finally {
      admin.disconnect();
    }
  });

  test("Redis that wants a password the worker does not send: alive, not ready, NOAUTH on /readyz", async (t) => {
    const locked = await startRedis();
    t.after(() => locked.stop());
    const admin = new Redis(locked.url);
    await admin.config("SET", "requirepass", "locked-secret");
    admin.disconnect();
    const worker = await startWorkerProcess({
      workflow: STEPS,
      redisUrl: locked.url,
      args: ["--block-ms", "200"],
    });
    bed.adopt(worker);
    assert.match(await notReadyReason(worker), /NOAUTH/);
    assert.equal((await fetch(`http://127.0.0.1:${worker.port}/healthz`)).status, 200);
    assert.equal(worker.child.exitCode, null);
  });

  test("TLS mismatch either way: alive, not ready, the reason on /readyz", async (t) => {
    const tls: TlsFiles = makeTlsFiles();
    t.after(() => tls.remove());
    const server = await startRedis({
      tls: { certFile: tls.certFile, keyFile: tls.keyFile, caFile: tls.caFile },
    });
    t.after(() => server.stop());
    const tlsPort = new URL(server.tlsUrl as string).port;
    const plainToTls = await startWorkerProcess({
      workflow: STEPS,
      redisUrl: `redis://127.0.0.1:${tlsPort}`,
      args: ["--block-ms", "200"],
    });
    const tlsToPlain = await startWorkerProcess({
      workflow: STEPS,
      redisUrl: `rediss://127.0.0.1:${server.port}`,
      args: ["--block-ms", "200"],
      env: { FLOXIDE_REDIS_TLS_CA_FILE: tls.caFile },
    });
    bed.adopt(plainToTls, tlsToPlain);
    const reasons = [await notReadyReason(plainToTls), await notReadyReason(tlsToPlain)];
    t.diagnostic(`plain client to the TLS port: ${reasons[0]}`);
    t.diagnostic(`TLS client to the plain port: ${reasons[1]}`);
    assert.match(reasons[0] ?? "", /store-unreachable/);
    assert.match(reasons[1] ?? "", /store-unreachable/);
    for (const worker of [plainToTls, tlsToPlain]) assert.equal(worker.child.exitCode, null);
  });
});
