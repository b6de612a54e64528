/**
 * Workers always exit: after a clean drain with 0 even when the workflow module holds open
 * handles, and with 1 after the drain timeout plus a short grace when Redis cannot be reached,
 * saying why in the log.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { startRedis } from "../../support/redis.ts";
import { bedWithRedis } from "../../support/worker-bed.ts";
import { waitFor } from "../../support/wait.ts";
import { killAll, startWorkerProcess } from "../../support/worker-process.ts";

const HOLDS_HANDLE = "test/integration/worker/workflows/holds-handle.ts";

/** The exit code, or a timeout error once `ms` passed with the process still alive. */
function exitWithin(exited: Promise<number | string>, ms: number): Promise<number | string> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the worker was still alive ${ms} ms after SIGTERM`)), ms);
  });
  return Promise.race([exited, deadline]).finally(() => clearTimeout(timer));
}

describe("worker exit", () => {
  const { bed } = bedWithRedis("exit");

  test("a worker whose module holds an open handle exits 0 after a clean drain", async () => {
    const { orchestrator, worker } = await bed.setup(HOLDS_HANDLE);
    const process = await worker(["--drain-timeout", "5"]);
    const { runId } = await orchestrator.start({ a: 1 });
    assert.equal((await orchestrator.wait(runId, { timeoutMs: 20_000, pollMs: 50 })).status, "completed");
    process.signal("SIGTERM");
    assert.equal(await exitWithin(process.exited, 15_000), 0);
    assert.ok(process.logs.some((line) => line.msg === "worker exiting" && line.code === 0));
  });

  test("a worker sent SIGTERM while Redis is unreachable exits 1 after the drain timeout and a grace", async () => {
    const own = await startRedis();
    const process = await startWorkerProcess({
      workflow: HOLDS_HANDLE,
      redisUrl: own.url,
      args: ["--drain-timeout", "2"],
    });
    try {
      await own.stop();
      process.signal("SIGTERM");
      assert.equal(await exitWithin(process.exited, 20_000), 1);
      const line = await waitFor(() => process.logs.find((l) => l.msg === "worker exiting"));
      assert.equal(line.code, 1);
      assert.match(String(line.reason), /drain/);
    } finally {
      await killAll([process]);
      await own.stop().catch(() => undefined);
    }
  });
});
