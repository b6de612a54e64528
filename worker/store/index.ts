export * from "./types.ts";
export * from "./contract.ts";
export { MemoryBackend, MemoryWorkflowStore } from "./memory/backend.ts";
export * from "./redis/index.ts";
export { decodeLivenessEntries, readWorkerLiveness, type LivenessReading } from "./liveness-reader.ts";
