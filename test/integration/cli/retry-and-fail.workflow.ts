/**
 * A test workflow for `floxide run show`: `flaky` fails its first attempt and is retried,
 * then `doomed` fails every attempt and is dead-lettered, which fails the run.
 */
import { next, node, workflow } from "../../../worker/sdk/index.ts";

const retry = { maxAttempts: 2, backoff: "fixed", initialDelayMs: 10, maxDelayMs: 10, jitter: 0 } as const;

const flaky = node<{ order: string }, { order: string; attempts: number }>(
  "flaky",
  (ctx, input) => {
    if (ctx.attempt < 2) throw new Error(`flaky failure on attempt ${ctx.attempt}`);
    ctx.emit({ type: "flaky-succeeded", attempt: ctx.attempt });
    return next({ order: input.order, attempts: ctx.attempt });
  },
  { retry },
);

const doomed = node<{ order: string }, never>(
  "doomed",
  (_ctx, input) => {
    throw new Error(`doomed: order ${input.order} cannot be shipped`);
  },
  { retry },
);

export default workflow({
  name: "retry-and-fail",
  version: "1",
  start: "flaky",
  nodes: [flaky, doomed],
  edges: { flaky: ["doomed"] },
});
