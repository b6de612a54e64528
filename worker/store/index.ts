export * from "./types.ts";
export * from "./contract.ts";
export * from "./versions.ts";
export { MAX_JSON_DEPTH, unstorableReason } from "./storable.ts";
export { MemoryBackend, MemoryWorkflowStore } from "./memory/backend.ts";
export * from "./redis/index.ts";
export { decodeLivenessEntries, readWorkerLiveness, type LivenessReading } from "./liveness-reader.ts";
export {
  decodeReply,
  LivenessReplySchema,
  QueueDepthReplySchema,
  WorkerLivenessSchema,
} from "./redis/reply-schemas.ts";
