import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { abort, hold, next, node, workflow } from "../../../worker/sdk/index.ts";
import { videoWorkflow } from "../../../examples/video.ts";
import { flakyWorkflow } from "../../../examples/flaky.ts";
import { orderSaga } from "../../../examples/order-saga.ts";
import { gate, startEngine } from "../../support/engine.ts";
import { randomUUID } from "node:crypto";
import { pino } from "pino";
import { LeaseKeeper } from "../../../worker/engine/lease-keeper.ts";
import { StepAbort } from "../../../worker/engine/step.ts";
import { MemoryBackend, type Claim } from "../../../worker/store/index.ts";
import { waitFor } from "../../support/wait.ts";

describe("engine on the memory backend", () => {
  test("1,000 video runs on 8 concurrent workers: every join fires once, no event lost or duplicated", async () => {
    const engine = startEngine(videoWorkflow, { pools: 8, concurrency: 1 });
    try {
      const runs = 1000;
      const started = await Promise.all(
        Array.from({ length: runs }, (_, i) =>
          engine.orchestrator.start({ video: `v${i}`, chunks: 10, maxDelayMs: 2 }),
        ),
      );
      const finished = await Promise.all(
        started.map(({ runId }) => engine.orchestrator.wait(runId, { timeoutMs: 120_000, pollMs: 50 })),
      );
      for (const info of finished) {
        assert.equal(info.status, "completed", `run ${info.runId}: ${JSON.stringify(info.error)}`);
        assert.equal(info.outputs.length, 1);
        assert.deepEqual(info.outputs[0]?.value, {
          url: `https://videos.example/${info.runId}`,
          chunks: 10,
          bytes: 10450,
        });
      }
      for (const { runId } of started) {
        const { state, events } = await engine.orchestrator.context(runId);
        assert.equal(events.length, 11, "10 chunks encoded + 1 published");
        assert.equal(new Set(events.map((e) => e.id)).size, 11, "no event applied twice");
        assert.deepEqual(
          events.map((e) => e.seq),
          Array.from({ length: 11 }, (_, i) => i + 1),
        );
        assert.deepEqual(
          [...state.encoded].sort((a, b) => a - b),
          [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        );
        const joins = (await engine.orchestrator.items(runId)).filter((item) => item.node === "assemble");
        assert.equal(joins.length, 1, "the join fired exactly once");
        assert.equal(joins[0]?.status, "completed");
      }
      const metrics = await engine.orchestrator.metrics();
      assert.equal(metrics.nodes.assemble?.completed, runs);
      assert.equal(metrics.nodes.encode?.completed, runs * 10);
      assert.equal(metrics.runsCompleted, runs);
    } finally {
      await engine.stop();
    }
  });

  test("a flaky node is retried with backoff and the attempt count reaches the node", async () => {
    const engine = startEngine(flakyWorkflow);
    try {
      const { runId } = await engine.orchestrator.start({ succeedOnAttempt: 3 });
      const info = await engine.orchestrator.wait(runId);
      assert.equal(info.status, "completed");
      assert.deepEqual(info.outputs[0]?.value, { attempts: 3 });
      const errors = await engine.orchestrator.errors(runId);
      assert.deepEqual(
        errors.map((e) => [e.action, e.attempt, e.error.message]),
        [
          ["retry", 1, "transient failure on attempt 1"],
          ["retry", 2, "transient failure on attempt 2"],
        ],
      );
      const [item] = await engine.orchestrator.items(runId);
      assert.equal(item?.attempt, 3);
      assert.equal(item?.status, "completed");
    } finally {
      await engine.stop();
    }
  });

  test("after max attempts the item is dead-lettered with its error and the run fails", async () => {
    const engine = startEngine(flakyWorkflow);
    try {
      const { runId } = await engine.orchestrator.start({ succeedOnAttempt: 99 });
      const info = await engine.orchestrator.wait(runId);
      assert.equal(info.status, "failed");
      assert.equal(info.error?.message, "transient failure on attempt 5");
      const dead = await engine.store.deadLetters();
      assert.equal(dead.length, 1);
      assert.equal(dead[0]?.item.attempt, 5);
      assert.equal((await engine.orchestrator.errors(runId)).at(-1)?.action, "dead");
    } finally {
      await engine.stop();
    }
  });

  test("a failed attempt's events are discarded, the successful one's are kept", async () => {
    const def = workflow<string[], string>({
      name: "discard",
      version: "1",
      start: "a",
      nodes: [
        node<null, string, string[], string>(
          "a",
          (ctx) => {
            ctx.emit(`attempt-${ctx.attempt}`);
            if (ctx.attempt === 1) throw new Error("first attempt fails after emitting");
            assert.deepEqual(ctx.state, ["attempt-2"], "state shows only this attempt's own events");
            return next("ok");
          },
          { retry: { maxAttempts: 2, initialDelayMs: 1 } },
        ),
      ],
    });
    const engine = startEngine(def);
    try {
      const { runId } = await engine.orchestrator.start(null);
      assert.equal((await engine.orchestrator.wait(runId)).status, "completed");
      assert.deepEqual((await engine.orchestrator.context(runId)).state, ["attempt-2"]);
    } finally {
      await engine.stop();
    }
  });

  test("a node may take emit, log and its ids out of ctx (destructured)", async () => {
    const def = workflow<string[], string>({
      name: "destructure",
      version: "1",
      start: "a",
      nodes: [
        node<null, string, string[], string>("a", ({ emit, log, runId, node: name, attempt }) => {
          log.info({ attempt }, "taken out of ctx");
          emit(`${name}@${runId}`);
          emit("second");
          return next("ok");
        }),
      ],
    });
    const engine = startEngine(def);
    try {
      const { runId } = await engine.orchestrator.start(null);
      assert.equal((await engine.orchestrator.wait(runId)).status, "completed");
      assert.deepEqual((await engine.orchestrator.context(runId)).state, [`a@${runId}`, "second"]);
    } finally {
      await engine.stop();
    }
  });

  test("a step timeout aborts ctx.signal, fails the attempt with StepTimeout and is retried", async () => {
    const seen: string[] = [];
    const def = workflow({
      name: "slow",
      version: "1",
      start: "slow",
      nodes: [
        node(
          "slow",
          (ctx) =>
            new Promise((_, reject) => {
              ctx.signal.addEventListener("abort", () => {
                seen.push(`aborted on attempt ${ctx.attempt}`);
                reject(ctx.signal.reason);
              });
            }),
          { timeoutMs: 50, retry: { maxAttempts: 2, initialDelayMs: 1 } },
        ),
      ],
    });
    const engine = startEngine(def);
    try {
      const { runId } = await engine.orchestrator.start(null);
      const info = await engine.orchestrator.wait(runId);
      assert.equal(info.status, "failed");
      assert.equal(info.error?.code, "StepTimeout");
      assert.deepEqual(seen, ["aborted on attempt 1", "aborted on attempt 2"]);
      assert.deepEqual(
        (await engine.orchestrator.errors(runId)).map((e) => [e.action, e.error.code]),
        [
          ["retry", "StepTimeout"],
          ["dead", "StepTimeout"],
        ],
      );
    } finally {
      await engine.stop();
    }
  });

  test("a second start with the same idempotency key returns the first run", async () => {
    const engine = startEngine(flakyWorkflow);
    try {
      const first = await engine.orchestrator.start({ succeedOnAttempt: 1 }, { idempotencyKey: "k-1" });
      const second = await engine.orchestrator.start({ succeedOnAttempt: 1 }, { idempotencyKey: "k-1" });
      assert.equal(first.created, true);
      assert.deepEqual(second, { runId: first.runId, created: false });
      await engine.orchestrator.wait(first.runId);
      assert.equal((await engine.orchestrator.list()).length, 1);
    } finally {
      await engine.stop();
    }
  });

  test("pause: the step in flight commits, no new item starts until resume", async () => {
    const release = gate();
    const started: string[] = [];
    const def = workflow({
      name: "pausable",
      version: "1",
      start: "a",
      nodes: [
        node("a", async () => {
          started.push("a");
          await release.promise;
          return next(1);
        }),
        node("b", (_ctx, n: number) => {
          started.push("b");
          return next(n + 1);
        }),
      ],
      edges: { a: ["b"] },
    });
    const engine = startEngine(def);
    try {
      const { runId } = await engine.orchestrator.start(null);
      await waitFor(() => started.includes("a"), { intervalMs: 5, message: "a to start" });
      assert.equal((await engine.orchestrator.pause(runId)).status, "paused");
      release.open();
      await waitFor(
        async () =>
          (await engine.orchestrator.items(runId)).some((i) => i.node === "b" && i.status === "parked"),
        {
          intervalMs: 5,
          message: "b to be parked",
        },
      );
      assert.deepEqual(started, ["a"]);
      assert.equal((await engine.orchestrator.status(runId)).status, "paused");
      await engine.orchestrator.resume(runId);
      const info = await engine.orchestrator.wait(runId);
      assert.equal(info.status, "completed");
      assert.deepEqual(info.outputs[0]?.value, 2);
      assert.deepEqual(started, ["a", "b"]);
    } finally {
      await engine.stop();
    }
  });

  test("cancel: the in-flight step sees ctx.signal abort and nothing of it is committed", async () => {
    const inFlight = gate();
    let abortedWith: unknown = null;
    const def = workflow<string[], string>({
      name: "cancellable",
      version: "1",
      start: "a",
      nodes: [
        node<null, number, string[], string>("a", (ctx) => {
          ctx.emit("before-cancel");
          inFlight.open();
          return new Promise((resolve) => {
            ctx.signal.addEventListener("abort", () => {
              abortedWith = ctx.signal.reason;
              resolve(next(1));
            });
          });
        }),
        node("b", (_ctx, n: number) => next(n)),
      ],
      edges: { a: ["b"] },
    });
    const engine = startEngine(def);
    try {
      const { runId } = await engine.orchestrator.start(null);
      await inFlight.promise;
      assert.equal((await engine.orchestrator.cancel(runId, "user changed their mind")).status, "cancelled");
      await waitFor(() => abortedWith !== null, { intervalMs: 5, message: "the step's signal to abort" });
      assert.match(String(abortedWith), /cancelled/);
      await waitFor(async () => (await engine.orchestrator.items(runId))[0]?.status === "cancelled", {
        intervalMs: 5,
      });
      const info = await engine.orchestrator.status(runId);
      assert.equal(info.status, "cancelled");
      assert.equal(info.error?.message, "user changed their mind");
      assert.deepEqual((await engine.orchestrator.context(runId)).events, []);
      assert.equal((await engine.orchestrator.items(runId)).length, 1, "b never started");
    } finally {
      await engine.stop();
    }
  });

  test("hold parks the item until resume re-delivers it", async () => {
    let deliveries = 0;
    const def = workflow({
      name: "approval",
      version: "1",
      start: "approve",
      nodes: [
        node("approve", (_ctx, request: string) => {
          deliveries += 1;
          return deliveries === 1 ? hold("waiting for a human") : next(`approved ${request}`);
        }),
      ],
    });
    const engine = startEngine(def);
    try {
      const { runId } = await engine.orchestrator.start("expense-12");
      await waitFor(async () => (await engine.orchestrator.status(runId)).held === 1, {
        intervalMs: 5,
        message: "hold",
      });
      assert.equal((await engine.orchestrator.status(runId)).status, "running");
      assert.equal((await engine.orchestrator.items(runId))[0]?.status, "held");
      await engine.orchestrator.resume(runId);
      const info = await engine.orchestrator.wait(runId);
      assert.equal(info.status, "completed");
      assert.deepEqual(info.outputs[0]?.value, "approved expense-12");
      assert.equal(deliveries, 2);
    } finally {
      await engine.stop();
    }
  });

  test("abort fails the run at once and stops its other branches", async () => {
    let slowSaw: unknown = null;
    const def = workflow<string[], string>({
      name: "aborting",
      version: "1",
      start: "fork",
      nodes: [
        node("fork", () => next(null)),
        node("bad", () => abort("inventory is gone")),
        node<null, null, string[], string>("slow", (ctx) => {
          ctx.emit("slow-started");
          return new Promise((resolve) =>
            ctx.signal.addEventListener("abort", () => {
              slowSaw = ctx.signal.reason;
              resolve(next(null));
            }),
          );
        }),
      ],
      edges: { fork: ["bad", "slow"] },
    });
    const engine = startEngine(def, { concurrency: 2 });
    try {
      const { runId } = await engine.orchestrator.start(null);
      const info = await engine.orchestrator.wait(runId);
      assert.equal(info.status, "failed");
      assert.deepEqual(info.error, { code: "Aborted", message: "inventory is gone", node: "bad" });
      await waitFor(() => slowSaw !== null, { intervalMs: 5, message: "the other branch to be stopped" });
      assert.deepEqual((await engine.orchestrator.context(runId)).events, []);
      assert.equal((await engine.orchestrator.errors(runId))[0]?.action, "fail", "abort is not retried");
      assert.equal((await engine.store.deadLetters()).length, 0);
    } finally {
      await engine.stop();
    }
  });

  test("onFailure runs the compensation with the failed node's input; routes pick the branch", async () => {
    const engine = startEngine(orderSaga);
    try {
      const ok = await engine.orchestrator.start({ id: "o1", amount: 10, card: "visa" });
      const declined = await engine.orchestrator.start({ id: "o2", amount: 10, card: "declined" });
      const invalid = await engine.orchestrator.start({ id: "o3", amount: 0, card: "visa" });
      const [a, b, c] = await Promise.all(
        [ok, declined, invalid].map(({ runId }) => engine.orchestrator.wait(runId)),
      );
      assert.deepEqual(
        a?.outputs.map((o) => o.value),
        [{ order: "o1", status: "shipped" }],
      );
      assert.deepEqual(
        b?.outputs.map((o) => o.value),
        [{ order: "o2", status: "compensated" }],
      );
      assert.deepEqual((await engine.orchestrator.context(declined.runId)).state, [
        { type: "reserved", order: "o2" },
        { type: "released", order: "o2" },
      ]);
      assert.equal(c?.status, "failed");
      assert.match(c?.error?.message ?? "", /non-positive amount/);
    } finally {
      await engine.stop();
    }
  });

  test("a node returning something other than a transition fails with a clear message", async () => {
    const def = workflow({
      name: "sloppy",
      version: "1",
      start: "a",
      nodes: [node("a", () => ({ result: 1 }) as never, { retry: { maxAttempts: 1 } })],
    });
    const engine = startEngine(def);
    try {
      const { runId } = await engine.orchestrator.start(null);
      const info = await engine.orchestrator.wait(runId);
      assert.equal(info.status, "failed");
      assert.match(info.error?.message ?? "", /node 'a' returned \{"result":1\}, not a transition/);
    } finally {
      await engine.stop();
    }
  });

  test("a thrown Error is recorded with its stack; a thrown non-Error only with its description", async () => {
    const def = workflow({
      name: "throwing",
      version: "1",
      start: "a",
      nodes: [
        node<string, null>(
          "a",
          (_ctx, input) => {
            if (input === "error") throw new TypeError("bad shape");
            throw { message: "plain", stack: "at secret (hidden.ts:1:1)" };
          },
          { retry: { maxAttempts: 1 } },
        ),
      ],
    });
    const engine = startEngine(def);
    try {
      const thrown = await engine.orchestrator.start("error");
      const info = await engine.orchestrator.wait(thrown.runId);
      assert.equal(info.error?.code, "TypeError");
      assert.match(info.error?.stack ?? "", /^TypeError: bad shape\n\s+at .*engine\.test\.ts/);
      const [record] = await engine.orchestrator.errors(thrown.runId);
      assert.equal(record?.error.stack, info.error?.stack, "the error list keeps it too");
      const plain = await engine.orchestrator.start("plain");
      const other = await engine.orchestrator.wait(plain.runId);
      assert.equal(other.status, "failed");
      assert.equal(other.error?.stack, undefined);
      assert.match(other.error?.message ?? "", /not an Error: .*hidden\.ts/, "its description, as before");
    } finally {
      await engine.stop();
    }
  });

  test("a payload over the size limit fails the run at once with PayloadTooLarge; an oversized input is refused", async () => {
    let attempts = 0;
    const def = workflow({
      name: "big",
      version: "1",
      start: "a",
      maxPayloadBytes: 1000,
      nodes: [node("a", (_ctx, size: number) => ((attempts += 1), next("x".repeat(size))))],
    });
    const engine = startEngine(def);
    try {
      const small = await engine.orchestrator.start(100);
      assert.equal((await engine.orchestrator.wait(small.runId)).status, "completed");
      const { runId } = await engine.orchestrator.start(5000);
      const info = await engine.orchestrator.wait(runId);
      assert.equal(info.status, "failed");
      assert.equal(info.error?.code, "PayloadTooLarge");
      assert.match(
        info.error?.message ?? "",
        /node 'a' produced a payload of 5002 bytes, over the limit of 1000 bytes/,
      );
      assert.equal(attempts, 2, "not retried");
      assert.equal((await engine.store.deadLetters()).length, 1);
      await assert.rejects(engine.orchestrator.start("y".repeat(2000)), {
        code: "InvalidInput",
        message: /run input is 2002 bytes, over the limit of 1000 bytes/,
      });
    } finally {
      await engine.stop();
    }
  });

  test("a worker reports itself busy when it claims, before its next liveness check", async () => {
    const statusInStep = gate<string | undefined>();
    const store = new MemoryBackend().forWorkflow("busy-report", "1");
    const def = workflow({
      name: "busy-report",
      version: "1",
      start: "a",
      nodes: [
        node("a", async () => {
          // The operator reads this record to spare busy pods when it scales in.
          const record = (await store.listWorkers()).find((worker) => worker.workerId === "test-0");
          statusInStep.open(record?.status);
          return next("done");
        }),
      ],
    });
    // The status is checked once a second: the step starts well before the first check.
    const engine = startEngine(def, { store, livenessEveryMs: 60_000 });
    try {
      const { runId } = await engine.orchestrator.start(null);
      assert.equal(await statusInStep.promise, "busy");
      await waitFor(async () => (await engine.orchestrator.status(runId)).status === "completed", {
        intervalMs: 5,
        message: "the run to complete",
      });
    } finally {
      await engine.stop();
    }
  });

  test("stop() lets in-flight steps finish before it resolves", async () => {
    const release = gate();
    const def = workflow({
      name: "drain",
      version: "1",
      start: "a",
      nodes: [node("a", async () => (await release.promise, next("done")))],
    });
    const engine = startEngine(def);
    const { runId } = await engine.orchestrator.start(null);
    await waitFor(() => engine.pools[0]?.inFlight === 1, { intervalMs: 5, message: "the step to start" });
    const stopping = engine.stop();
    assert.equal(engine.pools[0]?.status, "draining");
    release.open();
    await stopping;
    assert.equal((await engine.orchestrator.status(runId)).status, "completed");
  });

  test("after the drain deadline, a claim handed to the lease keeper is stopped at once", async () => {
    // A claim loop's last try when the drain begins can return an item after the deadline has
    // aborted the steps held then: that step must stop too, or stop() waits for its node.
    const store = new MemoryBackend().forWorkflow("late", "1");
    const keeper = new LeaseKeeper(
      store,
      { leaseMs: 3000, heartbeatMs: 100, reclaimEveryMs: 1000 },
      pino({ level: "silent" }),
    );
    const claimOf = async (): Promise<Claim> => {
      const runId = randomUUID();
      const startItem = {
        id: randomUUID(),
        runId,
        workflow: "late",
        version: "1",
        node: "a",
        attempt: 1,
        maxAttempts: 3,
        enqueuedAt: Date.now(),
        frames: [],
        input: null,
      };
      await store.createRun({ runId, idempotencyKey: null, input: null, version: "1", startItem });
      const claim = await store.claim({ workerId: "w", leaseMs: 3000, blockMs: 0 });
      if (claim === null) throw new Error("nothing claimed");
      return claim;
    };
    const before = keeper.hold(await claimOf());
    keeper.abortAll(new StepAbort("shutdown", "worker is shutting down"));
    assert.equal(before.aborted, true);
    const late = keeper.hold(await claimOf());
    assert.equal(late.aborted, true, "a claim held after abortAll is already stopped");
    assert.equal((late.reason as StepAbort).reason, "shutdown");
  });

  test("a step still running at the drain deadline is released, not failed, and runs again elsewhere", async () => {
    const def = workflow({
      name: "stuck",
      version: "1",
      start: "a",
      nodes: [
        node("a", (ctx) =>
          ctx.attempt === 1 && ctx.itemId !== "" && !ctx.signal.aborted
            ? new Promise((resolve) =>
                ctx.signal.addEventListener("abort", () => resolve(next("never committed"))),
              )
            : next("second worker"),
        ),
      ],
    });
    const first = startEngine(def);
    const { runId } = await first.orchestrator.start(null);
    await waitFor(() => first.pools[0]?.inFlight === 1, { intervalMs: 5 });
    await first.pools[0]?.stop({ graceMs: 50 });
    const [item] = await first.orchestrator.items(runId);
    assert.equal(item?.status, "queued");
    assert.equal(item?.attempt, 1, "release does not count an attempt");
    let calls = 0;
    const second = startEngine(
      workflow({
        name: "stuck",
        version: "1",
        start: "a",
        nodes: [node("a", () => ((calls += 1), next("second worker")))],
      }),
      { store: first.store },
    );
    try {
      const info = await second.orchestrator.wait(runId);
      assert.deepEqual(info.outputs[0]?.value, "second worker");
      assert.equal(calls, 1);
    } finally {
      await second.stop();
    }
  });
});
