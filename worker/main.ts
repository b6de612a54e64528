/**
 * The worker process: the composition root. Reads config once, builds the store, the pool, the
 * metrics and the HTTP server, and wires signals to a graceful drain.
 */
import { hostname } from "node:os";
import { pino, type Logger as Pino } from "pino";
import { Registry, collectDefaultMetrics } from "prom-client";
import { loadWorkerConfig, WORKER_OPTIONS, type RawOptions, type WorkerConfig } from "../contract/index.ts";
import { WorkerPool } from "./engine/index.ts";
import { buildHttpServer } from "./http/index.ts";
import { loadWorkflowModule } from "./load-workflow.ts";
import { outcomeLabel, WorkerMetrics } from "./observability/metrics.ts";
import { FloxideError } from "./sdk/index.ts";
import { openRedisBackend } from "./store/open-redis.ts";

export interface RunningWorker {
  readonly port: number;
  /** Drains and closes everything; resolves when done. */
  shutdown(reason: string): Promise<void>;
}

export async function startWorker(config: WorkerConfig, log: Pino): Promise<RunningWorker> {
  const def = await loadWorkflowModule(config.workflow);
  if (config.workflowVersion !== undefined && config.workflowVersion !== def.version) {
    throw new FloxideError(
      "InvalidConfig",
      `the workflow module ${config.workflow} declares version '${def.version}', but this worker was started for ` +
        `version '${config.workflowVersion}' (${WORKER_OPTIONS.workflowVersion.env}, the WorkflowDeployment's spec.version): ` +
        `build the image with the module of that version, or set spec.version to '${def.version}'`,
      { expected: config.workflowVersion, declared: def.version },
    );
  }
  const workerId = config.workerId ?? hostname();
  const wlog = log.child({ workflow: def.name, worker: workerId });
  const backend = await openRedisBackend(config, wlog);
  const store = backend.forWorkflow(def.name, def.version);
  try {
    await backend.ping();
    // Keys of another layout or partition count: this worker could never serve them.
    await store.checkLayout?.();
  } catch (error) {
    if (error instanceof FloxideError && error.code === "InvalidConfig") {
      await backend.close();
      throw error;
    }
    // Not fatal: the loops retry and /readyz reports it until Redis answers.
    wlog.warn({ err: error }, "Redis is not reachable yet");
  }

  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "floxide_worker_" });
  const pool: WorkerPool = new WorkerPool({
    store,
    workflow: def,
    concurrency: config.concurrency,
    leaseMs: config.leaseMs,
    blockMs: config.blockMs,
    workerId,
    log: wlog,
    onStep: (report) => {
      metrics.recordStep(report);
      // Which item's result this worker reported, and as what: lets a test or an operator tell
      // a step that ran twice from one reported twice (a commit a failover lost).
      if (wlog.isLevelEnabled("debug")) {
        const { item } = report.claim;
        const fields = { run: item.runId, item: item.id, node: item.node, attempt: item.attempt };
        wlog.debug({ ...fields, outcome: outcomeLabel(report) }, "step reported");
      }
    },
    onReclaim: (result) => metrics.recordReclaim(result),
  });
  const metrics: WorkerMetrics = new WorkerMetrics(
    {
      workflow: def.name,
      inFlight: () => pool.inFlight,
      draining: () => pool.status === "draining",
      depth: () => store.depth(),
      storeUnusable: () => pool.storeProblem !== null,
    },
    registry,
  );
  const running = pool;
  const http = await buildHttpServer({
    registry,
    health: {
      sinceProgressMs: () => running.sinceProgressMs(),
      stallAfterMs: Math.max(60_000, config.blockMs * 4, config.leaseMs),
      draining: () => running.status !== "running",
      pingStore: () => backend.ping(),
      storeProblem: () => running.storeProblem,
      pingTimeoutMs: 2000,
    },
  });
  const address = await http.listen({ port: config.port, host: config.host });
  running.start();
  const port =
    http.server.address() !== null && typeof http.server.address() === "object"
      ? (http.server.address() as { port: number }).port
      : config.port;
  wlog.info({ port, concurrency: config.concurrency, version: def.version, address }, "worker started");

  let closing: Promise<void> | undefined;
  return {
    port,
    shutdown(reason: string) {
      closing ??= (async () => {
        wlog.info(
          { reason, inFlight: running.inFlight, drainTimeoutSeconds: config.drainTimeoutSeconds },
          "draining",
        );
        await running.stop({ graceMs: config.drainTimeoutSeconds * 1000 });
        await http.close();
        await backend.close();
        wlog.info("worker stopped");
      })();
      return closing;
    },
  };
}

/** How long past the drain timeout a worker waits for Redis and its steps before exiting anyway. */
export const EXIT_GRACE_MS = 5000;
/** The pause between the last log line and process.exit, for the log to reach stdout. */
const EXIT_FLUSH_MS = 200;

/**
 * `floxide worker` (its flags parsed by the CLI, keyed by option name): exit 0 after a clean
 * drain, 1 on a startup fault or a drain that failed or passed its timeout + EXIT_GRACE_MS (Redis
 * unreachable), 2 on invalid configuration, 130 on a second signal. The process exits even if the
 * workflow module holds open handles.
 */
export async function workerMain(flags: RawOptions, env: NodeJS.ProcessEnv): Promise<number> {
  let config: WorkerConfig;
  try {
    config = loadWorkerConfig(flags, env);
  } catch (error) {
    process.stderr.write(`floxide worker: ${(error as Error).message}\n`);
    return 2;
  }
  const log = pino({
    level: config.logLevel,
    base: { pid: process.pid },
    redact: ["*.password", "*.redisPassword", "*.url"],
  });
  let worker: RunningWorker;
  try {
    worker = await startWorker(config, log);
  } catch (error) {
    const message = error instanceof FloxideError ? `${error.code}: ${error.message}` : String(error);
    log.fatal({ err: error }, "worker failed to start");
    process.stderr.write(`floxide worker: ${message}\n`);
    return 1;
  }
  return new Promise<number>((resolve) => {
    let signals = 0;
    let deadline: NodeJS.Timeout | undefined;
    const exit = (code: number, reason: string): void => {
      clearTimeout(deadline);
      if (code === 0) log.info({ code, reason }, "worker exiting");
      else log.error({ code, reason }, "worker exiting");
      resolve(code);
      // Handles the workflow module holds (a pool, an interval) or a connection that never
      // closed must not keep the process alive: exit once the log has been written.
      setTimeout(() => process.exit(code), EXIT_FLUSH_MS).unref();
    };
    const onSignal = (signal: NodeJS.Signals): void => {
      signals += 1;
      if (signals > 1) {
        log.warn({ signal }, "second signal: exiting without finishing the drain");
        exit(130, `second signal (${signal}) during the drain`);
        return;
      }
      const limitMs = config.drainTimeoutSeconds * 1000 + EXIT_GRACE_MS;
      deadline = setTimeout(
        () =>
          exit(
            1,
            `the drain did not finish within ${limitMs / 1000} s (drain timeout ${config.drainTimeoutSeconds} s + ${EXIT_GRACE_MS / 1000} s grace): Redis unreachable or a step ignoring its signal`,
          ),
        limitMs,
      );
      void worker.shutdown(signal).then(
        () => exit(0, `drained after ${signal}`),
        (error: unknown) => {
          log.error({ err: error }, "drain failed");
          exit(1, `the drain failed: ${error instanceof Error ? error.message : String(error)}`);
        },
      );
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
}
