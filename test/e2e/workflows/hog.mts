/**
 * e2e workflow: a step that allocates memory until the container's limit kills it (OOMKilled).
 * Its lease then expires; the item is re-delivered and, after maxAttempts, dead-lettered.
 */
import { next, node, workflow } from "floxide-k8s/worker/sdk";

const hog = node<{ mb: number }, { kept: number }>(
  "hog",
  async (_ctx, input) => {
    const kept: Buffer[] = [];
    for (let mb = 0; mb < input.mb; mb += 16) {
      // fill() touches every page: memory is charged to the container's cgroup at once.
      kept.push(Buffer.alloc(16 << 20).fill(1));
      await new Promise((resolve) => setImmediate(resolve));
    }
    return next({ kept: kept.length });
  },
  { retry: { maxAttempts: 2 } },
);

export default workflow({ name: "hog", version: "1", start: "hog", nodes: [hog] });
