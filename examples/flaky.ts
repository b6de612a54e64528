/** A node that fails its first attempts and then succeeds: shows retries with backoff. */
import { next, node, workflow } from "../worker/sdk/index.ts";

export interface FlakyInput {
  /** The attempt that succeeds (1 = first). */
  readonly succeedOnAttempt: number;
}

const flaky = node<FlakyInput, { attempts: number }>(
  "flaky",
  (ctx, input) => {
    if (ctx.attempt < input.succeedOnAttempt) throw new Error(`transient failure on attempt ${ctx.attempt}`);
    return next({ attempts: ctx.attempt });
  },
  { retry: { maxAttempts: 5, backoff: "exponential", initialDelayMs: 5, maxDelayMs: 50, jitter: 0.5 } },
);

export const flakyWorkflow = workflow({ name: "flaky", version: "1", start: "flaky", nodes: [flaky] });

export default flakyWorkflow;
