import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { buildHttpServer } from "../../../worker/http/index.ts";
import { WorkerMetrics } from "../../../worker/observability/metrics.ts";
import { flakyWorkflow } from "../../../examples/flaky.ts";
import { startEngine } from "../../support/engine.ts";

describe("worker HTTP endpoints", () => {
  function server(
    overrides: { since?: number; draining?: boolean; ping?: () => Promise<void>; problem?: string } = {},
  ) {
    const metrics = new WorkerMetrics({
      workflow: "wf",
      inFlight: () => 2,
      draining: () => overrides.draining ?? false,
      depth: async () => ({ ready: 5, inFlight: 2, delayed: 1, dead: 0 }),
    });
    return buildHttpServer({
      registry: metrics.registry,
      health: {
        sinceProgressMs: () => overrides.since ?? 10,
        stallAfterMs: 60_000,
        draining: () => overrides.draining ?? false,
        pingStore: overrides.ping ?? (async () => undefined),
        pingTimeoutMs: 200,
        storeProblem: () => overrides.problem ?? null,
      },
    });
  }

  test("/healthz is 200 while the loops progress and 503 when they stall", async () => {
    const ok = await server();
    assert.equal((await ok.inject({ url: "/healthz" })).statusCode, 200);
    const stalled = await server({ since: 120_000 });
    const response = await stalled.inject({ url: "/healthz" });
    assert.equal(response.statusCode, 503);
    assert.match(response.json<{ reason: string }>().reason, /no claim-loop progress for 120 s/);
  });

  test("/readyz is 503 while draining or when the store does not answer", async () => {
    assert.equal((await (await server()).inject({ url: "/readyz" })).statusCode, 200);
    assert.deepEqual((await (await server({ draining: true })).inject({ url: "/readyz" })).json(), {
      status: "draining",
    });
    const down = await server({
      ping: async () => Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:6379")),
    });
    const response = await down.inject({ url: "/readyz" });
    assert.equal(response.statusCode, 503);
    assert.match(response.body, /ECONNREFUSED/);
    const hung = await server({ ping: () => new Promise(() => undefined) });
    assert.match((await hung.inject({ url: "/readyz" })).body, /no answer within 200 ms/);
  });

  test("/readyz is 503 naming the key while the store answers but a key it needs is corrupt", async () => {
    const corrupt = await server({ problem: "key {floxide:wf}:leases is a string, not a zset" });
    const response = await corrupt.inject({ url: "/readyz" });
    assert.equal(response.statusCode, 503);
    assert.deepEqual(response.json(), {
      status: "store-unusable",
      reason: "key {floxide:wf}:leases is a string, not a zset",
    });
  });

  test("nothing but health and metrics is served", async () => {
    const app = await server();
    assert.equal((await app.inject({ url: "/" })).statusCode, 404);
    assert.equal((await app.inject({ url: "/runs" })).statusCode, 404);
    assert.equal((await app.inject({ method: "POST", url: "/healthz" })).statusCode, 404);
  });

  test("/metrics serves the documented series with values from a known workload", async () => {
    const registryHolder: { metrics?: WorkerMetrics } = {};
    const engine = startEngine(flakyWorkflow, {
      onStep: (report) => registryHolder.metrics?.recordStep(report),
    });
    registryHolder.metrics = new WorkerMetrics({
      workflow: "flaky",
      inFlight: () => engine.pools[0]?.inFlight ?? 0,
      draining: () => false,
      depth: () => engine.store.depth(),
    });
    try {
      const ok = await engine.orchestrator.start({ succeedOnAttempt: 2 });
      const dead = await engine.orchestrator.start({ succeedOnAttempt: 99 });
      await engine.orchestrator.wait(ok.runId);
      await engine.orchestrator.wait(dead.runId);
      const app = await buildHttpServer({
        registry: registryHolder.metrics.registry,
        health: {
          sinceProgressMs: () => 0,
          stallAfterMs: 1,
          draining: () => false,
          pingStore: async () => undefined,
          pingTimeoutMs: 100,
        },
      });
      const response = await app.inject({ url: "/metrics" });
      assert.equal(response.statusCode, 200);
      assert.match(response.headers["content-type"] as string, /text\/plain/);
      const body = response.body;
      const value = (series: string): number => {
        const line = body.split("\n").find((l) => l.startsWith(series + " "));
        assert.ok(line, `series ${series} missing`);
        return Number(line.split(" ")[1]);
      };
      assert.equal(value('floxide_steps_total{workflow="flaky",node="flaky",outcome="completed"}'), 1);
      assert.equal(value('floxide_steps_total{workflow="flaky",node="flaky",outcome="retried"}'), 5);
      assert.equal(value('floxide_steps_total{workflow="flaky",node="flaky",outcome="dead_lettered"}'), 1);
      assert.equal(value('floxide_retries_total{workflow="flaky",node="flaky"}'), 5);
      assert.equal(value('floxide_dead_lettered_total{workflow="flaky",node="flaky"}'), 1);
      assert.equal(value('floxide_step_duration_seconds_count{workflow="flaky",node="flaky"}'), 7);
      assert.equal(value('floxide_queue_depth{workflow="flaky",state="dead"}'), 1);
      assert.equal(value('floxide_queue_depth{workflow="flaky",state="ready"}'), 0);
      assert.equal(value('floxide_steps_in_flight{workflow="flaky"}'), 0);
      assert.equal(value('floxide_worker_draining{workflow="flaky"}'), 0);
    } finally {
      await engine.stop();
    }
  });
});
