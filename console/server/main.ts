/**
 * `floxide ui`: the console's composition root. Reads its options once, refuses an unsafe bind
 * before connecting anything, loads the workflow modules it was given (for their graphs),
 * connects to Redis through the contract's mapping, serves until SIGINT/SIGTERM.
 */
import {
  InvalidConfigError,
  REDIS_OPTIONS,
  resolveOptions,
  WORKER_OPTIONS,
  type RawOptions,
} from "../../contract/index.ts";
import { loadWorkflowModule } from "../../worker/load-workflow.ts";
import { FloxideError, graphOf, type ContextSpec } from "../../worker/sdk/index.ts";
import {
  createRedisBackend,
  createRedisClient,
  redactRedisUrl,
  type RedisClient,
  type StoreBackend,
} from "../../worker/store/index.ts";
import { redisConnectionOptions } from "../../worker/store/open-redis.ts";
import { buildConsoleServer } from "./app.ts";
import { bindProblem } from "./bind-policy.ts";
import type { ConsoleContext, WorkflowGraph } from "./context.ts";
import { kubeWorkflowDeployments } from "./kube/workflow-deployments.ts";
import { UI_OPTIONS } from "./options.ts";

export interface ConsoleSettings {
  readonly host: string;
  readonly port: number;
  readonly authToken?: string | undefined;
  readonly readOnly: boolean;
  /** Names or module paths; empty: every workflow in the Redis. */
  readonly workflows: readonly string[];
  readonly redis: RawOptions;
  readonly env: NodeJS.ProcessEnv;
  /** How often a live view is read (default 1000 ms: at most one store read per second per page). */
  readonly liveIntervalMs?: number;
  /** Read the WorkflowDeployments (of `namespace`, or all) for their replicas; unset: no Kubernetes. */
  readonly kube?:
    { readonly namespace?: string | undefined; readonly kubeconfigPath?: string | undefined } | undefined;
}

export interface RunningConsole {
  readonly url: string;
  close(): Promise<void>;
}

const looksLikeModule = (value: string): boolean => /\.(m?[jt]s)$/.test(value) || value.includes("/");

async function workflowsOf(entries: readonly string[]) {
  const names: string[] = [];
  const graphs = new Map<string, WorkflowGraph>();
  const contexts = new Map<string, ContextSpec<unknown, unknown>>();
  for (const entry of entries) {
    if (!looksLikeModule(entry)) {
      names.push(entry);
      continue;
    }
    const def = await loadWorkflowModule(entry);
    names.push(def.name);
    graphs.set(def.name, graphOf(def));
    contexts.set(def.name, def.context);
  }
  return { names, graphs, contexts };
}

async function connect(
  redis: RawOptions,
  env: NodeJS.ProcessEnv,
): Promise<{ client: RedisClient; backend: StoreBackend; prefix: string; partitions: number }> {
  const settings = resolveOptions(REDIS_OPTIONS, redis, env);
  const retentionSeconds = WORKER_OPTIONS.retentionSeconds.default;
  const client = createRedisClient(redisConnectionOptions({ ...settings, retentionSeconds }));
  try {
    await Promise.race([
      client.ping(),
      new Promise((_, reject) => setTimeout(() => reject(new Error("no answer within 5 s")), 5000).unref()),
    ]);
  } catch (error) {
    client.disconnect();
    throw new FloxideError(
      "StoreUnavailable",
      `cannot reach Redis at ${redactRedisUrl(settings.redisUrl)}: ${(error as Error).message}`,
    );
  }
  const backend = createRedisBackend({
    client,
    keyPrefix: settings.keyPrefix,
    retentionMs: retentionSeconds * 1000,
    partitions: settings.partitions,
  });
  return { client, backend, prefix: settings.keyPrefix, partitions: settings.partitions };
}

/** Starts the console; the caller closes it. */
export async function startConsole(settings: ConsoleSettings): Promise<RunningConsole> {
  const problem = bindProblem(settings.host, settings.authToken);
  if (problem !== null) throw new InvalidConfigError([problem]);
  const { names, graphs, contexts } = await workflowsOf(settings.workflows);
  const kube =
    settings.kube === undefined
      ? null
      : await kubeWorkflowDeployments({
          kubeconfigPath: settings.kube.kubeconfigPath || undefined,
          inCluster: settings.env.KUBERNETES_SERVICE_HOST !== undefined,
          namespace: settings.kube.namespace,
        });
  const { client, backend, prefix, partitions } = await connect(settings.redis, settings.env);
  const ctx: ConsoleContext = {
    redis: client,
    backend,
    prefix,
    partitions,
    workflows: names.length === 0 ? null : names,
    graphs,
    contexts,
    readOnly: settings.readOnly,
    authToken: settings.authToken === "" ? undefined : settings.authToken,
    liveIntervalMs: settings.liveIntervalMs ?? 1000,
    kube,
  };
  const app = await buildConsoleServer(ctx);
  try {
    await app.listen({ host: settings.host, port: settings.port });
  } catch (error) {
    await backend.close();
    client.disconnect();
    throw new FloxideError(
      "InvalidConfig",
      `cannot listen on ${settings.host}:${settings.port}: ${(error as Error).message}`,
    );
  }
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : settings.port;
  const host = settings.host.includes(":") ? `[${settings.host}]` : settings.host;
  return {
    url: `http://${host}:${port}/`,
    close: async () => {
      await app.close();
      await backend.close();
      client.disconnect();
    },
  };
}

/** The `floxide ui` action: serves until SIGINT or SIGTERM, then exits 0. */
export async function uiAction(invocation: {
  readonly flags: RawOptions;
  readonly redis: RawOptions;
  readonly switches: ReadonlySet<string>;
  readonly env: NodeJS.ProcessEnv;
}): Promise<number> {
  const options = resolveOptions(UI_OPTIONS, invocation.flags, invocation.env);
  const running = await startConsole({
    host: options.host,
    port: options.port,
    authToken: options.authToken,
    readOnly: invocation.switches.has("readOnly"),
    workflows: (options.workflow ?? "")
      .split(",")
      .map((entry) => entry.trim())
      .filter((entry) => entry !== ""),
    redis: invocation.redis,
    env: invocation.env,
    kube: invocation.switches.has("kube")
      ? { namespace: options.kubeNamespace, kubeconfigPath: options.kubeconfig }
      : undefined,
  });
  process.stdout.write(
    `floxide console on ${running.url}${invocation.switches.has("readOnly") ? " (read-only)" : ""}\n`,
  );
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await running.close();
  return 0;
}
