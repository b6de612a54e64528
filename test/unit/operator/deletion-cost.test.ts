import { test } from "node:test";
import assert from "node:assert/strict";
import {
  busyWorkerCount,
  deletionCost,
  deletionCostPatches,
} from "../../../operator/policy/deletion-cost.ts";
import type { WorkerLiveness } from "../../../worker/store/index.ts";

const worker = (workerId: string, status: WorkerLiveness["status"], inFlight: number): WorkerLiveness => ({
  workerId,
  status,
  inFlight,
  at: 0,
});

test("busy workers cost more than pods with no record, which cost more than idle workers", () => {
  const busy = deletionCost(worker("a", "busy", 2));
  const unknown = deletionCost(undefined);
  const idle = deletionCost(worker("c", "idle", 0));
  assert.ok(busy > unknown && unknown > idle, `${busy} > ${unknown} > ${idle}`);
  assert.ok(deletionCost(worker("d", "busy", 5)) > busy, "more work in flight, higher cost");
});

test("patches only the pods whose cost changes", () => {
  const patches = deletionCostPatches(
    [
      { name: "a", cost: undefined },
      { name: "b", cost: "-100" },
      { name: "c", cost: undefined },
      { name: "d", cost: "-100" },
    ],
    [worker("a", "busy", 1), worker("b", "idle", 0), worker("d", "busy", 3)],
  );
  assert.deepEqual(patches, [
    { pod: "a", cost: 101 },
    { pod: "d", cost: 103 },
  ]);
});

test("workers holding leases count toward the scale-down floor; draining ones do not", () => {
  assert.equal(
    busyWorkerCount([
      worker("a", "busy", 1),
      worker("b", "idle", 0),
      worker("c", "draining", 1),
      worker("d", "idle", 2),
    ]),
    2,
  );
});
