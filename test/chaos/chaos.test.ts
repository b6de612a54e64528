/**
 * Bounded chaos (runs in `npm test`, about 1 minute alone, 2 beside other tests): 4 worker processes, 60 video runs,
 * a worker SIGKILLed about every second and replaced, one frozen past its lease, Redis (AOF,
 * appendfsync always) crashed and restarted, then down for 3 s. Nothing may be lost or applied
 * twice. The long run is test/chaos/long.chaos.ts (`npm run test:chaos`).
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { formatReport, runChaos, verifyVideoRuns, type ChaosCluster } from "../support/chaos.ts";

describe("chaos: worker kills, a frozen worker, Redis crashes and an outage", () => {
  let cluster: ChaosCluster | undefined;
  after(async () => {
    await cluster?.close();
  });

  test(
    "60 video runs all complete exactly once under faults",
    // Deadlines for completion, not speed: a worker is SIGKILLed and replaced every second, and
    // on a busy 2-core machine (CI runs this beside other suites) a replacement takes seconds to
    // start; the assertions are that every run completes exactly once.
    {
      timeout: 540_000,
    },
    async (t) => {
      const result = await runChaos(
        {
          runs: 60,
          maxDelayMs: 1000,
          workers: 4,
          concurrency: 4,
          leaseMs: 2000,
          killEveryMs: 1000,
          appendfsync: "always",
          faults: [
            { kind: "freeze-worker", at: 0.15 },
            { kind: "crash-redis", at: 0.35 },
            { kind: "redis-outage", at: 0.55, forMs: 3_000 },
          ],
          timeoutMs: 480_000,
        },
        (line) => t.diagnostic(line),
      );
      cluster = result.cluster;
      t.diagnostic(formatReport(result.report));
      assert.equal(result.report.faults.length, 3, "every fault hit the load");
      await verifyVideoRuns(result.cluster.store, result.runIds);
    },
  );
});
