/**
 * e2e workflow: a step that allocates memory until the container's limit kills it (OOMKilled).
 * Its lease then expires; the item is re-delivered and, after maxAttempts, dead-lettered.
 */
import { Buffer } from "node:buffer";
import { setImmediate } from "node:timers/promises";
import { next, node, workflow } from "floxide-k8s/worker/sdk";

const hog = node(
  "hog",
  async (_ctx, input) => {
    const kept = [];
    for (let mb = 0; mb < input.mb; mb += 16) {
      // fill() touches every page: memory is charged to the container's cgroup at once.
      kept.push(Buffer.alloc(16 << 20).fill(1));
      await setImmediate();
    }
    return next({ kept: kept.length });
  },
  { retry: { maxAttempts: 2 } },
);

export default workflow({ name: "hog", version: "1", start: "hog", nodes: [hog] });
