import assert from "node:assert/strict";
import { test } from "node:test";
import type { DemoSummary } from "../../../cli/local/index.ts";
import { runFloxide } from "../../support/floxide-process.ts";
import { startRedis } from "../../support/redis.ts";

/** Runs `floxide demo` to its end, stdout not a TTY; resolves with its exit code and output. */
const runDemo = (args: string[], env: NodeJS.ProcessEnv) => runFloxide(["demo", ...args], { env });

const small = ["--runs", "40", "--max-delay", "1", "--concurrency", "4", "--target", "10"];

test("with redis-server on PATH, the demo scales worker processes up from 0 and back to 0, and completes every run", async () => {
  const env = { ...process.env };
  delete env.REDIS_URL;
  delete env.FLOXIDE_REDIS_URL;
  const result = await runDemo(small, env);
  assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
  const lines = result.stdout.trim().split("\n");
  assert.match(
    result.stdout,
    /^floxide demo: 40 runs of 'video' .* on redis-server .* workers: processes, 0 to 4/,
  );
  assert.match(
    lines.at(-1) ?? "",
    /^summary: runs completed 40\/40, failed 0, steps 520, [\d.]+ s, \d+ steps\/s$/,
  );
  const scaleLines = lines.filter((line) => line.startsWith("scale: "));
  assert.match(scaleLines[0] ?? "", /^scale: 0 -> [1-4] workers \(Activated: backlog \d+/);
  assert.match(scaleLines.at(-1) ?? "", /^scale: [1-4] -> 0 workers \(ScaledToZero/);
  assert.match(
    lines.at(-2) ?? "",
    /^scaling: workers 0 -> .* -> 0, max [1-4], \d+ scale events, back to zero$/,
  );
});

test("--json prints one machine-readable summary with the scaling history (FLOXIDE_REDIS_URL wins)", async () => {
  const redis = await startRedis();
  try {
    const result = await runDemo([...small, "--json"], { ...process.env, FLOXIDE_REDIS_URL: redis.url });
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    const summary = JSON.parse(result.stdout.trim()) as DemoSummary;
    assert.equal(summary.backend, "redis-url");
    assert.equal(summary.completed, 40);
    assert.equal(summary.steps, 520);
    assert.ok(summary.maxWorkers >= 1 && summary.maxWorkers <= 4);
    assert.equal(summary.scaleEvents[0]?.from, 0);
    assert.equal(summary.scaleEvents.at(-1)?.to, 0);
    assert.equal(summary.scaledBackToZero, true);
  } finally {
    await redis.stop();
  }
});
