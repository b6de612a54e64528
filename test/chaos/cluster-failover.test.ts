/**
 * A Redis Cluster master fails over under load (test/support/cluster-failover.ts): 3 masters + 3
 * replicas, two worker processes, 400 runs of three steps (one test over 6 partitions); the master of the workflow's slot is
 * SIGKILLed at 30 % of the steps (in the first test, workers are SIGKILLed and replaced too).
 * For each durability every run completes with each step committed exactly once and nothing
 * wedged; `replicated` must lose no step it reported, even when the replica lagged behind at the
 * moment of the kill, where `fast` loses what the replica had not received (counted, printed).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  runFailover,
  startFailoverEnv,
  stopFailoverEnv,
  type FailoverEnv,
} from "../support/cluster-failover.ts";
import { notReferencePass } from "../support/node-lines.ts";

const RUNS = 400;
/** A replica that stops acknowledging for this long right before its master dies. */
const LAG_MS = 1500;

// About a minute of Redis failovers: once per `npm test`, on the reference pass (node-lines.ts).
const skip = notReferencePass("the cluster failover suite");

let env: FailoverEnv;
before(async () => {
  if (skip === undefined) env = await startFailoverEnv();
});
after(async () => {
  await stopFailoverEnv(env);
});

describe(
  "a cluster master fails over mid-run (3 masters + 3 replicas, workers as processes)",
  { skip },
  () => {
    test("durability replicated, replica in sync, workers SIGKILLed too: every run completes exactly once, no reported step lost", async (t) => {
      const report = await runFailover(env, {
        durability: "replicated",
        runs: RUNS,
        killWorkerEveryMs: 3000,
      });
      t.diagnostic(`failover report: ${JSON.stringify(report)}`);
      assert.equal(report.acknowledgedCommitsLost, 0, "a step reported committed was lost");
    });

    test("durability replicated, replica lagging at the kill: still no reported step lost", async (t) => {
      const report = await runFailover(env, {
        durability: "replicated",
        runs: RUNS,
        laggingReplicaMs: LAG_MS,
      });
      t.diagnostic(`failover report: ${JSON.stringify(report)}`);
      assert.equal(report.acknowledgedCommitsLost, 0, "a step reported committed was lost");
    });

    test("durability replicated over 6 partitions on the 3 masters, replica lagging, workers SIGKILLed too: no reported step lost", async (t) => {
      const report = await runFailover(env, {
        durability: "replicated",
        runs: RUNS,
        partitions: 6,
        laggingReplicaMs: LAG_MS,
        killWorkerEveryMs: 3000,
      });
      t.diagnostic(`failover report: ${JSON.stringify(report)}`);
      assert.equal(report.acknowledgedCommitsLost, 0, "a step reported committed was lost");
    });

    test("durability fast, replica lagging at the kill: the lost commits run again, every run completes", async (t) => {
      const report = await runFailover(env, {
        durability: "fast",
        runs: RUNS,
        laggingReplicaMs: LAG_MS,
      });
      t.diagnostic(`failover report: ${JSON.stringify(report)}`);
      // What the replica had not received is lost with the master: reported, then run and reported again.
      assert.ok(
        report.acknowledgedCommitsLost > 0,
        `the lag lost no acknowledged commit: ${JSON.stringify(report)}`,
      );
      assert.ok(report.reExecutions >= report.acknowledgedCommitsLost, JSON.stringify(report));
    });
  },
);
