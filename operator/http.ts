// The operator's HTTP surface: /healthz (process and loops alive), /readyz (caches synced),
// /metrics. A standby replica is ready: it is healthy and waiting for the Lease.
import Fastify, { type FastifyInstance } from "fastify";
import type { Registry } from "prom-client";

export interface OperatorHealth {
  /** Undefined when healthy, else why not. */
  readonly unhealthy: () => string | undefined;
  readonly unready: () => string | undefined;
}

export async function buildOperatorHttp(
  health: OperatorHealth,
  registry: Registry,
): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  app.get("/healthz", async (_request, reply) => {
    const reason = health.unhealthy();
    return reason ? reply.code(503).send({ status: "unhealthy", reason }) : { status: "ok" };
  });
  app.get("/readyz", async (_request, reply) => {
    const reason = health.unready();
    return reason ? reply.code(503).send({ status: "unready", reason }) : { status: "ok" };
  });
  app.get("/metrics", async (_request, reply) =>
    reply.header("content-type", registry.contentType).send(await registry.metrics()),
  );
  return app;
}
