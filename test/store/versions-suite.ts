/**
 * Runs pinned to their version, as one suite run against every backend (memory in the unit
 * tests, Redis in the integration tests): a store serves the queue of one version, a new run gets
 * the version the rollout state chooses, and versions coexist on one store during an upgrade.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { WorkerPool } from "../../worker/engine/index.ts";
import { next, node, workflow, type WorkflowDef } from "../../worker/sdk/index.ts";
import type { StoreBackend, WorkflowStore } from "../../worker/store/index.ts";
import { waitFor } from "../support/wait.ts";
import { item, success, type BackendFactory } from "./contract-suite.ts";

let counter = 0;
const uniqueWorkflow = (): string => `versions-${process.pid}-${(counter += 1)}-${randomUUID().slice(0, 6)}`;
const LEASE = { workerId: "w1", leaseMs: 10_000, blockMs: 0 };

/** A run started by `store` (whose version is the starter's); the store picks the run's version. */
export async function startRun(store: WorkflowStore, runId: string = randomUUID()): Promise<string> {
  await store.createRun({
    runId,
    idempotencyKey: null,
    input: null,
    version: store.version,
    startItem: item(store, runId, "a", null, { version: store.version }),
  });
  return runId;
}

/** Two nodes, each recording the version that ran it; `b` fails its first attempt (a retry). */
function versioned(name: string, version: string): WorkflowDef<unknown, unknown> {
  const a = node<unknown, string[]>("a", () => next([version]));
  const b = node<string[], string[]>(
    "b",
    (ctx, seen) => {
      if (ctx.attempt === 1) throw new Error("first attempt fails: the retry must stay in its version");
      return next([...seen, version]);
    },
    { retry: { maxAttempts: 3, initialDelayMs: 20, maxDelayMs: 20, jitter: 0 } },
  );
  return workflow({ name, version, start: "a", nodes: [a, b], edges: { a: ["b"] } }) as WorkflowDef<
    unknown,
    unknown
  >;
}

