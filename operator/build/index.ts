export * from "./labels.ts";
export * from "./deployment.ts";
export * from "./service.ts";
export * from "./disruption-budget.ts";
