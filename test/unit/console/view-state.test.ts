import assert from "node:assert/strict";
import { test } from "node:test";
import { nodeViews } from "../../../console/server/node-states.ts";
import { WorkflowSampler } from "../../../console/server/sampler.ts";
import { ViewCache } from "../../../console/server/view-cache.ts";
import type { ItemState, RunDetail, WorkItem } from "../../../worker/store/index.ts";

const state = (node: string, status: ItemState["status"], extra: Partial<ItemState> = {}): ItemState => ({
  itemId: `${node}-${status}`,
  runId: "r",
  node,
  status,
  attempt: 1,
  updatedAt: 1000,
  durationMs: 5,
  lastError: null,
  ...extra,
});

const item = (id: string, node: string): WorkItem => ({
  id,
  runId: "r",
  workflow: "w",
  version: "1",
  node,
  input: null,
  attempt: 1,
  maxAttempts: 3,
  frames: [],
  enqueuedAt: 0,
});

function detail(items: ItemState[], extra: Partial<RunDetail> = {}): RunDetail {
  return {
    now: 5000,
    run: {} as RunDetail["run"],
    items,
    events: [],
    eventsTotal: 0,
    errors: [],
    leased: [],
    retrying: [],
    held: [],
    parked: [],
    checkpoint: null,
    malformed: [],
    ...extra,
  };
}

test("a node's state is its most urgent item's: failed over running over retrying over held over done", () => {
  const views = nodeViews(
    detail([
      state("a", "completed"),
      state("b", "completed"),
      state("b", "running"),
      state("c", "retrying"),
      state("c", "completed"),
      state("d", "held"),
      state("e", "dead", { lastError: { code: "NodeFailed", message: "boom" } }),
      state("e", "running"),
      state("f", "parked"),
      state("g", "cancelled"),
    ]),
    ["a", "b", "c", "d", "e", "f", "g", "h"],
  );
  assert.deepEqual(
    views.map((v) => [v.node, v.state]),
    [
      ["a", "done"],
      ["b", "running"],
      ["c", "retrying"],
      ["d", "held"],
      ["e", "failed"],
      ["f", "parked"],
      ["g", "cancelled"],
      ["h", "idle"],
    ],
  );
  assert.equal(views[4]?.lastError, "NodeFailed: boom");
});

test("a running node names its worker and lease age; a retrying one its due time; unknown nodes come last", () => {
  const views = nodeViews(
    detail(
      [state("a", "running", { itemId: "i1", updatedAt: 4000 }), state("x", "retrying", { itemId: "i2" })],
      {
        leased: [{ item: item("i1", "a"), workerId: "pod-1/0", deadline: 9000 }],
        retrying: [{ item: item("i2", "x"), due: 7000 }],
      },
    ),
    ["a"],
  );
  assert.deepEqual(views[0]?.leases, [{ workerId: "pod-1/0", ageMs: 1000, deadline: 9000 }]);
  assert.equal(views[1]?.node, "x");
  assert.equal(views[1]?.retryDue, 7000);
});

test("steps per second come from successive counter readings; old samples leave the window", () => {
  const sampler = new WorkflowSampler(10_000);
  const depth = { ready: 1, inFlight: 0, delayed: 0, dead: 0 };
  assert.equal(sampler.record("w", 0, depth, 100).at(-1)?.stepsPerSecond, null);
  assert.equal(sampler.record("w", 2000, depth, 160).at(-1)?.stepsPerSecond, 30);
  assert.equal(sampler.record("w", 2000, depth, 999).length, 2, "a reading at the same instant is ignored");
  const samples = sampler.record("w", 13_000, depth, 160);
  assert.deepEqual(
    samples.map((s) => s.at),
    [13_000],
  );
});

test("the view cache shares one read per key within its ttl, and forgets failures", async () => {
  let now = 0;
  let reads = 0;
  const cache = new ViewCache(1000, () => now);
  const read = async () => (reads += 1);
  assert.equal(await cache.get("k", read), 1);
  assert.equal(await cache.get("k", read), 1);
  now = 999;
  assert.equal(await cache.get("k", read), 1);
  now = 1000;
  assert.equal(await cache.get("k", read), 2);
  await assert.rejects(cache.get("bad", () => Promise.reject(new Error("down"))));
  assert.equal(await cache.get("bad", read), 3);
});
