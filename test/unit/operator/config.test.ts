import { test } from "node:test";
import assert from "node:assert/strict";
import { loadOperatorConfig } from "../../../operator/config.ts";
import { operatorMain } from "../../../operator/main.ts";

test("defaults: all namespaces, leader election on, 15/10/2 s Lease timings", () => {
  const config = loadOperatorConfig({}, { POD_NAME: "op-0" });
  assert.deepEqual(config.namespaces, []);
  assert.equal(config.leaderElect, true);
  assert.deepEqual(
    [config.leaseDurationSeconds, config.renewDeadlineSeconds, config.retryPeriodSeconds],
    [15, 10, 2],
  );
  assert.equal(config.identity, "op-0");
});

test("flags win over the environment; a namespace list is split and checked", () => {
  const config = loadOperatorConfig({ namespaces: "a, b" }, { FLOXIDE_OPERATOR_NAMESPACES: "c" });
  assert.deepEqual(config.namespaces, ["a", "b"]);
  assert.throws(() => loadOperatorConfig({ namespaces: "Not_A_Namespace" }, {}), /namespaces/);
  assert.throws(() => loadOperatorConfig({ renewDeadlineSeconds: "20" }, {}), /renew-deadline/);
});

test("invalid configuration exits with 2 before touching the cluster", async () => {
  const stderr = process.stderr.write;
  process.stderr.write = () => true;
  try {
    assert.equal(await operatorMain({ concurrency: "0" }, {}), 2);
  } finally {
    process.stderr.write = stderr;
  }
});
