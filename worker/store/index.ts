export * from "./types.ts";
export * from "./contract.ts";
export { MemoryBackend, MemoryWorkflowStore } from "./memory/backend.ts";
export * from "./redis/index.ts";
