import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

const cli = (...args: string[]) =>
  spawnSync(process.execPath, ["cli/main.ts", ...args], {
    encoding: "utf8",
    timeout: 30_000,
    env: { ...process.env, FLOXIDE_REDIS_URL: "" },
  });

test("run start with input that is not JSON exits 2 before touching Redis", () => {
  const result = cli(
    "run",
    "start",
    "examples/video.ts",
    "--input",
    "{oops",
    "--redis",
    "redis://127.0.0.1:1",
  );
  assert.equal(result.status, 2);
  assert.match(result.stderr, /--input is not valid JSON/);
});

test("run commands need a workflow and a Redis URL, and say so", () => {
  const noWorkflow = cli("run", "status", "some-id", "--redis", "redis://127.0.0.1:1");
  assert.equal(noWorkflow.status, 2);
  assert.match(noWorkflow.stderr, /--workflow is required/);
  const noRedis = cli("run", "status", "some-id", "--workflow", "video");
  assert.equal(noRedis.status, 2);
  assert.match(noRedis.stderr, /FLOXIDE_REDIS_URL \(or --redis\) is required/);
});

test("an unreachable Redis is StoreUnavailable (exit 1) and the password is not shown", () => {
  const result = cli("run", "list", "--workflow", "video", "--redis", "redis://:hunter2@127.0.0.1:1");
  assert.equal(result.status, 1);
  assert.match(result.stderr, /StoreUnavailable: cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1/);
  assert.doesNotMatch(result.stderr + result.stdout, /hunter2/);
});
