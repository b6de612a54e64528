import type { FastifyInstance } from "fastify";
import type { Registry } from "prom-client";

/** /metrics in the Prometheus text format. */
export async function metricsPlugin(app: FastifyInstance, options: { registry: Registry }): Promise<void> {
  app.get("/metrics", async (_request, reply) => {
    const body = await options.registry.metrics();
    return reply.header("content-type", options.registry.contentType).send(body);
  });
}
