export * from "./types.ts";
export * from "./contract.ts";
export * from "./versions.ts";
export { MAX_FAN_OUT, MAX_JSON_DEPTH, unstorableReason } from "./storable.ts";
export { MemoryBackend, MemoryWorkflowStore } from "./memory/backend.ts";
export * from "./redis/index.ts";
export { decodeLivenessEntries, readWorkerLiveness, type LivenessReading } from "./liveness-reader.ts";
export {
  decodeReply,
  LivenessReplySchema,
  QueueDepthReplySchema,
  WorkerLivenessSchema,
} from "./redis/reply-schemas.ts";
export { listWorkflows } from "./workflow-list-reader.ts";
export {
  findRun,
  parseRunsCursor,
  readRunInfos,
  readRunsPage,
  type RunsPage,
  type RunsPageQuery,
} from "./runs-page-reader.ts";
export {
  readRunDetail,
  type LeasedItem,
  type RunDetail,
  type RunDetailOptions,
  type WaitingItem,
} from "./run-detail-reader.ts";
export {
  readWorkersWithLeases,
  type InFlightItem,
  type WorkersReading,
  type WorkerView,
} from "./worker-leases-reader.ts";
export { readDeadLetters, type DeadLetterEntry, type DeadLetterPage } from "./dead-letter-reader.ts";
