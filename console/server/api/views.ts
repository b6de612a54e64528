/**
 * The read side of the API: one view per page, each `GET /api/<view>` (JSON) and
 * `GET /api/<view>/live` (server-sent events: the view again whenever it changes, read at most
 * once per `liveIntervalMs` however many pages watch it). Query strings are validated by schema.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import {
  findRun,
  listWorkflows,
  readDeadLetters,
  readQueueDepths,
  readRunDetail,
  readRunsPage,
  readWorkerLiveness,
  readWorkersWithLeases,
} from "../../../worker/store/index.ts";
import { foldEvents } from "../../../worker/sdk/index.ts";
import type { ConsoleContext } from "../context.ts";
import { describeKubeError, type WorkflowDeploymentSource } from "../kube/workflow-deployments.ts";
import { httpError } from "../errors.ts";
import { nodeViews } from "../node-states.ts";
import { WorkflowSampler } from "../sampler.ts";
import { stepsOf } from "../../../cli/local/local-cluster.ts";
import { ID, workflowObject } from "../schemas.ts";
import { ViewCache } from "../view-cache.ts";

const STATUS = {
  type: "string",
  enum: ["queued", "running", "paused", "completed", "failed", "cancelled"],
} as const;

/** The WorkflowDeployments' replicas for the Workflows page; a failed list is shown, not thrown. */
async function kubeReading(source: WorkflowDeploymentSource | null) {
  if (source === null) return null;
  try {
    const { deployments, malformed } = await source.read();
    return { deployments, malformed, problem: null };
  } catch (error) {
    return { deployments: null, malformed: [], problem: `WorkflowDeployments: ${describeKubeError(error)}` };
  }
}

interface View {
  readonly schema: object;
  readonly read: (query: Record<string, string | number | undefined>) => Promise<unknown>;
}

function views(ctx: ConsoleContext): Record<string, View> {
  const sampler = new WorkflowSampler();
  let known: { at: number; names: Promise<string[]> } | null = null;
  // The workflow list is a SCAN: read it every 10 s, not every second.
  const workflowNames = (): Promise<string[]> => {
    if (ctx.workflows !== null) return Promise.resolve([...ctx.workflows]);
    if (known === null || Date.now() - known.at > 10_000) {
      known = { at: Date.now(), names: listWorkflows(ctx.redis, ctx.prefix) };
      known.names.catch(() => (known = null));
    }
    return known.names;
  };
  const checkShown = async (workflow: string): Promise<string> => {
    if (ctx.workflows !== null && !ctx.workflows.includes(workflow)) {
      throw Object.assign(new Error(`workflow '${workflow}' is not shown by this console`), {
        statusCode: 404,
      });
    }
    return workflow;
  };
  return {
    workflows: {
      schema: { type: "object", properties: {}, additionalProperties: false },
      read: async () => {
        const names = await workflowNames();
        const [depths, kube] = await Promise.all([
          readQueueDepths(ctx.redis, names, { prefix: ctx.prefix, partitions: ctx.partitions ?? 1 }),
          kubeReading(ctx.kube),
        ]);
        const rows = await Promise.all(
          names.map(async (name) => {
            const [metrics, liveness] = await Promise.all([
              ctx.backend.forWorkflow(name).readMetrics(),
              readWorkerLiveness(ctx.redis, name, ctx.prefix),
            ]);
            const depth = depths.get(name) ?? { ready: 0, inFlight: 0, delayed: 0, dead: 0 };
            const history = sampler.record(name, Date.now(), depth, stepsOf(metrics));
            return {
              name,
              depth,
              parked: metrics.parked,
              workers: liveness.workers.length,
              stepsPerSecond: history.at(-1)?.stepsPerSecond ?? null,
              history: history.map(({ at, ready, inFlight, delayed, dead }) => ({
                at,
                ready,
                inFlight,
                delayed,
                dead,
              })),
              runsStarted: metrics.runsStarted,
              runsFailed: metrics.runsFailed,
              // Matched by workflow name: null without Kubernetes access.
              deployments: kube === null ? null : (kube.deployments ?? []).filter((d) => d.workflow === name),
            };
          }),
        );
        return {
          workflows: rows,
          kube: kube === null ? null : { problem: kube.problem, malformed: kube.malformed },
        };
      },
    },
    runs: {
      schema: workflowObject({
        status: STATUS,
        from: { type: "integer", minimum: 0 },
        to: { type: "integer", minimum: 0 },
        q: { type: "string", minLength: 1, maxLength: 500 },
        cursor: { type: "string", minLength: 3, maxLength: 600 },
        limit: { type: "integer", minimum: 1, maximum: 500 },
      }),
      read: async (query) => {
        const workflow = await checkShown(query.workflow as string);
        if (query.q !== undefined) {
          const run = await findRun(ctx.redis, workflow, query.q as string, ctx.prefix, ctx.partitions);
          return { runs: run === null ? [] : [run], next: null, scanned: 1, expired: 0 };
        }
        return readRunsPage(
          ctx.redis,
          workflow,
          {
            status: query.status as never,
            from: query.from as number | undefined,
            to: query.to as number | undefined,
            cursor: query.cursor as string | undefined,
            limit: (query.limit as number | undefined) ?? 50,
          },
          ctx.prefix,
          ctx.partitions,
        );
      },
    },
    run: {
      schema: workflowObject({ runId: ID }, ["runId"]),
      read: async (query) => {
        const workflow = await checkShown(query.workflow as string);
        const detail = await readRunDetail(ctx.redis, workflow, query.runId as string, {
          prefix: ctx.prefix,
          partitions: ctx.partitions ?? 1,
        });
        if (detail === null) {
          throw Object.assign(new Error(`run '${String(query.runId)}' not found (or expired)`), {
            statusCode: 404,
          });
        }
        const graph = ctx.graphs.get(workflow) ?? null;
        return { ...detail, graph, nodes: nodeViews(detail, graph?.nodes.map((node) => node.name) ?? []) };
      },
    },
    context: {
      // The state folded from the run's events 1..seq (all of them without seq): read on demand,
      // O(seq) events, so the page asks for it when an event is picked, not every second.
      schema: workflowObject({ runId: ID, seq: { type: "integer", minimum: 0 } }, ["runId"]),
      read: async (query) => {
        const workflow = await checkShown(query.workflow as string);
        const spec = ctx.contexts.get(workflow);
        if (spec === undefined) return { state: null, seq: null, folded: false };
        const seq = query.seq as number | undefined;
        const events = await ctx.backend
          .forWorkflow(workflow)
          .readEvents(query.runId as string, 0, seq ?? Infinity);
        return {
          state: foldEvents(spec, spec.initial(), events),
          seq: events.at(-1)?.seq ?? 0,
          folded: true,
        };
      },
    },
    dead: {
      schema: workflowObject({
        offset: { type: "integer", minimum: 0 },
        limit: { type: "integer", minimum: 1, maximum: 500 },
      }),
      read: async (query) =>
        readDeadLetters(
          ctx.redis,
          await checkShown(query.workflow as string),
          { offset: query.offset as number | undefined, limit: query.limit as number | undefined },
          ctx.prefix,
          ctx.partitions,
        ),
    },
    workers: {
      schema: workflowObject(),
      read: async (query) =>
        readWorkersWithLeases(
          ctx.redis,
          await checkShown(query.workflow as string),
          ctx.prefix,
          ctx.partitions,
        ),
    },
  };
}

