export { buildHttpServer } from "./server.ts";
export type { HealthSources } from "./health.ts";
