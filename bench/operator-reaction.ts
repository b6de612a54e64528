/**
 * The operator's reaction: the time from a backlog appearing in Redis to the scale patch of the
 * worker Deployment (0 -> N), with the operator running in this process against a local control
 * plane (the Kubernetes test binaries; see docs/kubernetes-tests.md) and the CRD's
 * `pollIntervalSeconds` set to `pollSeconds`. Items are pushed at a random moment of the poll
 * cycle, so the figure spreads over one poll interval plus the reconcile; the reconcile alone is
 * the minimum. Skipped, with the reason, when the binaries are not there.
 */
import { setTimeout as delay } from "node:timers/promises";
import { AppsV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { Redis } from "ioredis";
import { pino } from "pino";
import { startOperator, type RunningOperator } from "../operator/manager.ts";
import { OperatorMetrics } from "../operator/metrics.ts";
import { versionField, WorkflowKeys } from "../worker/store/index.ts";
import { ControlPlaneAssetsMissing, startControlPlane } from "../test/support/control-plane.ts";
import { installOperatorResources, workflowDeployment, WFD_GROUP } from "../test/support/operator.ts";
import { waitFor } from "../test/support/wait.ts";
import { median } from "./stats.ts";

export type OperatorReactionResult =
  | { readonly skipped: string }
  | {
      readonly pollSeconds: number;
      readonly samples: number;
      /** Backlog pushed -> Deployment spec.replicas > 0 (ms). */
      readonly medianMs: number;
      readonly minMs: number;
      readonly maxMs: number;
    };

const NS = "bench";

export async function runOperatorReaction(
  redisUrl: string,
  options: { samples: number; pollSeconds: number },
): Promise<OperatorReactionResult> {
  let plane;
  try {
    plane = await startControlPlane();
  } catch (error) {
    if (error instanceof ControlPlaneAssetsMissing) return { skipped: error.message.split("\n")[0] ?? "" };
    throw error;
  }
  const admin = new Redis(redisUrl);
  let operator: RunningOperator | undefined;
  try {
    await admin.flushall();
    const apps = plane.kubeConfig.makeApiClient(AppsV1Api);
    const custom = plane.kubeConfig.makeApiClient(CustomObjectsApi);
    await installOperatorResources(plane, [NS], { rbac: false });
    operator = await startOperator({
      kubeConfig: plane.kubeConfig,
      namespaces: [NS],
      identity: "bench",
      logger: pino({ level: "silent" }),
      metrics: new OperatorMetrics({ defaultMetrics: false }),
    });
    await custom.createNamespacedCustomObject({
      ...WFD_GROUP,
      namespace: NS,
      body: workflowDeployment("react", NS, redisUrl, {
        scaling: {
          minReplicas: 0,
          maxReplicas: 4,
          pollIntervalSeconds: options.pollSeconds,
          cooldownSeconds: 0,
          scaleDownStabilizationSeconds: 0,
        },
      }),
    });
    const replicas = async (): Promise<number> => {
      try {
        return (await apps.readNamespacedDeployment({ namespace: NS, name: "react" })).spec?.replicas ?? -1;
      } catch {
        return -1;
      }
    };
    const keys = new WorkflowKeys("react");
    const ready = keys.key("ready");
    await admin.hset(keys.key("versions"), versionField(keys.version), Date.now());
    const times: number[] = [];
    for (let i = 0; i < options.samples; i += 1) {
      await waitFor(async () => (await replicas()) === 0, { timeoutMs: 60_000, message: "0 replicas" });
      // A random point of the poll cycle, as a real backlog would appear.
      await delay(Math.random() * options.pollSeconds * 1000);
      const pushedAt = performance.now();
      await admin.rpush(ready, "{}");
      await waitFor(async () => (await replicas()) > 0, {
        timeoutMs: 60_000,
        intervalMs: 10,
        message: "the scale patch",
      });
      times.push(performance.now() - pushedAt);
      await admin.del(ready);
    }
    return {
      pollSeconds: options.pollSeconds,
      samples: times.length,
      medianMs: median(times),
      minMs: Math.min(...times),
      maxMs: Math.max(...times),
    };
  } finally {
    await operator?.stop();
    admin.disconnect();
    await plane.stop();
  }
}
