/**
 * The long chaos run (`npm run test:chaos`, estimated 15–25 minutes on 2 cores; not part of
 * `npm test`): 500 video runs on Redis with `appendfsync always`, then 200 with
 * `appendfsync everysec`, each with workers SIGKILLed about every second, frozen workers,
 * Redis crashes and a 10 s Redis outage. The same checks as the bounded run. Then a Redis
 * Cluster failover (3+3) under 2,000 runs with workers SIGKILLed every ~2 s, per durability
 * (the long form of cluster-failover.test.ts).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { formatReport, runChaos, verifyVideoRuns, type ChaosCluster } from "../support/chaos.ts";
import {
  runFailover,
  startFailoverEnv,
  stopFailoverEnv,
  type FailoverEnv,
} from "../support/cluster-failover.ts";

describe("long chaos", () => {
  const clusters: ChaosCluster[] = [];
  after(async () => {
    for (const cluster of clusters) await cluster.close();
  });

  for (const [appendfsync, runs] of [
    ["always", 500],
    ["everysec", 200],
  ] as const) {
    test(
      `${runs} video runs, appendfsync ${appendfsync}: all complete exactly once`,
      { timeout: 1_500_000 },
      async (t) => {
        const result = await runChaos(
          {
            runs,
            maxDelayMs: 1000,
            workers: 4,
            concurrency: 4,
            leaseMs: 2000,
            killEveryMs: 1000,
            appendfsync,
            faults: [
              { kind: "freeze-worker", at: 0.1 },
              { kind: "crash-redis", at: 0.25 },
              { kind: "redis-outage", at: 0.4, forMs: 10_000 },
              { kind: "freeze-worker", at: 0.6 },
              { kind: "crash-redis", at: 0.75 },
            ],
            timeoutMs: 1_200_000,
          },
          (line) => t.diagnostic(line),
        );
        clusters.push(result.cluster);
        t.diagnostic(formatReport(result.report));
        assert.equal(result.report.faults.length, 5, "every fault hit the load");
        await verifyVideoRuns(result.cluster.store, result.runIds);
      },
    );
  }
});

describe("long cluster failover", () => {
  let env: FailoverEnv;
  before(async () => {
    env = await startFailoverEnv();
  });
  after(async () => {
    await stopFailoverEnv(env);
  });

  for (const durability of ["replicated", "fast"] as const) {
    test(
      `2,000 runs, ${durability}, workers SIGKILLed every ~2 s, the replica cut off 1.5 s at the master's kill`,
      { timeout: 600_000 },
      async (t) => {
        const report = await runFailover(env, {
          durability,
          runs: 2000,
          laggingReplicaMs: 1500,
          killWorkerEveryMs: 2000,
          timeoutMs: 400_000,
        });
        t.diagnostic(`failover report: ${JSON.stringify(report)}`);
        if (durability === "replicated")
          assert.equal(report.acknowledgedCommitsLost, 0, "a reported step was lost");
        assert.ok(report.reExecutions >= report.acknowledgedCommitsLost, JSON.stringify(report));
      },
    );
  }
});
