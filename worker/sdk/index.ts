export * from "./errors.ts";
export * from "./transitions.ts";
export * from "./context.ts";
export * from "./node.ts";
export * from "./workflow.ts";
export * from "./graph.ts";
