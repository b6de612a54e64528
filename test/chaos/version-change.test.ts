/**
 * Bounded chaos during a version change (runs in `npm test`): version 1 workers with 50 runs in
 * flight, new runs go to version 2, version 1 drains while its workers are SIGKILLed and
 * replaced, then is retired. No run may fail, be lost or run a step twice.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import type { ChaosCluster } from "../support/chaos.ts";
import { verifyVideoRuns } from "../support/chaos.ts";
import { runVersionChange } from "../support/version-chaos.ts";

describe("chaos: a version change under load", () => {
  let cluster: ChaosCluster | undefined;
  after(async () => {
    await cluster?.close();
  });

  test(
    "50 runs in flight on version 1, 20 new ones on version 2: every run completes once on its own version",
    // Deadlines for completion, not speed (a 2-core machine shared with other suites).
    { timeout: 540_000 },
    async (t) => {
      const result = await runVersionChange(
        {
          v1Runs: 50,
          v2Runs: 20,
          workers: 2,
          concurrency: 4,
          leaseMs: 2000,
          maxDelayMs: 500,
          killEveryMs: 1500,
          timeoutMs: 480_000,
        },
        (line) => t.diagnostic(line),
      );
      cluster = result.cluster;
      t.diagnostic(`v1 workers SIGKILLed while draining: ${result.v1Kills}`);
      assert.ok(result.stepsAtChange < 50 * 13, "version 1 runs were in flight at the change");
      assert.ok(result.v1Kills > 0, "version 1 drained under SIGKILLs");
      assert.equal(result.retired, true, "version 1 retired (forgotten with nothing left)");
      await verifyVideoRuns(result.cluster.store, [...result.v1RunIds, ...result.v2RunIds]);
    },
  );
});
