export * from "./retry.ts";
export * from "./route.ts";
export * from "./context-cache.ts";
export * from "./step.ts";
export * from "./lease-keeper.ts";
export * from "./worker.ts";
export * from "./pool.ts";
export * from "./orchestrator.ts";
