/**
 * Values Redis cannot represent are refused where they enter (issue 14): a run input with
 * `InvalidInput` at start, a node's output or event with `InvalidOutput` (the step fails at once,
 * without retry), never a wedged run. A thrown value that cannot be turned into a string still
 * becomes a readable error, not LeaseLost.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { FloxideError, join, next, nextAll, node, workflow } from "../../../worker/sdk/index.ts";
import { createRedisBackend, type RedisBackend } from "../../../worker/store/index.ts";
import { startEngine } from "../../support/engine.ts";
import { startRedis, type RedisServer } from "../../support/redis.ts";

let redis: RedisServer;
let backend: RedisBackend;

before(async () => {
  redis = await startRedis();
  backend = createRedisBackend({ connection: redis.url, keyPrefix: `unrep-${randomUUID().slice(0, 8)}` });
});
after(async () => {
  await backend.close();
  await redis.stop();
});

function nested(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i += 1) value = [value];
  return value;
}

const circular = (): unknown => {
  const value: Record<string, unknown> = { a: 1 };
  value.self = value;
  return value;
};

/** A workflow whose one node returns (or throws, or emits) what `make` gives it. */
function oneNode(name: string, body: (emit: (event: unknown) => void) => unknown) {
  const only = node<unknown, unknown, unknown, unknown>(
    "only",
    (ctx) => body((event) => ctx.emit(event)) as never,
    {
      retry: { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 10, jitter: 0 },
    },
  );
  return workflow({ name, version: "1", start: "only", nodes: [only], edges: {} });
}

describe("run inputs Redis cannot represent are refused at start", () => {
  const cases: [string, () => unknown, RegExp][] = [
    ["nested deeper than the limit", () => nested(1000), /nest/],
    ["a string with a lone surrogate", () => ({ name: "\ud800" }), /surrogate/],
    ["a key with a lone surrogate", () => ({ ["\udc00x"]: 1 }), /surrogate/],
    ["a BigInt", () => ({ n: 10n }), /BigInt/],
    ["a circular structure", circular, /circular/],
    ["a function", () => ({ f: () => 1 }), /function/],
  ];
  for (const [what, make, reason] of cases) {
    test(`${what}: InvalidInput naming the reason, no run created`, async () => {
      const def = oneNode(`in-${randomUUID().slice(0, 6)}`, () => next(1));
      const engine = startEngine(def, { store: backend.forWorkflow(def.name) });
      try {
        await assert.rejects(engine.orchestrator.start(make()), (error: unknown) => {
          assert.ok(error instanceof FloxideError);
          assert.equal(error.code, "InvalidInput");
          assert.match(error.message, reason);
          return true;
        });
        assert.deepEqual(await engine.orchestrator.list(), []);
      } finally {
        await engine.stop();
      }
    });
  }
});

describe("outputs and events Redis cannot represent fail the step at once with InvalidOutput", () => {
  const cases: [string, (emit: (event: unknown) => void) => unknown, RegExp][] = [
    ["next(() => 1)", () => next(() => 1), /function/],
    ["a BigInt output", () => next({ n: 1n }), /BigInt/],
    ["a circular output", () => next(circular()), /circular/],
    ["an output nested deeper than the limit", () => next(nested(1000)), /nest/],
    ["an output with a lone surrogate", () => next("\udfff"), /surrogate/],
    ["one bad value among a fan-out's", () => nextAll([1, 2, { f: Symbol("x") }]), /symbol/],
    [
      "an event with a BigInt",
      (emit) => {
        emit({ n: 2n });
        return next(1);
      },
      /BigInt/,
    ],
  ];
  for (const [what, body, reason] of cases) {
    test(`${what}: the run fails with InvalidOutput on the first attempt`, async () => {
      const def = oneNode(`out-${randomUUID().slice(0, 6)}`, body);
      const engine = startEngine(def, { store: backend.forWorkflow(def.name) });
      try {
        const { runId } = await engine.orchestrator.start({});
        const info = await engine.orchestrator.wait(runId, { timeoutMs: 20_000, pollMs: 20 });
        assert.equal(info.status, "failed");
        assert.equal(info.error?.code, "InvalidOutput", JSON.stringify(info.error));
        assert.match(info.error?.message ?? "", reason);
        const items = await engine.orchestrator.items(runId);
        assert.deepEqual(
          items.map((item) => item.attempt),
          [1],
          "not retried",
        );
      } finally {
        await engine.stop();
      }
    });
  }
});

