/** Partition hash tags spaced evenly over the Cluster slots (keys.ts partitionTag). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { CLUSTER_SLOTS, keySlot } from "../../../worker/store/redis/key-slot.ts";
import { WorkflowKeys } from "../../../worker/store/redis/keys.ts";

test("P = 1 keeps the one-slot tag; partition 0 keeps it for every P", () => {
  assert.equal(new WorkflowKeys("orders", "floxide").base, "{floxide:orders}");
  for (const partitions of [2, 6, 64]) {
    assert.equal(new WorkflowKeys("orders", "floxide").partitions(partitions)[0]?.base, "{floxide:orders}");
  }
});

test("partition i of P sits at partition 0's slot plus i * 16384 / P", () => {
  for (const workflow of ["orders", "video-encode", "a"]) {
    for (const partitions of [2, 3, 5, 6, 7, 12, 64]) {
      const all = new WorkflowKeys(workflow, "fx").partitions(partitions);
      const zero = keySlot(all[0]?.base ?? "");
      all.forEach((keys, i) => {
        const expected = (zero + Math.floor((i * CLUSTER_SLOTS) / partitions)) % CLUSTER_SLOTS;
        assert.equal(keySlot(keys.base), expected, `${workflow} partition ${i} of ${partitions}`);
        assert.equal(keySlot(keys.key("ready")), expected, "every key of the partition is in its slot");
      });
    }
  }
});

test("on masters owning equal slot ranges, P partitions split evenly (P a multiple of the masters)", () => {
  // What `redis-cli --cluster create` assigns to 3 and 6 masters.
  for (const masters of [3, 6]) {
    const owner = (slot: number): number =>
      Math.min(masters - 1, Math.floor(slot / (CLUSTER_SLOTS / masters)));
    for (const partitions of [masters, masters * 2, masters * 4]) {
      const counts = Array.from({ length: masters }, () => 0);
      for (const keys of new WorkflowKeys("orders", "floxide").partitions(partitions)) {
        const master = owner(keySlot(keys.base));
        counts[master] = (counts[master] ?? 0) + 1;
      }
      assert.deepEqual(
        counts,
        Array.from({ length: masters }, () => partitions / masters),
        `${partitions} on ${masters}`,
      );
    }
  }
});

test("a partition index outside 0..P-1 is refused", () => {
  assert.throws(() => new WorkflowKeys("orders", "floxide", "1", 6, 6), /partition 6 is not 0\.\.5/);
});
