import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

const cli = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", "cli/main.ts", ...args], {
    encoding: "utf8",
    timeout: 60_000,
  });

test("floxide demo runs the video example to completion and prints a summary (non-TTY)", () => {
  const result = cli("demo", "--runs", "30", "--concurrency", "4", "--max-delay", "1");
  assert.equal(result.status, 0, result.stderr);
  const summary = result.stdout.trim().split("\n").at(-1) ?? "";
  assert.match(summary, /^summary: runs completed 30\/30, failed 0, steps 390, [\d.]+ s, \d+ steps\/s$/);
  assert.match(result.stdout, /^floxide demo: 30 runs of 'video'/);
  assert.match(result.stdout, /\nruns \d+\/30 /, "progress lines are plain lines when stdout is not a TTY");
});

test("floxide exits 2 with the usage on bad arguments", () => {
  const bad = cli("demo", "--runs", "lots");
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--runs must be an integer from 1 to 1000000, got 'lots'/);
  const unknown = cli("frobnicate");
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown command 'frobnicate'/);
});
