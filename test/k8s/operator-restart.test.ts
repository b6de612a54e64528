// The operator process SIGKILLed in the middle of reconciling several WorkflowDeployments, then
// started again: it converges with exactly one Deployment, Service and PodDisruptionBudget per
// WorkflowDeployment, each owned by it, and nothing orphaned.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PolicyV1Api,
  type V1ObjectMeta,
} from "@kubernetes/client-node";
import { startControlPlane, type ControlPlane } from "../support/control-plane.ts";
import { startRedis, type RedisServer } from "../support/redis.ts";
import {
  installOperatorResources,
  OPERATOR_NS,
  workflowDeployment,
  WFD_GROUP as group,
} from "../support/operator.ts";
import { waitFor } from "../support/wait.ts";

const NS = "restart";
const NAMES = ["wf-a", "wf-b", "wf-c", "wf-d", "wf-e", "wf-f"];

let cp: ControlPlane;
let redis: RedisServer;
let dir: string;
let kubeconfig: string;
const children: ChildProcess[] = [];

before(async () => {
  [cp, redis] = await Promise.all([startControlPlane(), startRedis()]);
  await installOperatorResources(cp, [NS]);
  dir = mkdtempSync(join(tmpdir(), "floxide-operator-restart-"));
  kubeconfig = join(dir, "operator.kubeconfig");
  // The operator process acts as its ServiceAccount, with exactly the shipped RBAC.
  writeFileSync(
    kubeconfig,
    cp.kubeConfigFor({ namespace: OPERATOR_NS, name: "floxide-operator" }).exportConfig(),
  );
});

after(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await redis?.stop();
  await cp?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

function startOperatorProcess(identity: string): ChildProcess {
  const child = spawn(
    process.execPath,
    [
      "cli/main.ts",
      "operator",
      "--kubeconfig",
      kubeconfig,
      "--namespaces",
      NS,
      "--lease-namespace",
      OPERATOR_NS,
      "--lease-duration",
      "3",
      "--renew-deadline",
      "2",
      "--retry-period",
      "1",
      "--concurrency",
      "1",
      "--port",
      "0",
      "--host",
      "127.0.0.1",
      "--identity",
      identity,
      "--log-level",
      "warn",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  children.push(child);
  return child;
}

const ownedByExisting = (meta: V1ObjectMeta | undefined, uids: Map<string, string>): boolean => {
  const owners = meta?.ownerReferences ?? [];
  return (
    owners.length === 1 &&
    owners[0]?.kind === "WorkflowDeployment" &&
    uids.get(owners[0].name) === owners[0].uid
  );
};

test("SIGKILL mid-reconcile, restart: one set of children per WorkflowDeployment, none orphaned", async () => {
  const apps = cp.kubeConfig.makeApiClient(AppsV1Api);
  const core = cp.kubeConfig.makeApiClient(CoreV1Api);
  const policy = cp.kubeConfig.makeApiClient(PolicyV1Api);
  const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
  const first = startOperatorProcess("operator-1");
  for (const name of NAMES) {
    await custom.createNamespacedCustomObject({
      ...group,
      namespace: NS,
      body: workflowDeployment(name, NS, redis.url, { scaling: { minReplicas: 1 } }),
    });
  }
  // Kill it as soon as it has started on the work, before it can have finished all of it.
  await waitFor(async () => (await apps.listNamespacedDeployment({ namespace: NS })).items.length >= 1, {
    timeoutMs: 60_000,
    intervalMs: 20,
    message: "the first operator to create a Deployment",
  });
  first.kill("SIGKILL");
  await once(first, "exit");
  const doneBeforeKill = (await apps.listNamespacedDeployment({ namespace: NS })).items.length;
  assert.ok(
    doneBeforeKill < NAMES.length,
    `the kill came mid-way (${doneBeforeKill} of ${NAMES.length} Deployments)`,
  );

  startOperatorProcess("operator-2");
  const wfds = async () =>
    (await custom.listNamespacedCustomObject({ ...group, namespace: NS })) as {
      items: {
        metadata: { name: string; uid: string; generation: number };
        status?: { observedGeneration?: number };
      }[];
    };
  await waitFor(
    async () =>
      (await wfds()).items.every((wfd) => wfd.status?.observedGeneration === wfd.metadata.generation),
    {
      timeoutMs: 90_000,
      intervalMs: 200,
      message: "every WorkflowDeployment reconciled by the restarted operator",
    },
  );
  const uids = new Map((await wfds()).items.map((wfd) => [wfd.metadata.name, wfd.metadata.uid]));
  const deployments = (await apps.listNamespacedDeployment({ namespace: NS })).items;
  const services = (await core.listNamespacedService({ namespace: NS })).items;
  const budgets = (await policy.listNamespacedPodDisruptionBudget({ namespace: NS })).items;
  for (const [kind, list] of [
    ["Deployment", deployments],
    ["Service", services],
    ["PodDisruptionBudget", budgets],
  ] as const) {
    assert.equal(list.length, NAMES.length, `exactly one ${kind} per WorkflowDeployment`);
    for (const object of list) {
      assert.ok(
        ownedByExisting(object.metadata, uids),
        `${kind} ${object.metadata?.name} is owned by its WorkflowDeployment`,
      );
    }
  }
});
