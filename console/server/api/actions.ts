/**
 * The write side: run controls (cancel, pause, resume) and dead-letter handling (redrive,
 * discard), each through the store's own functions. Bodies are validated by schema; a
 * read-only console refuses every action (and the page hides them).
 */
import type { FastifyInstance } from "fastify";
import type { ConsoleContext } from "../context.ts";
import { httpError } from "../errors.ts";
import { ID, workflowObject } from "../schemas.ts";

export async function actionsPlugin(app: FastifyInstance, { ctx }: { ctx: ConsoleContext }): Promise<void> {
  const shown = (workflow: string): boolean => ctx.workflows === null || ctx.workflows.includes(workflow);
  app.addHook("preHandler", async (_request, reply) => {
    if (ctx.readOnly) await reply.code(403).send({ error: "the console is read-only", code: "ReadOnly" });
  });

  app.post(
    "/api/runs/:action",
    {
      schema: {
        params: {
          type: "object",
          properties: { action: { type: "string", enum: ["cancel", "pause", "resume"] } },
          required: ["action"],
        },
        body: workflowObject({ runId: ID, reason: { type: "string", maxLength: 500 } }, ["runId"]),
      },
    },
    async (request, reply) => {
      const { action } = request.params as { action: "cancel" | "pause" | "resume" };
      const { workflow, runId, reason } = request.body as {
        workflow: string;
        runId: string;
        reason?: string;
      };
      if (!shown(workflow))
        return reply.code(404).send({ error: `workflow '${workflow}' is not shown`, code: "NotFound" });
      const store = ctx.backend.forWorkflow(workflow);
      try {
        const run =
          action === "cancel"
            ? await store.cancelRun(runId, reason ?? "cancelled from the console")
            : action === "pause"
              ? await store.pauseRun(runId)
              : await store.resumeRun(runId);
        return { run };
      } catch (error) {
        const { status, body } = httpError(error);
        return reply.code(status).send(body);
      }
    },
  );

  app.post(
    "/api/dead/:action",
    {
      schema: {
        params: {
          type: "object",
          properties: { action: { type: "string", enum: ["redrive", "discard"] } },
          required: ["action"],
        },
        body: workflowObject({ itemId: ID }, ["itemId"]),
      },
    },
    async (request, reply) => {
      const { action } = request.params as { action: "redrive" | "discard" };
      const { workflow, itemId } = request.body as { workflow: string; itemId: string };
      if (!shown(workflow))
        return reply.code(404).send({ error: `workflow '${workflow}' is not shown`, code: "NotFound" });
      try {
        return await ctx.backend.forWorkflow(workflow).redriveDeadLetter(itemId, action);
      } catch (error) {
        const { status, body } = httpError(error);
        return reply.code(status).send(body);
      }
    },
  );
}
