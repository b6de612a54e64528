/**
 * e2e workflow: one step that sleeps `ms` and reports which pod ran it. Long steps make a pod
 * busy for the scale-in and force-delete tests; the pod name shows that steps ran in pods.
 * Plain JavaScript, as a user's module may be: it imports the SDK by the package name, which
 * the worker image links under /app/node_modules.
 */
import { hostname } from "node:os";
import { next, node, workflow } from "floxide-k8s/worker/sdk";

const sleep = node(
  "sleep",
  async (ctx, input) => {
    // ctx.log carries the workflow, run, item and node ids: `kubectl logs` shows them.
    ctx.log.info({ ms: input.ms }, "sleeping");
    // Not cut short on drain: a step is meant to finish inside the drain timeout.
    await new Promise((resolve) => setTimeout(resolve, input.ms));
    return next({ pod: hostname(), sleptMs: input.ms });
  },
  { retry: { maxAttempts: 3 } },
);

export default workflow({ name: "sleeper", version: "1", start: "sleep", nodes: [sleep] });
