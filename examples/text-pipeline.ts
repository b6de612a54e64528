/** A linear pipeline: trim -> words -> count. The smallest useful workflow. */
import { next, node, workflow } from "../worker/sdk/index.ts";

const trim = node<string, string>("trim", (_ctx, text) => next(text.trim()));
const words = node<string, string[]>("words", (_ctx, text) =>
  next(text.split(/\s+/).filter((w) => w.length > 0)),
);
const count = node<string[], { words: number; longest: string }>("count", (_ctx, list) =>
  next({ words: list.length, longest: list.reduce((a, b) => (b.length > a.length ? b : a), "") }),
);

export const textPipeline = workflow({
  name: "text-pipeline",
  version: "1",
  start: "trim",
  nodes: [trim, words, count],
  edges: { trim: ["words"], words: ["count"] },
});

export default textPipeline;
