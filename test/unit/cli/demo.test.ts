import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

const cli = (args: string[], env: NodeJS.ProcessEnv = process.env) =>
  spawnSync(process.execPath, ["cli/main.ts", ...args], {
    encoding: "utf8",
    timeout: 60_000,
    env,
  });

test("without FLOXIDE_REDIS_URL or redis-server on PATH, floxide demo falls back to memory, says so and completes (non-TTY)", () => {
  const emptyDir = mkdtempSync(join(tmpdir(), "floxide-no-redis-"));
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: emptyDir };
    delete env.REDIS_URL;
    delete env.FLOXIDE_REDIS_URL;
    const result = cli(["demo", "--runs", "30", "--concurrency", "4", "--max-delay", "1"], env);
    assert.equal(result.status, 0, result.stderr);
    const lines = result.stdout.trim().split("\n");
    assert.match(
      lines.at(-1) ?? "",
      /^summary: runs completed 30\/30, failed 0, steps 390, [\d.]+ s, \d+ steps\/s$/,
    );
    assert.match(
      result.stdout,
      /^floxide demo: 30 runs of 'video' .* on memory backend with in-process workers \(no --redis or FLOXIDE_REDIS_URL, and no redis-server on PATH\)/,
    );
    assert.match(result.stdout, /\nruns \d+\/30 /, "progress lines are plain lines when stdout is not a TTY");
    assert.match(result.stdout, /\nscale: 0 -> [1-4] workers \(Activated/);
    assert.match(
      lines.at(-2) ?? "",
      /^scaling: workers 0 -> .* -> 0, max [1-4], \d+ scale events, back to zero$/,
    );
  } finally {
    rmSync(emptyDir, { recursive: true, force: true });
  }
});

test("floxide exits 2 with the usage on bad arguments", () => {
  const bad = cli(["demo", "--runs", "lots"]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--runs must be an integer from 1 to 1000000, got 'lots'/);
  const backend = cli(["demo", "--backend", "etcd"]);
  assert.equal(backend.status, 2);
  assert.match(backend.stderr, /--backend must be one of auto, redis, memory, got 'etcd'/);
  const unknown = cli(["frobnicate"]);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown command 'frobnicate'/);
});
