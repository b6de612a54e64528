/**
 * What `appendfsync everysec` can lose, and what that costs us. Redis writes every command to
 * the AOF before it replies, but with everysec it fsyncs only once a second: a crash of the
 * machine (not of the redis-server process, whose writes sit in the page cache) loses the tail
 * written since the last fsync, possibly torn mid-command. This test reproduces exactly that:
 * it notes the AOF size, lets more commits be acknowledged, SIGKILLs Redis and cuts the AOF
 * back to a point inside that tail before Redis restarts on it.
 */
import assert from "node:assert/strict";
import { readdirSync, statSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { Redis } from "ioredis";
import type { WorkflowStore } from "../../worker/store/index.ts";
import {
  countRefusedCommits,
  startChaosCluster,
  verifyVideoRuns,
  type ChaosCluster,
} from "../support/chaos.ts";
import { waitFor } from "../support/wait.ts";

const CHUNKS = 10;

async function aofTail(url: string): Promise<string> {
  const admin = new Redis(url);
  try {
    const [, dir] = (await admin.config("GET", "dir")) as [string, string];
    const [, sub] = (await admin.config("GET", "appenddirname")) as [string, string];
    const files = readdirSync(join(dir, sub)).filter((f) => f.endsWith(".incr.aof"));
    assert.equal(files.length, 1, `one incremental AOF file: ${files.join(", ")}`);
    return join(dir, sub, files[0] as string);
  } finally {
    admin.disconnect();
  }
}

const stepsOf = async (store: WorkflowStore): Promise<number> =>
  Object.values((await store.readMetrics()).nodes).reduce((sum, node) => sum + node.completed, 0);

/** Every commit is all or nothing: an item's events exist iff it completed, fan-outs and joins are whole. */
async function assertNoHalfAppliedCommit(store: WorkflowStore, runId: string): Promise<number> {
  const items = await store.listItems(runId);
  const events = await store.readEvents(runId, 0);
  const done = (node: string) => items.filter((i) => i.node === node && i.status === "completed");
  for (const item of items) {
    const own = events.filter((e) => e.itemId === item.itemId).length;
    const emits = item.node === "encode" || item.node === "publish";
    assert.equal(
      own,
      emits && item.status === "completed" ? 1 : 0,
      `run ${runId}: item ${item.node} ${item.status} has ${own} events`,
    );
  }
  const encodes = items.filter((i) => i.node === "encode").length;
  assert.equal(encodes, done("split").length === 1 ? CHUNKS : 0, `run ${runId}: the fan-out is whole`);
  const assembles = items.filter((i) => i.node === "assemble").length;
  assert.equal(
    assembles,
    done("encode").length === CHUNKS ? 1 : 0,
    `run ${runId}: the join fired iff all in`,
  );
  const publishes = items.filter((i) => i.node === "publish").length;
  assert.equal(publishes, done("assemble").length, `run ${runId}: publish follows assemble`);
  const info = await store.getRun(runId);
  assert.equal(info?.status === "completed", done("publish").length === 1, `run ${runId}: status`);
  return items.filter((i) => i.status === "completed").length;
}

describe("appendfsync everysec: a lost tail of acknowledged commits", () => {
  let cluster: ChaosCluster | undefined;
  after(async () => {
    await cluster?.close();
  });

  test("is re-executed after the crash, never half-applied", { timeout: 180_000 }, async (t) => {
    cluster = await startChaosCluster({ workers: 2, concurrency: 4, leaseMs: 1500, appendfsync: "everysec" });
    const { store, orchestrator, redis } = cluster;
    const runIds: string[] = [];
    for (let i = 0; i < 30; i += 1)
      runIds.push((await orchestrator.start({ video: `aof-${i}`, maxDelayMs: 300 })).runId);
    await waitFor(async () => (await stepsOf(store)) >= 100, {
      timeoutMs: 60_000,
      message: "100 committed steps",
    });
    const file = await aofTail(redis.url);
    const cut = statSync(file).size;
    const atCut = await stepsOf(store);
    await waitFor(async () => (await stepsOf(store)) >= atCut + 60, {
      timeoutMs: 60_000,
      message: "60 more acknowledged steps after the cut",
    });
    // Freeze the workers so the store can be inspected as Redis brings it back.
    for (const worker of cluster.live) worker.signal("SIGSTOP");
    const acknowledged = await stepsOf(store);
    await redis.kill();
    // A torn tail: cut a few bytes into the next command after the "last fsync".
    truncateSync(file, cut + 37);
    await redis.restart();
    const survived = await stepsOf(store);
    t.diagnostic(
      `acknowledged steps ${acknowledged}, after the crash ${survived}: lost ${acknowledged - survived}`,
    );
    assert.ok(survived < acknowledged, "acknowledged commits were lost");
    assert.ok(survived >= atCut - 8, "nothing before the cut was lost");

    let completedItems = 0;
    for (const runId of runIds) completedItems += await assertNoHalfAppliedCommit(store, runId);
    assert.equal(completedItems, survived, "metrics counters roll back with the commits they count");

    for (const worker of cluster.live) worker.signal("SIGCONT");
    await waitFor(async () => (await store.readMetrics()).runsCompleted === runIds.length, {
      timeoutMs: 120_000,
      intervalMs: 200,
      message: "every run to complete after the crash",
    });
    await verifyVideoRuns(store, runIds);
    let redelivered = 0;
    for (const runId of runIds)
      redelivered += (await store.listItems(runId)).filter((i) => i.attempt > 1).length;
    t.diagnostic(
      `items re-delivered ${redelivered}, lease reclaims ${(await store.readMetrics()).leaseReclaims}, ` +
        `commits refused by fencing ${countRefusedCommits(cluster.all)}`,
    );
    assert.ok(redelivered > 0, "the lost commits' items were run again");
  });
});
