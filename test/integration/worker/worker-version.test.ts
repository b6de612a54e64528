/** A worker runs the workflow version its WorkflowDeployment names, or does not start at all. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { WORKER_OPTIONS } from "../../../contract/index.ts";

const STEPS = "test/support/workflows/steps.ts"; // declares version "1"

function worker(version: string) {
  return spawnSync(process.execPath, ["cli/main.ts", "worker", "--workflow", STEPS, "--port", "0"], {
    env: {
      ...process.env,
      // Never reached: the version is checked before the worker connects.
      FLOXIDE_REDIS_URL: "redis://127.0.0.1:1",
      [WORKER_OPTIONS.workflowVersion.env]: version,
    },
    encoding: "utf8",
    timeout: 60_000,
  });
}

test("a worker whose module declares another version than it was started for refuses, naming both and the fix", () => {
  const result = worker("2");
  assert.notEqual(result.status, 0);
  const output = `${result.stdout}${result.stderr}`;
  assert.match(output, /declares version '1', but this worker was started for version '2'/);
  assert.match(output, /FLOXIDE_WORKFLOW_VERSION/);
  assert.match(output, /set spec\.version to '1'/);
});
