/**
 * The store contract, as one suite run against every backend (memory here, Redis in the
 * integration tests). Each test uses its own workflow name, so one backend serves them all.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type {
  BackendOptions,
  Claim,
  StepOutcome,
  StoreBackend,
  WorkItem,
  WorkflowStore,
} from "../../worker/store/index.ts";
import { waitFor } from "../support/wait.ts";

export interface BackendFactory {
  create(options: BackendOptions): Promise<StoreBackend>;
}

let counter = 0;
const uniqueWorkflow = (): string => `contract-${process.pid}-${(counter += 1)}-${randomUUID().slice(0, 6)}`;

export function item(
  store: WorkflowStore,
  runId: string,
  node: string,
  input: unknown = null,
  extra: Partial<WorkItem> = {},
): WorkItem {
  return {
    id: randomUUID(),
    runId,
    workflow: store.workflow,
    version: "1",
    node,
    input,
    attempt: 1,
    maxAttempts: 3,
    frames: [],
    enqueuedAt: Date.now(),
    ...extra,
  };
}

export const success = (over: Partial<Extract<StepOutcome, { kind: "success" }>> = {}): StepOutcome => ({
  kind: "success",
  events: [],
  followUps: [],
  arrivals: [],
  outputs: [],
  hold: null,
  durationMs: 1,
  ...over,
});

const LEASE = { workerId: "w1", leaseMs: 10_000, blockMs: 0 };

export function describeStoreContract(name: string, factory: BackendFactory): void {
  describe(`store contract: ${name}`, () => {
    let backend: StoreBackend;
    before(async () => {
      backend = await factory.create({ retentionMs: 60_000 });
    });
    after(async () => {
      await backend.close();
    });

    async function startRun(
      store: WorkflowStore,
      input: unknown = { n: 1 },
      startNode = "a",
      extra: Partial<WorkItem> = {},
      runId: string = randomUUID(),
    ) {
      await store.createRun({
        runId,
        idempotencyKey: null,
        input,
        version: "1",
        startItem: item(store, runId, startNode, input, extra),
      });
      return runId;
    }

    async function claimOne(store: WorkflowStore, options: Partial<typeof LEASE> = {}): Promise<Claim> {
      const claim = await store.claim({ ...LEASE, ...options });
      assert.ok(claim, "expected an item to claim");
      return claim;
    }

    test("a created run's first item is claimed with a lease, attempt 1, and the run starts", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      const runId = await startRun(store, { hello: "world" });
      assert.equal((await store.getRun(runId))?.status, "queued");
      const claim = await claimOne(store);
      assert.equal(claim.item.runId, runId);
      assert.equal(claim.item.attempt, 1);
      assert.deepEqual(claim.item.input, { hello: "world" });
      assert.ok(claim.deadline > Date.now());
      const run = await store.getRun(runId);
      assert.equal(run?.status, "running");
      assert.ok(run?.startedAt);
      assert.deepEqual(await store.depth(), { ready: 0, inFlight: 1, delayed: 0, dead: 0 });
      assert.equal(await store.claim(LEASE), null);
    });

    test("createRun with an idempotency key returns the existing run the second time", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      // The store chooses ids when it places runs by id (partitions: the idempotency key's).
      const first = store.newRunId?.("order-7") ?? randomUUID();
      const a = await store.createRun({
        runId: first,
        idempotencyKey: "order-7",
        input: 1,
        version: "1",
        startItem: item(store, first, "a"),
      });
      const second = store.newRunId?.("order-7") ?? randomUUID();
      const b = await store.createRun({
        runId: second,
        idempotencyKey: "order-7",
        input: 2,
        version: "1",
        startItem: item(store, second, "a"),
      });
      assert.deepEqual(a, { runId: first, created: true });
      assert.deepEqual(b, { runId: first, created: false });
      assert.equal(await store.getRun(second), null);
      assert.equal((await store.depth()).ready, 1);
    });

    test("an idle claim blocks and picks up an item enqueued while it waits", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      const started = Date.now();
      const pending = store.claim({ ...LEASE, blockMs: 5000 });
      const runId = await startRun(store);
      const claim = await pending;
      assert.equal(claim?.item.runId, runId);
      assert.ok(Date.now() - started < 4000, "picked up long before the block timeout");
    });

    test("an empty claim returns null after the block time, and at once when its signal aborts", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      assert.equal(await store.claim({ ...LEASE, blockMs: 50 }), null);
      const controller = new AbortController();
      const started = Date.now();
      const pending = store.claim({ ...LEASE, blockMs: 20_000, signal: controller.signal });
      controller.abort();
      assert.equal(await pending, null);
      assert.ok(Date.now() - started < 5000);
    });

    test("a commit appends events with a per-run sequence, enqueues follow-ups and completes at quiescence", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      const runId = await startRun(store);
      const first = await claimOne(store);
      const followUp = item(store, runId, "b", { step: 2 });
      const events = [1, 2].map((n) => ({
        id: randomUUID(),
        node: "a",
        itemId: first.item.id,
        event: { n },
      }));
      assert.deepEqual(await store.commit(first, success({ events, followUps: [followUp] })), {
        status: "committed",
        run: "running",
      });
      const second = await claimOne(store);
      assert.equal(second.item.id, followUp.id);
      assert.deepEqual(second.item.input, { step: 2 });
      const more = [{ id: randomUUID(), node: "b", itemId: second.item.id, event: { n: 3 } }];
      const output = { node: "b", itemId: second.item.id, value: { done: true } };
      assert.deepEqual(await store.commit(second, success({ events: more, outputs: [output] })), {
        status: "committed",
        run: "completed",
      });
      const log = await store.readEvents(runId, 0);
      assert.deepEqual(
        log.map((e) => [e.seq, e.event]),
        [
          [1, { n: 1 }],
          [2, { n: 2 }],
          [3, { n: 3 }],
        ],
      );
      assert.deepEqual(
        (await store.readEvents(runId, 2)).map((e) => e.seq),
        [3],
      );
      const run = await store.getRun(runId);
      assert.equal(run?.status, "completed");
      assert.deepEqual(run?.outputs, [output]);
      assert.equal(run?.pending, 0);
      assert.deepEqual((await store.listItems(runId)).map((s) => s.status).sort(), [
        "completed",
        "completed",
      ]);
      const metrics = await store.readMetrics();
      assert.equal(metrics.nodes.a?.completed, 1);
      assert.equal(metrics.nodes.b?.completed, 1);
      assert.equal(metrics.runsCompleted, 1);
    });

    test("a reclaimed lease cannot commit, and the item is re-delivered with attempt + 1", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      const runId = await startRun(store);
      const stale = await claimOne(store, { leaseMs: 30 });
      await waitFor(async () => (await store.reclaimExpired()).requeued === 1, {
        intervalMs: 10,
        message: "lease to expire",
      });
      const fresh = await claimOne(store);
      assert.equal(fresh.item.id, stale.item.id);
      assert.equal(fresh.item.attempt, 2);
      const events = [{ id: randomUUID(), node: "a", itemId: stale.item.id, event: "stale" }];
      assert.deepEqual(await store.commit(stale, success({ events })), { status: "lease-lost" });
      assert.deepEqual(await store.readEvents(runId, 0), []);
      assert.equal((await store.commit(fresh, success())).status, "committed");
      assert.equal((await store.getRun(runId))?.status, "completed");
      assert.equal((await store.readMetrics()).leaseReclaims, 1);
      assert.equal((await store.listErrors({ runId }))[0]?.action, "reclaim");
    });

    test("a lease swept after its run was cancelled leaves the item cancelled, not running", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      const runId = await startRun(store);
      // Its worker dies mid-step: the lease is never renewed nor committed.
      const dead = await claimOne(store, { leaseMs: 30 });
      assert.equal((await store.listItems(runId))[0]?.status, "running");
      await store.cancelRun(runId, "by request");
      await waitFor(
        async () => {
          await store.reclaimExpired();
          return (await store.depth()).inFlight === 0;
        },
        { intervalMs: 10, message: "the sweep to drop the lease" },
      );
      const items = await store.listItems(runId);
      assert.deepEqual(
        items.map((state) => [state.itemId, state.status]),
        [[dead.item.id, "cancelled"]],
      );
      assert.equal((await store.getRun(runId))?.status, "cancelled");
    });

    test("a commit asked to claim next leases the follow-up it enqueued, in the same operation", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      const runId = await startRun(store);
      const first = await claimOne(store);
      const followUp = item(store, runId, "b", { step: 2 });
      const events = [{ id: randomUUID(), node: "a", itemId: first.item.id, event: { n: 1 } }];
      const result = await store.commit(first, success({ events, followUps: [followUp] }), {
        workerId: "w2",
        leaseMs: 10_000,
      });
      assert.equal(result.status, "committed");
      const next = result.next;
      assert.ok(next, "the follow-up is claimed by the commit");
      assert.equal(next.item.id, followUp.id);
      assert.equal(next.workerId, "w2");
      assert.equal(next.contextSeq, 1, "the claim reports the events committed before it");
      assert.ok(next.deadline > Date.now());
      assert.notEqual(next.token, first.token);
      assert.equal(await store.claim(LEASE), null, "a claimed-next item is not delivered twice");
      assert.equal((await store.depth()).inFlight, 1);
      assert.equal((await store.listItems(runId)).find((s) => s.itemId === followUp.id)?.status, "running");
      const last = await store.commit(next, success(), { workerId: "w2", leaseMs: 10_000 });
      assert.deepEqual(last, { status: "committed", run: "completed" }, "nothing ready: no next");
      assert.deepEqual(await store.extendLeases([next], 10_000), ["lost"]);
    });

    test("commits asked for together: a stale lease is refused alone, the others commit", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      const staleRun = await startRun(store);
      const stale = await claimOne(store, { leaseMs: 30 });
      await waitFor(async () => (await store.reclaimExpired()).requeued === 1, {
        intervalMs: 10,
        message: "lease to expire",
      });
      const runs = [await startRun(store), await startRun(store)];
      const claims = [await claimOne(store), await claimOne(store), await claimOne(store)];
      const fresh = claims.filter((claim) => claim.item.runId !== staleRun);
      assert.equal(fresh.length, 2);
      const event = (claim: Claim) => [
        { id: randomUUID(), node: "a", itemId: claim.item.id, event: claim.token },
      ];
      const results = await Promise.all([
        store.commit(fresh[0] as Claim, success({ events: event(fresh[0] as Claim) })),
        store.commit(stale, success({ events: event(stale) })),
        store.commit(fresh[1] as Claim, success({ events: event(fresh[1] as Claim) })),
      ]);
      assert.deepEqual(
        results.map((result) => result.status),
        ["committed", "lease-lost", "committed"],
      );
      for (const runId of runs) {
        assert.equal((await store.getRun(runId))?.status, "completed");
        assert.equal((await store.readEvents(runId, 0)).length, 1);
      }
      assert.deepEqual(await store.readEvents(staleRun, 0), [], "the stale commit wrote nothing");
      const redelivered = claims.find((claim) => claim.item.runId === staleRun) as Claim;
      assert.equal(redelivered.item.attempt, 2);
      assert.equal((await store.getRun(staleRun))?.status, "running", "its re-delivery is still leased");
      assert.equal((await store.commit(redelivered, success())).status, "committed");
      assert.equal((await store.getRun(staleRun))?.status, "completed");
    });

    test("step durations add up per node in the metrics, to the microsecond", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      const runId = await startRun(store);
      const first = await claimOne(store);
      const followUp = item(store, runId, "a", { step: 2 });
      await store.commit(first, success({ followUps: [followUp], durationMs: 1.5 }));
      await store.commit(await claimOne(store), success({ durationMs: 2.25 }));
      const metrics = await store.readMetrics();
      assert.equal(metrics.nodes.a?.completed, 2);
      assert.ok(Math.abs((metrics.nodes.a?.durationMsTotal ?? 0) - 3.75) < 1e-9);
    });

    test("a commit that loses its lease writes nothing but may still claim next", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      const runId = await startRun(store);
      const stale = await claimOne(store, { leaseMs: 30 });
      await waitFor(async () => (await store.reclaimExpired()).requeued === 1, {
        intervalMs: 10,
        message: "lease to expire",
      });
      const result = await store.commit(stale, success({ outputs: [] }), { workerId: "w1", leaseMs: 10_000 });
      assert.equal(result.status, "lease-lost");
      assert.equal(result.next?.item.id, stale.item.id, "the re-delivered item");
      assert.equal(result.next?.item.attempt, 2);
      assert.equal((await store.commit(result.next as Claim, success())).status, "committed");
      assert.equal((await store.getRun(runId))?.status, "completed");
    });

    test("extending a lease keeps it from being reclaimed", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      await startRun(store);
      const claim = await claimOne(store, { leaseMs: 200 });
      for (let i = 0; i < 4; i += 1) {
        assert.deepEqual(await store.extendLeases([claim], 200), ["ok"]);
        await new Promise((resolve) => setTimeout(resolve, 80));
      }
      assert.deepEqual(await store.reclaimExpired(), { requeued: 0, deadLettered: 0 });
      assert.equal((await store.commit(claim, success())).status, "committed");
      assert.deepEqual(await store.extendLeases([claim], 200), ["lost"]);
    });

    test("a lease that expires on the last attempt dead-letters the item and fails the run", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      const runId = await startRun(store, null, "a", { maxAttempts: 1 });
      await claimOne(store, { leaseMs: 20 });
      await waitFor(async () => (await store.reclaimExpired()).deadLettered === 1, {
        intervalMs: 10,
        message: "dead letter",
      });
      const run = await store.getRun(runId);
      assert.equal(run?.status, "failed");
      assert.equal(run?.error?.code, "LeaseLost");
      const dead = await store.deadLetters();
      assert.equal(dead.length, 1);
      assert.equal(dead[0]?.item.runId, runId);
      assert.equal((await store.depth()).dead, 1);
      assert.equal((await store.readMetrics()).deadLettered, 1);
    });

    test("a retry is delayed in the store, then re-delivered with attempt + 1", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      const runId = await startRun(store);
      const claim = await claimOne(store);
      const error = { code: "Error", message: "flaky", node: "a" };
      assert.equal(
        (await store.commit(claim, { kind: "retry", error, delayMs: 150, durationMs: 1 })).status,
        "committed",
      );
      assert.deepEqual(await store.depth(), { ready: 0, inFlight: 0, delayed: 1, dead: 0 });
      assert.equal(await store.claim(LEASE), null, "not before its delay");
      const again = await store.claim({ ...LEASE, blockMs: 3000 });
      assert.equal(again?.item.id, claim.item.id);
      assert.equal(again?.item.attempt, 2);
      assert.equal((await store.listItems(runId))[0]?.status, "running");
      const errors = await store.listErrors({ runId });
      assert.deepEqual(
        errors.map((e) => [e.action, e.attempt, e.error.message]),
        [["retry", 1, "flaky"]],
      );
      assert.equal((await store.readMetrics()).nodes.a?.retried, 1);
      await store.commit(again, success({ durationMs: 2.5 }));
      const [state] = await store.listItems(runId);
      assert.deepEqual(
        {
          status: state?.status,
          attempt: state?.attempt,
          durationMs: state?.durationMs,
          error: state?.lastError,
        },
        { status: "completed", attempt: 2, durationMs: 3.5, error },
        "the item's record keeps the time of both attempts and the error of the first",
      );
    });

    test("a first attempt's item record: its own duration, no error", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      const runId = await startRun(store);
      await store.commit(await claimOne(store), success({ durationMs: 4 }));
      const [state] = await store.listItems(runId);
      assert.deepEqual(
        {
          status: state?.status,
          attempt: state?.attempt,
          durationMs: state?.durationMs,
          error: state?.lastError,
        },
        { status: "completed", attempt: 1, durationMs: 4, error: null },
      );
    });

    test("a join fires exactly once, when every branch has arrived, with inputs in fan-out order", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      const runId = await startRun(store);
      const root = await claimOne(store);
      const frameId = `${root.item.id}:b`;
      const branches = [0, 1, 2].map((index) =>
        item(store, runId, "b", index, { frames: [{ id: frameId, index, count: 3 }] }),
      );
      await store.commit(root, success({ followUps: branches }));
      const claims = [await claimOne(store), await claimOne(store), await claimOne(store)];
      const joinItem = item(store, runId, "j", null, { id: `${frameId}>j` });
      for (const claim of [claims[2], claims[0], claims[1]] as Claim[]) {
        assert.equal((await store.depth()).ready, 0, "the join has not fired early");
        const frame = claim.item.frames[0] as WorkItem["frames"][number];
        await store.commit(claim, success({ arrivals: [{ frame, value: `out-${frame.index}`, joinItem }] }));
      }
      const joined = await claimOne(store);
      assert.equal(joined.item.node, "j");
      assert.deepEqual(joined.item.input, ["out-0", "out-1", "out-2"]);
      assert.deepEqual(joined.item.frames, []);
      assert.equal(await store.claim(LEASE), null, "exactly one join item");
      await store.commit(joined, success({ outputs: [{ node: "j", itemId: joined.item.id, value: 3 }] }));
      assert.equal((await store.getRun(runId))?.status, "completed");
    });

    test("a run left with a join short of branches fails with JoinIncomplete", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      const runId = await startRun(store);
      const root = await claimOne(store);
      const frame = { id: `${root.item.id}:b`, index: 0, count: 2 };
      await store.commit(
        root,
        success({
          arrivals: [{ frame, value: 1, joinItem: item(store, runId, "j", null, { id: `${frame.id}>j` }) }],
        }),
      );
      const run = await store.getRun(runId);
      assert.equal(run?.status, "failed");
      assert.equal(run?.error?.code, "JoinIncomplete");
    });

    test("a failed run stops its other branches: no delivery, no commit", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      const runId = await startRun(store);
      const root = await claimOne(store);
      await store.commit(
        root,
        success({ followUps: [item(store, runId, "b"), item(store, runId, "c"), item(store, runId, "d")] }),
      );
      const b = await claimOne(store);
      const c = await claimOne(store);
      const error = { code: "Aborted", message: "stop everything", node: "b" };
      assert.deepEqual(await store.commit(b, { kind: "fail", error, deadLetter: false, durationMs: 1 }), {
        status: "committed",
        run: "failed",
      });
      assert.deepEqual(await store.extendLeases([c], 10_000), ["run-finished"]);
      const late = [{ id: randomUUID(), node: "c", itemId: c.item.id, event: "late" }];
      assert.deepEqual(await store.commit(c, success({ events: late })), {
        status: "run-finished",
        run: "failed",
      });
      assert.equal(await store.claim(LEASE), null, "d is never delivered");
      assert.deepEqual(await store.readEvents(runId, 0), []);
      const run = await store.getRun(runId);
      assert.equal(run?.error?.message, "stop everything");
      assert.equal((await store.deadLetters()).length, 0, "abort does not dead-letter");
    });

    test("a fallback completes the failed item and enqueues the onFailure follow-ups", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      const runId = await startRun(store, { order: 1 });
      const claim = await claimOne(store);
      const error = { code: "Error", message: "declined", node: "a" };
      const compensation = item(store, runId, "undo", claim.item.input);
      await store.commit(claim, { kind: "fallback", error, followUps: [compensation], durationMs: 1 });
      const next = await claimOne(store);
      assert.equal(next.item.node, "undo");
      assert.deepEqual(next.item.input, { order: 1 });
      assert.equal((await store.listItems(runId)).find((s) => s.itemId === claim.item.id)?.status, "failed");
      await store.commit(next, success());
      assert.equal((await store.getRun(runId))?.status, "completed");
    });

    test("pause parks the run's items; resume makes them claimable again", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      const runId = await startRun(store);
      assert.equal((await store.pauseRun(runId)).status, "paused");
      assert.equal(await store.claim(LEASE), null);
      assert.equal((await store.listItems(runId))[0]?.status, "parked");
      assert.equal((await store.getRun(runId))?.pending, 1, "a parked item is still pending");
      await store.resumeRun(runId);
      const claim = await claimOne(store);
      assert.equal(claim.item.runId, runId);
    });

    test("hold parks an item until resume re-delivers it; the run does not complete meanwhile", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      const runId = await startRun(store, "approve me");
      const claim = await claimOne(store);
      await store.commit(claim, success({ hold: { reason: "waiting for approval" } }));
      let run = await store.getRun(runId);
      assert.equal(run?.status, "running");
      assert.equal(run?.held, 1);
      assert.equal((await store.listItems(runId))[0]?.status, "held");
      assert.equal(await store.claim(LEASE), null);
      await store.resumeRun(runId);
      const again = await claimOne(store);
      assert.equal(again.item.id, claim.item.id);
      assert.deepEqual(again.item.input, "approve me");
      await store.commit(again, success());
      run = await store.getRun(runId);
      assert.equal(run?.status, "completed");
      assert.equal(run?.held, 0);
    });

    test("cancel ends the run: queued and held items are never delivered", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      const runId = await startRun(store);
      const claim = await claimOne(store);
      await store.commit(claim, success({ hold: { reason: null } }));
      const other = await startRun(store);
      const cancelled = await store.cancelRun(runId, "no longer needed");
      assert.equal(cancelled.status, "cancelled");
      assert.equal(cancelled.error?.message, "no longer needed");
      await assert.rejects(store.resumeRun(runId), { code: "RunFinished" });
      const next = await claimOne(store);
      assert.equal(next.item.runId, other);
      assert.equal(await store.claim(LEASE), null);
      await assert.rejects(store.pauseRun(randomUUID()), { code: "RunNotFound" });
    });

    test("release hands a leased item back without counting an attempt", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      await startRun(store);
      const claim = await claimOne(store);
      assert.equal(await store.release([claim]), 1);
      const again = await claimOne(store);
      assert.equal(again.item.id, claim.item.id);
      assert.equal(again.item.attempt, 1);
      assert.equal((await store.commit(claim, success())).status, "lease-lost");
    });

    test("checkpoints keep the newest snapshot", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      const runId = await startRun(store);
      assert.equal(await store.loadCheckpoint(runId), null);
      await store.saveCheckpoint(runId, { seq: 5, state: { total: 5 } });
      await store.saveCheckpoint(runId, { seq: 3, state: { total: 3 } });
      assert.deepEqual(await store.loadCheckpoint(runId), { seq: 5, state: { total: 5 } });
    });

    test("worker liveness expires after its ttl", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      await store.heartbeat({ workerId: "pod-a", status: "busy", inFlight: 2, at: Date.now() }, 60_000);
      await store.heartbeat({ workerId: "pod-b", status: "idle", inFlight: 0, at: Date.now() }, 50);
      assert.deepEqual((await store.listWorkers()).map((w) => w.workerId).sort(), ["pod-a", "pod-b"]);
      await waitFor(async () => (await store.listWorkers()).length === 1, {
        intervalMs: 20,
        message: "pod-b to expire",
      });
      assert.equal((await store.listWorkers())[0]?.status, "busy");
    });

    test("listRuns filters by status, newest first", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      const a = await startRun(store);
      const b = await startRun(store);
      await store.cancelRun(a, "x");
      assert.deepEqual(
        (await store.listRuns({ status: "cancelled" })).map((r) => r.runId),
        [a],
      );
      assert.deepEqual(
        (await store.listRuns({ status: "queued" })).map((r) => r.runId),
        [b],
      );
      assert.equal((await store.listRuns()).length, 2);
    });

    test("items are stored by value: changing a caller's object afterwards changes nothing", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      const input = { list: [1, 2] };
      const runId = await startRun(store, input);
      input.list.push(3);
      const claim = await claimOne(store);
      assert.deepEqual(claim.item.input, { list: [1, 2] });
      assert.deepEqual((await store.getRun(runId))?.input, { list: [1, 2] });
    });

    test("a released item goes back to the head of the queue", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      await startRun(store);
      const claim = await claimOne(store);
      // In the same queue: a partitioned store places it in the first run's partition.
      await startRun(store, { n: 2 }, "a", {}, store.newRunId?.(claim.item.runId));
      await store.release([claim]);
      assert.equal((await claimOne(store)).item.id, claim.item.id);
    });

    test("a second arrival for one branch index is ignored: the first value wins", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      const runId = await startRun(store);
      const root = await claimOne(store);
      const frameId = `${root.item.id}:b`;
      const branches = [0, 1].map((index) =>
        item(store, runId, "b", index, { frames: [{ id: frameId, index, count: 2 }] }),
      );
      await store.commit(root, success({ followUps: branches }));
      const [first, second] = [await claimOne(store), await claimOne(store)];
      const joinItem = item(store, runId, "j", null, { id: `${frameId}>j` });
      const frame = (index: number) => ({ id: frameId, index, count: 2 });
      await store.commit(
        first,
        success({
          arrivals: [
            { frame: frame(0), value: "first", joinItem },
            { frame: frame(0), value: "second", joinItem },
          ],
        }),
      );
      assert.equal((await store.depth()).ready, 0, "one index twice is not two branches");
      await store.commit(second, success({ arrivals: [{ frame: frame(1), value: "other", joinItem }] }));
      assert.deepEqual((await claimOne(store)).item.input, ["first", "other"]);
    });

    test("follow-ups committed while the run is paused are parked until resume", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      const runId = await startRun(store);
      const claim = await claimOne(store);
      await store.pauseRun(runId);
      const next = item(store, runId, "b");
      assert.deepEqual(await store.commit(claim, success({ followUps: [next] })), {
        status: "committed",
        run: "paused",
      });
      assert.equal(await store.claim(LEASE), null);
      assert.equal((await store.listItems(runId)).find((s) => s.itemId === next.id)?.status, "parked");
      assert.equal((await store.resumeRun(runId)).status, "running");
      assert.equal((await claimOne(store)).item.id, next.id);
    });

    test("the parked count follows holds, pauses, resumes, cancels, failures and redrives", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      const parked = async (): Promise<number> => (await store.readMetrics()).parked;
      assert.equal(await parked(), 0);
      // Held: a run whose item asked to wait.
      const held = await startRun(store);
      await store.commit(await claimOne(store), success({ hold: { reason: null } }));
      assert.equal(await parked(), 1, "a held item");
      // Paused: its queued item is parked when a claim meets it.
      const paused = await startRun(store);
      await store.pauseRun(paused);
      assert.equal(await store.claim(LEASE), null);
      assert.equal(await parked(), 2, "and a paused run's item");
      await store.resumeRun(held);
      assert.equal(await parked(), 1, "resume re-delivers the held item");
      await store.commit(await claimOne(store), success());
      await store.cancelRun(paused, "not needed");
      assert.equal(await parked(), 0, "a cancelled run's items end with it");
      // A run that fails while paused: its parked follow-up ends with it, and a redrive that
      // revives the run parks it again until resume.
      const failing = await startRun(store);
      const first = await claimOne(store);
      await store.commit(
        first,
        success({ followUps: [item(store, failing, "b"), item(store, failing, "c")] }),
      );
      const b = await claimOne(store);
      await store.pauseRun(failing);
      assert.equal(await store.claim(LEASE), null);
      assert.equal(await parked(), 1, "c parked");
      const error = { code: "NodeFailed", message: "boom", node: "b" };
      await store.commit(b, { kind: "fail", error, deadLetter: true, durationMs: 1 });
      assert.equal((await store.getRun(failing))?.status, "failed");
      assert.equal(await parked(), 0, "a failed run parks nothing");
      await store.redriveDeadLetter(b.item.id, "redrive");
      assert.equal(await parked(), 1, "the revived run's parked item counts again");
      await store.resumeRun(failing);
      assert.equal(await parked(), 0);
    });

    test("readEvents pages the log by sequence", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      const runId = await startRun(store);
      const claim = await claimOne(store);
      const events = [1, 2, 3, 4].map((n) => ({
        id: randomUUID(),
        node: "a",
        itemId: claim.item.id,
        event: n,
      }));
      await store.commit(claim, success({ events }));
      assert.deepEqual(
        (await store.readEvents(runId, 1, 2)).map((e) => [e.seq, e.event]),
        [
          [2, 2],
          [3, 3],
        ],
      );
      assert.deepEqual(await store.readEvents(runId, 4), []);
    });

    /** A run whose only item was dead-lettered (a permanent failure): the run failed. */
    async function deadRun(store: WorkflowStore, input: unknown = { n: 1 }) {
      const runId = await startRun(store, input);
      const claim = await claimOne(store);
      const error = { code: "NodeFailed", message: "boom", node: "a" };
      await store.commit(claim, { kind: "fail", error, deadLetter: true, durationMs: 1 });
      assert.equal((await store.getRun(runId))?.status, "failed");
      return { runId, itemId: claim.item.id };
    }

    test("redrive takes the dead letter out and re-delivers its item at attempt 1, reviving its run", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      const { runId, itemId } = await deadRun(store, { keep: "me" });
      assert.deepEqual(await store.redriveDeadLetter(itemId, "redrive"), { runId, runStatus: "running" });
      assert.equal((await store.deadLetters()).length, 0);
      const run = await store.getRun(runId);
      assert.equal(run?.status, "running");
      assert.equal(run?.error, null);
      assert.equal(run?.finishedAt, null);
      const claim = await claimOne(store);
      assert.equal(claim.item.id, itemId);
      assert.equal(claim.item.attempt, 1);
      assert.deepEqual(claim.item.input, { keep: "me" });
      assert.deepEqual(await store.commit(claim, success()), { status: "committed", run: "completed" });
    });

    test("discard drops the dead letter and leaves its run failed", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      const { runId, itemId } = await deadRun(store);
      assert.deepEqual(await store.redriveDeadLetter(itemId, "discard"), { runId: null, runStatus: null });
      assert.deepEqual(await store.deadLetters(), []);
      assert.equal((await store.getRun(runId))?.status, "failed");
      assert.equal(await store.claim(LEASE), null);
    });

    test("redrive refuses an item with no dead letter, changing nothing", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      await assert.rejects(store.redriveDeadLetter("no-such-item", "redrive"), {
        code: "DeadLetterNotFound",
      });
      const { itemId } = await deadRun(store);
      await store.redriveDeadLetter(itemId, "redrive");
      await assert.rejects(store.redriveDeadLetter(itemId, "discard"), { code: "DeadLetterNotFound" });
      assert.equal((await store.depth()).ready, 1, "the item is queued once");
    });

    test("a revived run counts only its live items: a branch dropped while it was failed is not waited for", async () => {
      const store = backend.forWorkflow(uniqueWorkflow());
      const runId = await startRun(store);
      const start = await claimOne(store);
      await store.commit(start, success({ followUps: [item(store, runId, "b"), item(store, runId, "c")] }));
      const b = await claimOne(store);
      const c = await claimOne(store);
      const error = { code: "NodeFailed", message: "boom", node: "b" };
      await store.commit(b, { kind: "fail", error, deadLetter: true, durationMs: 1 });
      assert.equal((await store.commit(c, success())).status, "run-finished");
      assert.equal((await store.redriveDeadLetter(b.item.id, "redrive")).runStatus, "running");
      const again = await claimOne(store);
      assert.equal(again.item.id, b.item.id);
      assert.deepEqual(await store.commit(again, success()), { status: "committed", run: "completed" });
    });
  });
}
