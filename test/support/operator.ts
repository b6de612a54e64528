/**
 * What the operator suites (and the operator bench) set up on a control plane: the namespaces,
 * the CRD and the shipped RBAC; WorkflowDeployment objects; an in-process operator acting as
 * its ServiceAccount with short leader-election timings.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { CoreV1Api } from "@kubernetes/client-node";
import type { Redis } from "ioredis";
import { pino } from "pino";
import { startOperator, type RunningOperator } from "../../operator/manager.ts";
import { OperatorMetrics } from "../../operator/metrics.ts";
import { versionField, WorkflowKeys } from "../../worker/store/index.ts";
import type { ControlPlane } from "./control-plane.ts";
import { waitFor } from "./wait.ts";

export const OPERATOR_NS = "floxide-system";
export const WFD_GROUP = { group: "floxide.dev", version: "v1alpha1", plural: "workflowdeployments" };
const repoFile = (path: string): string => fileURLToPath(new URL(`../../${path}`, import.meta.url));

/** `kubectl --kubeconfig <admin> ...args`; resolves with stdout. */
export async function kubectl(cp: ControlPlane, ...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(
    cp.binaries.kubectl,
    ["--kubeconfig", cp.kubeconfigPath, ...args],
    { timeout: 60_000 },
  );
  return stdout;
}

/**
 * Creates `namespaces`, applies the CRD and waits until it is served; with `rbac`, also creates
 * the operator's namespace and applies deploy/rbac (the ServiceAccount and its roles).
 */
export async function installOperatorResources(
  cp: ControlPlane,
  namespaces: readonly string[],
  options: { rbac?: boolean } = {},
): Promise<void> {
  const core = cp.kubeConfig.makeApiClient(CoreV1Api);
  const all = options.rbac === false ? namespaces : [OPERATOR_NS, ...namespaces];
  for (const name of all) await core.createNamespace({ body: { metadata: { name } } });
  await kubectl(cp, "apply", "--server-side", "-f", repoFile("crds/workflowdeployments.floxide.dev.yaml"));
  await waitEstablished((args) => kubectl(cp, ...args), "workflowdeployments.floxide.dev");
  if (options.rbac !== false) await kubectl(cp, "apply", "-f", repoFile("deploy/rbac/"));
}

/**
 * Waits until each CRD is Established. Not `kubectl wait --for=condition=Established`: right after
 * the apply a CRD may have no conditions yet, and kubectl then fails instead of waiting.
 */
export async function waitEstablished(
  run: (args: string[]) => Promise<string>,
  ...crds: readonly string[]
): Promise<void> {
  const established = 'jsonpath={.status.conditions[?(@.type=="Established")].status}';
  for (const crd of crds) {
    await waitFor(async () => (await run(["get", `crd/${crd}`, "-o", established])) === "True", {
      timeoutMs: 30_000,
      message: `CRD ${crd} to be Established`,
    });
  }
}

/** A WorkflowDeployment of `name` (also its workflow) on `redisUrl`; `spec` adds or overrides fields. */
export function workflowDeployment(
  name: string,
  namespace: string,
  redisUrl: string,
  spec: Record<string, unknown> = {},
) {
  return {
    apiVersion: "floxide.dev/v1alpha1",
    kind: "WorkflowDeployment",
    metadata: { name, namespace },
    spec: {
      workflow: name,
      image: "example/worker:1",
      module: "/app/workflow.js",
      redis: { url: redisUrl },
      ...spec,
    },
  };
}

/** The operator in this process, as its ServiceAccount (the shipped RBAC, by impersonation). */
export function startOperatorAsServiceAccount(
  cp: ControlPlane,
  options: { identity: string; namespaces: readonly string[]; metrics?: OperatorMetrics },
): Promise<RunningOperator> {
  return startOperator({
    kubeConfig: cp.kubeConfigFor({ namespace: OPERATOR_NS, name: "floxide-operator" }),
    namespaces: options.namespaces,
    identity: options.identity,
    leaderElection: {
      namespace: OPERATOR_NS,
      name: "floxide-operator",
      leaseDurationSeconds: 4,
      renewDeadlineSeconds: 3,
      retryPeriodSeconds: 1,
    },
    resyncSeconds: 30,
    pollTickMs: 200,
    logger: pino({ level: process.env.FLOXIDE_TEST_LOG ?? "silent" }),
    metrics: options.metrics ?? new OperatorMetrics({ defaultMetrics: false }),
  });
}

/**
 * `count` ready items of `workflow` (its default version, registered as create-run would) for
 * the operator to read: a backlog with no worker to run it.
 */
export async function pushBacklog(
  client: Redis,
  workflow: string,
  count: number,
  prefix?: string,
  place: { partition: number; partitions: number } = { partition: 0, partitions: 1 },
): Promise<void> {
  const keys = new WorkflowKeys(workflow, prefix, undefined, place.partition, place.partitions);
  await client
    .pipeline()
    .hset(keys.key("versions"), versionField(keys.version), Date.now())
    .rpush(keys.key("ready"), ...Array.from({ length: count }, (_, i) => `{"id":${i}}`))
    .exec();
}

/** Empties the ready items of `workflow`'s default version. */
export async function clearBacklog(client: Redis, workflow: string, prefix?: string): Promise<void> {
  await client.del(new WorkflowKeys(workflow, prefix).key("ready"));
}
