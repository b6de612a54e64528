/**
 * The long chaos run (`npm run test:chaos`, estimated 15–25 minutes on 2 cores; not part of
 * `npm test`): 500 video runs on Redis with `appendfsync always`, then 200 with
 * `appendfsync everysec`, each with workers SIGKILLed about every second, frozen workers,
 * Redis crashes and a 10 s Redis outage. The same checks as the bounded run.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { formatReport, runChaos, verifyVideoRuns, type ChaosCluster } from "../support/chaos.ts";

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
