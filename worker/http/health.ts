import type { FastifyInstance } from "fastify";

export interface HealthSources {
  /** Milliseconds since the claim loops last showed progress (an iteration or a lease renewal). */
  readonly sinceProgressMs: () => number;
  readonly stallAfterMs: number;
  readonly draining: () => boolean;
  /** Resolves when the store answers; rejects with the reason otherwise. */
  readonly pingStore: () => Promise<void>;
  readonly pingTimeoutMs: number;
  /** Why the store answers but cannot be used (a corrupt key, named), or null. */
  readonly storeProblem?: () => string | null;
}

/**
 * /healthz: the process and its claim loops are alive. /readyz: not draining, and the store
 * answers and can be used (no key it needs is corrupt).
 */
export async function healthPlugin(app: FastifyInstance, sources: HealthSources): Promise<void> {
  app.get("/healthz", async (_request, reply) => {
    const since = sources.sinceProgressMs();
    if (since > sources.stallAfterMs) {
      return reply
        .code(503)
        .send({ status: "stalled", reason: `no claim-loop progress for ${Math.round(since / 1000)} s` });
    }
    return { status: "ok" };
  });

  app.get("/readyz", async (_request, reply) => {
    if (sources.draining()) return reply.code(503).send({ status: "draining" });
    const problem = sources.storeProblem?.() ?? null;
    if (problem !== null) return reply.code(503).send({ status: "store-unusable", reason: problem });
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        sources.pingStore(),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no answer within ${sources.pingTimeoutMs} ms`)),
            sources.pingTimeoutMs,
          );
        }),
      ]);
      return { status: "ok" };
    } catch (error) {
      return reply.code(503).send({ status: "store-unreachable", reason: (error as Error).message });
    } finally {
      clearTimeout(timer);
    }
  });
}
