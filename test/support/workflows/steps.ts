/**
 * A test workflow whose steps take a given time and record one event each: fan out `count`
 * steps of `stepMs`, join them, finish. Counting events per item proves exactly-once commits.
 */
import { join, next, nextAll, node, workflow } from "../../../worker/sdk/index.ts";

export interface StepsInput {
  readonly count: number;
  readonly stepMs: number;
  /** Steps fail (retryably) on attempts below this one. */
  readonly failUntilAttempt?: number;
}

interface Work {
  readonly index: number;
  readonly stepMs: number;
  readonly failUntilAttempt: number;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), reject(signal.reason)), { once: true });
  });

const fan = node<StepsInput, Work>("fan", (_ctx, input) =>
  nextAll(
    Array.from({ length: input.count }, (_, index) => ({
      index,
      stepMs: input.stepMs,
      failUntilAttempt: input.failUntilAttempt ?? 0,
    })),
  ),
);

const work = node<Work, number, unknown, { item: string; index: number }>(
  "work",
  async (ctx, input) => {
    await sleep(input.stepMs, ctx.signal);
    if (ctx.attempt < input.failUntilAttempt) throw new Error(`planned failure on attempt ${ctx.attempt}`);
    ctx.emit({ item: ctx.itemId, index: input.index });
    return next(input.index);
  },
  { retry: { maxAttempts: 3, initialDelayMs: 300, maxDelayMs: 300, jitter: 0 } },
);

const done = join<number, number>("done", (_ctx, indexes) => next(indexes.length));

export default workflow({
  name: "steps",
  version: "1",
  start: "fan",
  nodes: [fan, work, done],
  edges: { fan: ["work"], work: ["done"] },
});
