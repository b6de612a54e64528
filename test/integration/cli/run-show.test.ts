import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { RunReport } from "../../../cli/show.ts";
import { runFloxide } from "../../support/floxide-process.ts";
import { startRedis, type RedisServer } from "../../support/redis.ts";
import { killAll, startWorkerProcess, type WorkerProcess } from "../../support/worker-process.ts";

const WORKFLOW = "test/integration/cli/retry-and-fail.workflow.ts";

const floxide = (args: string[], redisUrl: string) => runFloxide([...args, "--redis", redisUrl]);

let redis: RedisServer;
let worker: WorkerProcess;
let runId: string;

before(async () => {
  redis = await startRedis();
  worker = await startWorkerProcess({ workflow: WORKFLOW, redisUrl: redis.url, args: ["--block-ms", "200"] });
  const started = await floxide(
    ["run", "start", WORKFLOW, "--input", '{"order":"o-1"}', "--json"],
    redis.url,
  );
  assert.equal(started.code, 0, started.stderr);
  runId = (JSON.parse(started.stdout) as { runId: string }).runId;
  const waited = await floxide(
    ["run", "wait", runId, "--workflow", "retry-and-fail", "--timeout", "30"],
    redis.url,
  );
  assert.equal(waited.code, 1, "a failed run exits 1");
  assert.match(waited.stdout, /: failed/);
});

after(async () => {
  await killAll([worker]);
  await redis.stop();
});

test("floxide run show lists the retried item and the failed item, with the run's error", async () => {
  const shown = await floxide(["run", "show", runId, "--workflow", WORKFLOW], redis.url);
  assert.equal(shown.code, 0, shown.stderr);
  const text = shown.stdout;
  assert.match(text, new RegExp(`^run ${runId}  failed`));
  assert.match(text, /\nversion +1 \(pinned: only workers of this version run its items\)/);
  // Per-node table: flaky took 2 attempts and completed, doomed took 2 and failed.
  assert.match(text, /\n {2}flaky +1 +2 +1 +0 /);
  assert.match(text, /\n {2}doomed +1 +2 +0 +1 /);
  assert.match(text, /flaky {2}attempt 1 {2}retry {2}\w+: flaky failure on attempt 1/);
  assert.match(text, /doomed {2}attempt 1 {2}retry {2}\w+: doomed: order o-1 cannot be shipped/);
  assert.match(text, /doomed {2}attempt 2 {2}(dead|fail) {2}\w+: doomed: order o-1 cannot be shipped/);
  assert.match(text, /run error: \w+: .*doomed: order o-1 cannot be shipped.*\(node doomed\)/);
  assert.match(text, /events \(1\):\n {2}#1 {2}flaky {2}\{"type":"flaky-succeeded","attempt":2\}/);
});

test("floxide run show --json has the same facts for scripts", async () => {
  const shown = await floxide(["run", "show", runId, "--workflow", "retry-and-fail", "--json"], redis.url);
  assert.equal(shown.code, 0, shown.stderr);
  const report = JSON.parse(shown.stdout) as RunReport;
  assert.equal(report.run.status, "failed");
  const byNode = new Map(report.nodes.map((row) => [row.node, row]));
  assert.deepEqual(
    { attempts: byNode.get("flaky")?.attempts, completed: byNode.get("flaky")?.completed },
    { attempts: 2, completed: 1 },
  );
  assert.deepEqual(
    { attempts: byNode.get("doomed")?.attempts, failed: byNode.get("doomed")?.failed },
    { attempts: 2, failed: 1 },
  );
  assert.deepEqual(report.errors.map((error) => `${error.node}#${error.attempt}:${error.action}`).sort(), [
    "doomed#1:retry",
    "doomed#2:dead",
    "flaky#1:retry",
  ]);
});
