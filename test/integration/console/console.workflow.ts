/**
 * The console test's workflow: intake -> work -> finish, where `work` does what the input's
 * `mode` says: succeed, abort, fail once then succeed (a retry), hold, wait until cancelled, or
 * fail every attempt until a file exists (dead-lettered, then healed and redriven). Inputs carry
 * markup payloads to check that the console renders them as text.
 */
import { existsSync } from "node:fs";
import { abort, hold, next, node, workflow } from "../../../worker/sdk/index.ts";

export interface ConsoleInput {
  readonly mode: "ok" | "fail" | "retry" | "hold" | "slow" | "dead";
  readonly text: string;
  /** For `dead`: `work` fails until this file exists. */
  readonly healFile?: string;
}

const retry = {
  maxAttempts: 2,
  backoff: "fixed",
  initialDelayMs: 1500,
  maxDelayMs: 1500,
  jitter: 0,
} as const;

const intake = node<ConsoleInput, ConsoleInput>("intake", (ctx, input) => {
  ctx.emit({ type: "received", text: input.text });
  return next(input);
});

const work = node<ConsoleInput, { text: string }>(
  "work",
  async (ctx, input) => {
    if (input.mode === "fail") return abort(`aborted: ${input.text}`);
    if (input.mode === "retry" && ctx.attempt < 2) throw new Error(`first attempt fails: ${input.text}`);
    if (input.mode === "hold") return hold(`held: ${input.text}`);
    if (input.mode === "dead" && !existsSync(input.healFile ?? "")) throw new Error(`dead: ${input.text}`);
    if (input.mode === "slow") {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 120_000);
        ctx.signal.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    ctx.emit({ type: "worked", text: input.text, attempt: ctx.attempt });
    return next({ text: input.text });
  },
  { retry },
);

const finish = node<{ text: string }, { done: string }>("finish", (_ctx, input) =>
  next({ done: input.text }),
);

export default workflow({
  name: "console-e2e",
  version: "1",
  start: "intake",
  nodes: [intake, work, finish],
  edges: { intake: ["work"], work: ["finish"] },
});
