/** A workflow whose reducer throws on one kind of event (a bad-input fixture). */
import { next, node, workflow } from "../../../../worker/sdk/index.ts";

interface Input {
  readonly poison: boolean;
}
type Event = { readonly kind: "ok" } | { readonly kind: "poison" };

const record = node<Input, string, { seen: number }, Event>("record", (ctx, input) => {
  ctx.emit({ kind: input.poison ? "poison" : "ok" });
  return next("recorded");
});

export default workflow<{ seen: number }, Event>({
  name: "bad-reducer",
  version: "1",
  start: "record",
  nodes: [record],
  context: {
    initial: () => ({ seen: 0 }),
    reduce: (state, event) => {
      if (event.kind === "poison") throw new Error("the reducer cannot fold a poison event");
      return { seen: state.seen + 1 };
    },
  },
  retry: { maxAttempts: 2, initialDelayMs: 10, maxDelayMs: 10 },
});