describe("a thrown value that String() cannot convert becomes a readable error", () => {
  const cases: [string, () => unknown, RegExp][] = [
    [
      "a Proxy that throws on every access",
      () =>
        new Proxy(
          {},
          {
            get() {
              throw new Error("trap");
            },
            getPrototypeOf() {
              throw new Error("trap");
            },
          },
        ),
      /thrown value/,
    ],
    ["Object.create(null)", () => Object.create(null) as unknown, /thrown value/],
    [
      "an Error whose message getter throws",
      () =>
        Object.defineProperty(new Error("x"), "message", {
          get() {
            throw new Error("no");
          },
        }),
      /Error/,
    ],
  ];
  for (const [what, make, reason] of cases) {
    test(`${what}: the run fails with that error, not LeaseLost`, async () => {
      const def = oneNode(`throw-${randomUUID().slice(0, 6)}`, () => {
        throw make();
      });
      const engine = startEngine(def, { store: backend.forWorkflow(def.name), leaseMs: 2000 });
      try {
        const { runId } = await engine.orchestrator.start({});
        const info = await engine.orchestrator.wait(runId, { timeoutMs: 30_000, pollMs: 20 });
        assert.equal(info.status, "failed");
        assert.notEqual(info.error?.code, "LeaseLost", JSON.stringify(info.error));
        assert.match(`${info.error?.code}: ${info.error?.message}`, reason);
      } finally {
        await engine.stop();
      }
    });
  }
});

describe("nextAll([]) into a node that is not a join", () => {
  test("fails the step with InvalidOutput instead of completing with no output", async () => {
    const fan = node<unknown, unknown>("fan", () => nextAll([]));
    const work = node<unknown, unknown>("work", (_ctx, input) => next(input));
    const def = workflow({
      name: `empty-${randomUUID().slice(0, 6)}`,
      version: "1",
      start: "fan",
      nodes: [fan, work],
      edges: { fan: ["work"] },
    });
    const engine = startEngine(def, { store: backend.forWorkflow(def.name) });
    try {
      const { runId } = await engine.orchestrator.start({});
      const info = await engine.orchestrator.wait(runId, { timeoutMs: 20_000, pollMs: 20 });
      assert.equal(info.status, "failed");
      assert.equal(info.error?.code, "InvalidOutput");
      assert.match(info.error?.message ?? "", /empty/);
    } finally {
      await engine.stop();
    }
  });

  test("into a join still completes the join with no inputs", async () => {
    const fan = node<unknown, unknown>("fan", () => nextAll([]));
    const done = join<unknown, number>("done", (_ctx, inputs) => next(inputs.length));
    const def = workflow({
      name: `emptyjoin-${randomUUID().slice(0, 6)}`,
      version: "1",
      start: "fan",
      nodes: [fan, done],
      edges: { fan: ["done"] },
    });
    const engine = startEngine(def, { store: backend.forWorkflow(def.name) });
    try {
      const { runId } = await engine.orchestrator.start({});
      const info = await engine.orchestrator.wait(runId, { timeoutMs: 20_000, pollMs: 20 });
      assert.equal(info.status, "completed", JSON.stringify(info.error));
      assert.deepEqual(
        info.outputs.map((o) => o.value),
        [0],
      );
    } finally {
      await engine.stop();
    }
  });
});
