/**
 * Real `floxide worker` processes against a real redis-server: many workers, SIGKILL, SIGSTOP,
 * SIGTERM drain, retries that outlive their worker, and readiness while Redis is down.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import type { WorkflowStore } from "../../../worker/store/index.ts";
import { startRedis, type RedisServer } from "../../support/redis.ts";
import { waitFor } from "../../support/wait.ts";
import { WorkerBed } from "../../support/worker-bed.ts";

const STEPS = "test/support/workflows/steps.ts";
const VIDEO = "examples/video.ts";

describe("floxide worker processes on Redis", () => {
  let redis: RedisServer;
  const bed = new WorkerBed(() => redis.url);

  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await bed.close();
    await redis.stop();
  });

  const setup = (modulePath: string) => bed.setup(modulePath);

  async function eventsPerItem(store: WorkflowStore, runId: string): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const event of await store.readEvents(runId, 0))
      counts.set(event.itemId, (counts.get(event.itemId) ?? 0) + 1);
    return counts;
  }

  test("three worker processes run 200 video runs; every context holds exactly the expected events", async () => {
    const { store, orchestrator, worker } = await setup(VIDEO);
    await Promise.all([0, 1, 2].map(() => worker(["--concurrency", "4"])));
    const runs = await Promise.all(
      Array.from({ length: 200 }, (_, i) => orchestrator.start({ video: `v${i}`, maxDelayMs: 3 })),
    );
    for (const { runId } of runs) {
      const info = await orchestrator.wait(runId, { timeoutMs: 120_000, pollMs: 50 });
      assert.equal(info.status, "completed", JSON.stringify(info.error));
      const events = await store.readEvents(runId, 0);
      assert.equal(events.length, 11);
      assert.equal(new Set(events.map((e) => e.id)).size, 11);
      const encoded = events.flatMap((e) =>
        (e.event as { type: string }).type === "chunk-encoded" ? [(e.event as { index: number }).index] : [],
      );
      assert.deepEqual(
        encoded.sort((a, b) => a - b),
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      );
    }
    const metrics = await store.readMetrics();
    assert.equal(metrics.runsCompleted, 200);
  });

  test("`queue stats` stops counting a SIGKILLed worker within seconds (its liveness expires by the Redis clock)", async () => {
    const { keyPrefix, worker } = await setup(STEPS);
    const stats = (): { workers: number } => {
      const result = spawnSync(
        process.execPath,
        ["cli/main.ts", "queue", "stats", "steps", "--json", "--redis", redis.url, "--key-prefix", keyPrefix],
        { encoding: "utf8", timeout: 20_000 },
      );
      assert.equal(result.status, 0, result.stderr);
      return JSON.parse(result.stdout) as { workers: number };
    };
    const victim = await worker();
    await waitFor(() => stats().workers === 1, { timeoutMs: 15_000, message: "the worker to be counted" });
    victim.signal("SIGKILL");
    await victim.exited;
    const killedAt = Date.now();
    await waitFor(() => stats().workers === 0, {
      timeoutMs: 12_000,
      message: "the dead worker to be dropped",
    });
    assert.ok(Date.now() - killedAt < 12_000);
  });

  test("a SIGKILLed worker's leased items are re-delivered and no commit is applied twice", async () => {
    const { store, orchestrator, worker } = await setup(STEPS);
    const victim = await worker(["--concurrency", "4", "--lease-ms", "1000"]);
    const { runId } = await orchestrator.start({ count: 12, stepMs: 400 });
    await waitFor(async () => (await store.depth()).inFlight >= 4, {
      intervalMs: 20,
      message: "the victim to hold leases",
    });
    victim.signal("SIGKILL");
    await victim.exited;
    await worker(["--concurrency", "4", "--lease-ms", "1000"]);
    const info = await orchestrator.wait(runId, { timeoutMs: 60_000, pollMs: 50 });
    assert.equal(info.status, "completed");
    assert.deepEqual(
      info.outputs.map((o) => o.value),
      [12],
    );
    const counts = await eventsPerItem(store, runId);
    assert.equal(counts.size, 12, "every work item committed");
    assert.ok(
      [...counts.values()].every((n) => n === 1),
      "no work item committed twice",
    );
    assert.ok((await store.readMetrics()).leaseReclaims >= 4, "the victim's leases were reclaimed");
  });

  test("a SIGKILLed worker's batch claim loses nothing: each item is re-delivered exactly once after its lease expires", async () => {
    const { store, orchestrator, worker } = await setup(STEPS);
    // Eight loops wait together, so the fan-out's eight items are leased in batch claims.
    const victim = await worker(["--concurrency", "8", "--lease-ms", "1500"]);
    const { runId } = await orchestrator.start({ count: 8, stepMs: 60_000 });
    await waitFor(async () => (await store.depth()).inFlight === 8, {
      intervalMs: 20,
      message: "the victim to hold all eight leases",
    });
    victim.signal("SIGKILL");
    await victim.exited;
    // A long lease for the survivor: what is measured is the victim's items coming back once.
    await worker(["--concurrency", "8", "--lease-ms", "6000"]);
    await waitFor(
      async () =>
        (await store.listItems(runId)).filter(
          (i) => i.node === "work" && i.attempt === 2 && i.status === "running",
        ).length === 8,
      { intervalMs: 50, timeoutMs: 30_000, message: "all eight items to be re-delivered to the new worker" },
    );
    const work = (await store.listItems(runId)).filter((i) => i.node === "work");
    assert.equal(work.length, 8, "no item lost, none duplicated");
    assert.ok(
      work.every((i) => i.attempt === 2 && i.status === "running"),
      JSON.stringify(work.map((i) => [i.status, i.attempt])),
    );
    assert.equal((await store.readMetrics()).leaseReclaims, 8, "each lease reclaimed once");
    assert.deepEqual(await store.deadLetters(), []);
    assert.equal((await store.depth()).inFlight, 8, "each re-delivered once, to the new worker");
  });

  test("a stale worker (SIGSTOP past its lease, then SIGCONT) cannot commit", async () => {
    const { store, orchestrator, worker } = await setup(STEPS);
    const stale = await worker(["--concurrency", "1", "--lease-ms", "600"]);
    const { runId } = await orchestrator.start({ count: 1, stepMs: 1500 });
    await waitFor(
      async () => (await store.listItems(runId)).some((i) => i.node === "work" && i.status === "running"),
      {
        intervalMs: 10,
        message: "the work item to be claimed",
      },
    );
    stale.signal("SIGSTOP");
    await worker(["--concurrency", "1", "--lease-ms", "600"]);
    const info = await orchestrator.wait(runId, { timeoutMs: 30_000, pollMs: 50 });
    assert.equal(info.status, "completed");
    stale.signal("SIGCONT");
    // The stale worker wakes with a lost lease; wait until its liveness shows the step settled.
    await waitFor(
      async () => (await store.listWorkers()).find((w) => w.workerId === stale.name)?.inFlight === 0,
      {
        timeoutMs: 20_000,
        intervalMs: 50,
        message: "the stale worker to settle its step",
      },
    );
    const counts = await eventsPerItem(store, runId);
    assert.deepEqual([...counts.values()], [1], "exactly one commit of the work item");
    const work = (await store.listItems(runId)).find((i) => i.node === "work");
    assert.equal(work?.attempt, 2, "the item was re-delivered once");
    assert.equal(stale.child.exitCode, null, "the stale worker is still alive");
  });

  test("a retry scheduled by a worker that is then killed still happens; max attempts dead-letter, shown by run errors", async () => {
    const { store, orchestrator, worker, keyPrefix } = await setup(STEPS);
    const first = await worker(["--concurrency", "2"]);
    const { runId } = await orchestrator.start({ count: 1, stepMs: 10, failUntilAttempt: 2 });
    await waitFor(
      async () => (await store.listItems(runId)).some((i) => i.node === "work" && i.status === "retrying"),
      {
        intervalMs: 10,
        message: "the first attempt to fail and schedule a retry",
      },
    );
    first.signal("SIGKILL");
    await first.exited;
    await worker(["--concurrency", "2"]);
    assert.equal((await orchestrator.wait(runId, { timeoutMs: 30_000 })).status, "completed");
    assert.equal((await store.listItems(runId)).find((i) => i.node === "work")?.attempt, 2);

    const doomed = await orchestrator.start({ count: 1, stepMs: 1, failUntilAttempt: 99 });
    const failed = await orchestrator.wait(doomed.runId, { timeoutMs: 30_000 });
    assert.equal(failed.status, "failed");
    const cli = spawnSync(
      process.execPath,
      [
        "cli/main.ts",
        "run",
        "errors",
        doomed.runId,
        "--workflow",
        "steps",
        "--redis",
        redis.url,
        "--key-prefix",
        keyPrefix,
      ],
      { encoding: "utf8" },
    );
    assert.equal(cli.status, 0, cli.stderr);
    assert.match(cli.stdout, /work {2}attempt 1 {2}retry {2}Error: planned failure on attempt 1/);
    assert.match(cli.stdout, /work {2}attempt 3 {2}dead {2}Error: planned failure on attempt 3/);
    assert.equal((await store.deadLetters()).length, 1);
  });

  test("SIGTERM drains: in-flight steps finish and the worker exits 0", async () => {
    const { store, orchestrator, worker } = await setup(STEPS);
    const draining = await worker(["--concurrency", "4", "--drain-timeout", "10"]);
    const { runId } = await orchestrator.start({ count: 4, stepMs: 600 });
    await waitFor(async () => (await store.depth()).inFlight === 4, {
      intervalMs: 10,
      message: "4 steps in flight",
    });
    draining.signal("SIGTERM");
    assert.equal(await draining.exited, 0);
    const work = (await store.listItems(runId)).filter((i) => i.node === "work");
    assert.deepEqual(
      work.map((i) => i.status),
      ["completed", "completed", "completed", "completed"],
    );
    assert.equal((await store.depth()).inFlight, 0);
    await worker();
    assert.equal((await orchestrator.wait(runId, { timeoutMs: 30_000 })).status, "completed");
  });

  test("a step longer than the drain timeout is handed back and re-delivered at once", async () => {
    const { store, orchestrator, worker } = await setup(STEPS);
    const draining = await worker(["--concurrency", "1", "--drain-timeout", "1", "--lease-ms", "60000"]);
    const { runId } = await orchestrator.start({ count: 1, stepMs: 3000 });
    await waitFor(async () => (await store.depth()).inFlight === 1, {
      intervalMs: 10,
      message: "the long step to start",
    });
    draining.signal("SIGTERM");
    assert.equal(await draining.exited, 0);
    const work = (await store.listItems(runId)).find((i) => i.node === "work");
    assert.equal(work?.status, "queued", "released, not left leased for 60 s");
    assert.equal(work?.attempt, 1);
    await worker(["--concurrency", "1"]);
    assert.equal((await orchestrator.wait(runId, { timeoutMs: 30_000 })).status, "completed");
  });

  test("/metrics of a worker process counts a known workload", async () => {
    const { orchestrator, worker } = await setup(STEPS);
    const w = await worker(["--concurrency", "4"]);
    const { runId } = await orchestrator.start({ count: 3, stepMs: 1, failUntilAttempt: 2 });
    assert.equal((await orchestrator.wait(runId, { timeoutMs: 30_000 })).status, "completed");
    const body = await (await fetch(`http://127.0.0.1:${w.port}/metrics`)).text();
    const value = (series: string): number => {
      const line = body.split("\n").find((l) => l.startsWith(`${series} `));
      assert.ok(line, `${series} is served`);
      return Number(line.split(" ")[1]);
    };
    assert.equal(value('floxide_steps_total{workflow="steps",node="work",outcome="retried"}'), 3);
    assert.equal(value('floxide_steps_total{workflow="steps",node="work",outcome="completed"}'), 3);
    assert.equal(value('floxide_steps_total{workflow="steps",node="fan",outcome="completed"}'), 1);
    assert.equal(value('floxide_steps_total{workflow="steps",node="done",outcome="completed"}'), 1);
    assert.equal(value('floxide_retries_total{workflow="steps",node="work"}'), 3);
    assert.equal(value('floxide_step_duration_seconds_count{workflow="steps",node="work"}'), 6);
    assert.equal(value('floxide_queue_depth{workflow="steps",state="ready"}'), 0);
    assert.equal(value('floxide_steps_in_flight{workflow="steps"}'), 0);
    assert.match(body, /^floxide_worker_process_cpu_seconds_total/m);
  });

  test("/readyz is 503 while Redis is down and 200 once it is back, with the worker alive throughout", async () => {
    const { worker } = await setup(STEPS);
    const w = await worker(["--block-ms", "500"]);
    const readyz = async () => (await fetch(`http://127.0.0.1:${w.port}/readyz`)).status;
    assert.equal(await readyz(), 200);
    await redis.kill();
    await waitFor(async () => (await readyz()) === 503, {
      timeoutMs: 15_000,
      message: "/readyz to turn 503",
    });
    assert.equal((await fetch(`http://127.0.0.1:${w.port}/healthz`)).status, 200, "still alive");
    await redis.restart();
    await waitFor(async () => (await readyz()) === 200, { timeoutMs: 30_000, message: "/readyz to recover" });
    assert.equal(w.child.exitCode, null);
  });
});
