/**
 * The failover test's workflow: a chain of three short steps. Each step counts its execution in
 * a side Redis (FLOXIDE_TEST_SIDE_EFFECTS: a standalone server the test reads, away from the
 * cluster that fails over) and emits one event, so the test can tell executions (side effects,
 * at least once) from committed steps (the run's event log, exactly once).
 */
import { Redis } from "ioredis";
import { next, node, workflow } from "../../worker/sdk/index.ts";

export interface FailoverInput {
  /** Upper bound of each step's random delay. */
  readonly maxDelayMs: number;
}

// A test fixture, not product code: the worker process has no other way to hand it the URL.
const sideUrl = process.env.FLOXIDE_TEST_SIDE_EFFECTS;
const side = sideUrl === undefined ? null : new Redis(sideUrl, { lazyConnect: true });

const pause = (maxMs: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, Math.random() * maxMs);
    signal.addEventListener("abort", () => (clearTimeout(timer), reject(signal.reason)), { once: true });
  });

const step = (name: string) =>
  node<FailoverInput, FailoverInput, unknown, { node: string }>(name, async (ctx, input) => {
    await pause(input.maxDelayMs, ctx.signal);
    if (side === null)
      throw new Error("FLOXIDE_TEST_SIDE_EFFECTS is not set: the test must name its side Redis");
    await side.multi().hincrby(`exec:${ctx.runId}`, name, 1).incr("exec:total").exec();
    ctx.emit({ node: name });
    return next(input);
  });

export const FAILOVER_STEPS = ["a", "b", "c"] as const;

export default workflow({
  name: "failover",
  version: "1",
  start: "a",
  nodes: FAILOVER_STEPS.map(step),
  edges: { a: ["b"], b: ["c"] },
  retry: { maxAttempts: 20, initialDelayMs: 100, maxDelayMs: 500, jitter: 0 },
});
