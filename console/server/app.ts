/**
 * The console's HTTP server: the page and its assets, then the API scope (auth first, then the
 * read views and the actions), plus the login call that sets the session cookie. One plugin per
 * concern; the context is passed to each, never global.
 */
import Fastify, { type FastifyInstance } from "fastify";
import { actionsPlugin } from "./api/actions.ts";
import { viewsPlugin } from "./api/views.ts";
import { assetsPlugin, loadAssets } from "./assets.ts";
import { authHook, sessionCookie, tokenMatches } from "./auth.ts";
import type { ConsoleContext } from "./context.ts";

export async function buildConsoleServer(ctx: ConsoleContext): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });
  await app.register(assetsPlugin, loadAssets());
  app.post(
    "/login",
    {
      schema: {
        body: {
          type: "object",
          required: ["token"],
          additionalProperties: false,
          properties: { token: { type: "string", minLength: 1, maxLength: 1000 } },
        },
      },
    },
    async (request, reply) => {
      const { token } = request.body as { token: string };
      if (ctx.authToken === undefined || !tokenMatches(ctx.authToken, token)) {
        return reply.code(401).send({ error: "wrong token", code: "Unauthorized" });
      }
      return reply.header("set-cookie", sessionCookie(token)).send({ ok: true });
    },
  );
  await app.register(async (api) => {
    api.addHook("onRequest", authHook(ctx.authToken));
    api.get("/api/config", async () => ({
      readOnly: ctx.readOnly,
      auth: ctx.authToken !== undefined,
      workflows: ctx.workflows,
      graphs: [...ctx.graphs.keys()],
    }));
    await api.register(viewsPlugin, { ctx });
    await api.register(actionsPlugin, { ctx });
  });
  return app;
}