export function describeVersionContract(name: string, factory: BackendFactory): void {
  describe(`versions: ${name}`, () => {
    let backend: StoreBackend;
    before(async () => {
      backend = await factory.create({ retentionMs: 60_000 });
    });
    after(async () => {
      await backend.close();
    });

    test("a store claims only its version's items; a retry, a release and a reclaim keep the version", async () => {
      const workflowName = uniqueWorkflow();
      const v1 = backend.forWorkflow(workflowName, "1");
      const v2 = backend.forWorkflow(workflowName, "2");
      const run1 = await startRun(v1);
      const run2 = await startRun(v2);
      assert.equal((await v1.getRun(run1))?.version, "1");
      assert.equal((await v1.getRun(run2))?.version, "2");
      const claim2 = await v2.claim(LEASE);
      assert.equal(claim2?.item.runId, run2);
      assert.equal(await v2.claim(LEASE), null, "version 2 has nothing else");
      const claim1 = await v1.claim(LEASE);
      assert.equal(claim1?.item.runId, run1);
      assert.equal(claim1?.item.version, "1");

      // A retry waits in version 2's delayed set and comes back to version 2 only.
      await v2.commit(claim2 as NonNullable<typeof claim2>, {
        kind: "retry",
        error: { code: "NodeFailed", message: "again" },
        delayMs: 0,
        durationMs: 1,
      });
      assert.deepEqual(
        (await v1.readVersions()).versions.map(({ version, ready, inFlight, delayed }) => ({
          version,
          backlog: ready + inFlight + delayed,
        })),
        [
          { version: "1", backlog: 1 },
          { version: "2", backlog: 1 },
        ],
      );
      await v1.commit(claim1 as NonNullable<typeof claim1>, success());
      assert.equal(await v1.claim(LEASE), null);
      const retried = await waitFor(() => v2.claim(LEASE));
      assert.equal(retried.item.attempt, 2);

      // Released: back to version 2's queue.
      await v2.release([retried]);
      assert.equal(await v1.claim(LEASE), null);
      const again = await waitFor(() => v2.claim({ ...LEASE, leaseMs: 50 }));
      // Expired: version 1's sweeps never touch it, version 2's re-delivers it.
      let sweptByV1 = 0;
      await waitFor(async () => {
        const byV1 = await v1.reclaimExpired();
        sweptByV1 += byV1.requeued + byV1.deadLettered;
        return (await v2.reclaimExpired()).requeued === 1;
      });
      assert.equal(sweptByV1, 0);
      assert.equal(await v1.claim(LEASE), null);
      const reclaimed = await waitFor(() => v2.claim(LEASE));
      assert.equal(reclaimed.item.id, again.item.id);
      assert.equal(reclaimed.item.attempt, 3);
      assert.equal((await v1.depth()).dead, 0);
    });

    test("runs of v1 and v2 interleaved, workers of both versions: each item runs on its version, none dead, all complete", async () => {
      const workflowName = uniqueWorkflow();
      const defs = { "1": versioned(workflowName, "1"), "2": versioned(workflowName, "2") };
      const pools = (["1", "2"] as const).map(
        (version) =>
          new WorkerPool({
            store: backend.forWorkflow(workflowName, version),
            workflow: defs[version],
            workerId: `worker-v${version}`,
            concurrency: 4,
            leaseMs: 5000,
            heartbeatMs: 200,
            blockMs: 500,
          }),
      );
      for (const pool of pools) pool.start();
      try {
        const v1 = backend.forWorkflow(workflowName, "1");
        const v2 = backend.forWorkflow(workflowName, "2");
        const runs: string[] = [];
        for (let i = 0; i < 40; i += 1) runs.push(await startRun(i % 2 === 0 ? v1 : v2));
        // The rollout moves new runs to version 2, whoever starts them.
        await v1.writeRollout({ current: "2", ramp: null });
        for (let i = 0; i < 10; i += 1) runs.push(await startRun(v1));
        const infos = await waitFor(
          async () => {
            const all = await Promise.all(runs.map((runId) => v1.getRun(runId)));
            return all.every((info) => info?.status === "completed") ? all : null;
          },
          { timeoutMs: 30_000 },
        );
        for (const [index, info] of infos.entries()) {
          const expected = index >= 40 || index % 2 === 1 ? "2" : "1";
          assert.equal(info?.version, expected, `run ${index}`);
          assert.deepEqual(
            info?.outputs.map((o) => o.value),
            [[expected, expected]],
            `run ${index}`,
          );
        }
        assert.deepEqual(await v1.deadLetters(), []);
        assert.equal((await v1.readMetrics()).deadLettered, 0);
        assert.ok((await v1.listErrors()).every((e) => e.action === "retry"));
      } finally {
        await Promise.all(pools.map((pool) => pool.stop({ graceMs: 2000 })));
      }
    });

    test("the rollout: a ramp sends its share of 1,000 new runs, all of them after its period; rollback is a write", async () => {
      const workflowName = uniqueWorkflow();
      const starter = backend.forWorkflow(workflowName, "1");
      await starter.writeRollout({ current: "1", ramp: { version: "2", percent: 30, periodMs: 600_000 } });
      const runs = await Promise.all(Array.from({ length: 1000 }, () => startRun(starter)));
      const infos = await Promise.all(runs.map((runId) => starter.getRun(runId)));
      const onRamp = infos.filter((info) => info?.version === "2").length;
      // Binomial(1000, 0.3): sd 14.5; 5 sd either side fails once in millions of runs.
      assert.ok(onRamp > 300 - 73 && onRamp < 300 + 73, `${onRamp} of 1000 runs on the ramp`);
      const first = await starter.readVersions();
      assert.equal(first.rollout.current, "1");
      assert.equal(first.rollout.ramp?.version, "2");
      assert.equal(first.rollout.ramp?.percent, 30);
      // Writing the same ramp again keeps its end (a controller writes on every reconcile).
      await starter.writeRollout({ current: "1", ramp: { version: "2", percent: 30, periodMs: 1 } });
      assert.equal((await starter.readVersions()).rollout.ramp?.until, first.rollout.ramp?.until);
      const depth = (await starter.readVersions()).versions;
      assert.equal(depth.find((v) => v.version === "2")?.ready, onRamp);
      assert.equal(depth.find((v) => v.version === "1")?.ready, 1000 - onRamp);

      // A new ramp whose period is over takes every new run (0 %: only the end sends runs there,
      // so the first run on version 3 says the period is over, in every partition).
      await starter.writeRollout({ current: "1", ramp: { version: "3", percent: 0, periodMs: 1 } });
      await waitFor(async () => (await starter.getRun(await startRun(starter)))?.version === "3");
      const late = await Promise.all(Array.from({ length: 20 }, () => startRun(starter)));
      for (const runId of late) assert.equal((await starter.getRun(runId))?.version, "3");

      // Rollback: version 1 current again, no ramp.
      await starter.writeRollout({ current: "1", ramp: null });
      assert.equal(
        (await starter.getRun(await startRun(backend.forWorkflow(workflowName, "3"))))?.version,
        "1",
      );
      assert.deepEqual((await starter.readVersions()).rollout, { current: "1", ramp: null });
    });

    test("a version is forgotten only once nothing of it is left, and never while in the rollout", async () => {
      const workflowName = uniqueWorkflow();
      const v1 = backend.forWorkflow(workflowName, "1");
      const v2 = backend.forWorkflow(workflowName, "2");
      await v1.writeRollout({ current: "1", ramp: null });
      await startRun(v1);
      await v1.writeRollout({ current: "2", ramp: null });
      assert.equal(await v1.forgetVersion("2"), false, "current");
      assert.equal(await v1.forgetVersion("1"), false, "one item left");
      const claim = await v1.claim(LEASE);
      assert.ok(claim);
      assert.equal(await v1.forgetVersion("1"), false, "one item in flight");
      await v1.commit(claim, success());
      assert.equal(await v2.forgetVersion("1"), true);
      assert.deepEqual(
        (await v1.readVersions()).versions.map((v) => v.version),
        ["2"],
      );
    });

    test("a bad rollout is refused before anything is written", async () => {
      const store = backend.forWorkflow(uniqueWorkflow(), "1");
      for (const bad of [
        { current: "", ramp: null },
        { current: "1", ramp: { version: "2", percent: 101, periodMs: 1000 } },
        { current: "1", ramp: { version: "2", percent: 10, periodMs: 0 } },
        { current: "1", ramp: { version: "1", percent: 10, periodMs: 1000 } },
      ]) {
        await assert.rejects(store.writeRollout(bad), { code: "InvalidInput" });
      }
      assert.deepEqual((await store.readVersions()).rollout, { current: null, ramp: null });
    });
  });
}
