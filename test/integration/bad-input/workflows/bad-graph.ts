// A workflow whose graph names a node that does not exist (a bad-input fixture).
import { next, node, workflow } from "../../../../worker/sdk/index.ts";

const a = node("a", (_ctx, input: unknown) => next(input));

export default workflow({ name: "bad-graph", version: "1", start: "a", nodes: [a], edges: { a: ["b"] } });
