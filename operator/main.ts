// `floxide operator`: the composition root. Reads the config once, builds the logger, metrics,
// HTTP server and manager, and wires the signals. Exit codes: 0 clean shutdown, 2 invalid
// config, 1 startup fault (or leadership lost: the restart re-joins as a candidate).
import { KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { loadOperatorConfig, type OperatorConfig } from "./config.ts";
import { buildOperatorHttp } from "./http.ts";
import { startOperator } from "./manager.ts";
import { OperatorMetrics } from "./metrics.ts";
import type { RawOptions } from "../contract/index.ts";

const STALL_AFTER_MS = 60_000;

function kubeConfigFrom(config: OperatorConfig, env: NodeJS.ProcessEnv): KubeConfig {
  const kubeConfig = new KubeConfig();
  // In a pod the ServiceAccount wins over a stray kubeconfig, unless one is named explicitly.
  if (config.kubeconfig) kubeConfig.loadFromFile(config.kubeconfig);
  else if (env.KUBERNETES_SERVICE_HOST) kubeConfig.loadFromCluster();
  else kubeConfig.loadFromDefault();
  return kubeConfig;
}

/** `floxide operator` (its flags parsed by the CLI, keyed by option name). */
export async function operatorMain(flags: RawOptions, env: NodeJS.ProcessEnv): Promise<number> {
  let config: OperatorConfig;
  try {
    config = loadOperatorConfig(flags, env);
  } catch (error) {
    process.stderr.write(`floxide operator: ${(error as Error).message}\n`);
    return 2;
  }
  const logger = pino({
    level: config.logLevel,
    base: { component: "floxide-operator", identity: config.identity },
  });
  const metrics = new OperatorMetrics();
  let lost = false;
  let finish: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => (finish = resolve));
  let operator;
  let http;
  try {
    const kubeConfig = kubeConfigFrom(config, env);
    operator = await startOperator({
      kubeConfig,
      namespaces: config.namespaces,
      identity: config.identity,
      ...(config.leaderElect
        ? {
            leaderElection: {
              namespace: config.leaseNamespace,
              name: config.leaseName,
              leaseDurationSeconds: config.leaseDurationSeconds,
              renewDeadlineSeconds: config.renewDeadlineSeconds,
              retryPeriodSeconds: config.retryPeriodSeconds,
            },
          }
        : {}),
      concurrency: config.concurrency,
      resyncSeconds: config.resyncSeconds,
      logger,
      metrics,
      onLeadershipLost: () => {
        lost = true;
        finish(1);
      },
    });
    const running = operator;
    http = await buildOperatorHttp(
      {
        unhealthy: () => {
          const since = running.sinceProgressMs();
          return since > STALL_AFTER_MS
            ? `no reconcile or poll progress for ${Math.round(since / 1000)} s`
            : undefined;
        },
        unready: () => (running.synced() ? undefined : "informer caches not synced"),
      },
      metrics.registry,
    );
    const address = await http.listen({ port: config.port, host: config.host });
    logger.info({ address }, "Operator started");
  } catch (error) {
    logger.fatal({ err: error }, "Operator failed to start");
    await operator?.stop().catch(() => undefined);
    await http?.close().catch(() => undefined);
    return 1;
  }
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, "Shutting down");
    finish(0);
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  const code = await finished;
  process.removeListener("SIGTERM", onSignal);
  process.removeListener("SIGINT", onSignal);
  await operator.stop();
  await http.close();
  if (lost) logger.error("Leadership lost; exiting so the restart re-joins the election");
  logger.flush();
  return code;
}
