import Fastify, { type FastifyInstance } from "fastify";
import type { Registry } from "prom-client";
import { healthPlugin, type HealthSources } from "./health.ts";
import { metricsPlugin } from "./metrics.ts";

/** The worker's HTTP surface: health and metrics, nothing else. */
export async function buildHttpServer(options: {
  health: HealthSources;
  registry: Registry;
}): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  await app.register(healthPlugin, options.health);
  await app.register(metricsPlugin, { registry: options.registry });
  return app;
}