function sendError(reply: FastifyReply, error: unknown): FastifyReply {
  const status = (error as { statusCode?: number }).statusCode;
  if (typeof status === "number")
    return reply.code(status).send({ error: (error as Error).message, code: "NotFound" });
  const { status: code, body } = httpError(error);
  return reply.code(code).send(body);
}

/** Options are `{ ctx }`: a `prefix` key in a plugin's options would prefix its routes. */
export async function viewsPlugin(app: FastifyInstance, { ctx }: { ctx: ConsoleContext }): Promise<void> {
  const cache = new ViewCache(ctx.liveIntervalMs);
  for (const [name, view] of Object.entries(views(ctx))) {
    type Query = Record<string, string | number | undefined>;
    const read = (query: Query): Promise<unknown> =>
      cache.get(`${name}?${JSON.stringify(Object.entries(query).sort())}`, () => view.read(query));

    app.get(`/api/${name}`, { schema: { querystring: view.schema } }, async (request, reply) => {
      try {
        return await read(request.query as Query);
      } catch (error) {
        return sendError(reply, error);
      }
    });

    app.get(
      `/api/${name}/live`,
      { schema: { querystring: view.schema } },
      (request: FastifyRequest, reply) => {
        const query = request.query as Query;
        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, {
          "content-type": "text/event-stream; charset=utf-8",
          "cache-control": "no-store",
          "x-content-type-options": "nosniff",
          connection: "keep-alive",
        });
        let last = "";
        let closed = false;
        let timer: NodeJS.Timeout | undefined;
        const tick = async (): Promise<void> => {
          let event: string;
          try {
            event = `event: view\ndata: ${JSON.stringify(await read(query))}\n\n`;
          } catch (error) {
            const { body } = httpError(error);
            event = `event: failure\ndata: ${JSON.stringify(body)}\n\n`;
          }
          if (closed) return;
          if (event !== last) res.write(event);
          else res.write(": unchanged\n\n");
          last = event;
          timer = setTimeout(() => void tick(), ctx.liveIntervalMs);
        };
        request.raw.on("close", () => {
          closed = true;
          clearTimeout(timer);
        });
        void tick();
      },
    );
  }
}
