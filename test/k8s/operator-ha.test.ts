// The operator's safety nets against a real control plane and redis-server: busy workers
// survive scale-in (pod-deletion cost), only the Lease holder acts, and a replacement operator
// converges on what its predecessor left.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { AppsV1Api, CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { Redis } from "ioredis";
import { startControlPlane, type ControlPlane } from "../support/control-plane.ts";
import { startRedis, type RedisServer } from "../support/redis.ts";
import {
  installOperatorResources,
  OPERATOR_NS,
  pushBacklog,
  startOperatorAsServiceAccount,
  workflowDeployment,
  WFD_GROUP,
} from "../support/operator.ts";
import { waitFor } from "../support/wait.ts";
import { WorkflowKeys } from "../../worker/store/index.ts";
import type { RunningOperator } from "../../operator/manager.ts";
import { OperatorMetrics } from "../../operator/metrics.ts";

const DEADLINE = 60_000;
const NS = "ha";
const SELECTOR = (name: string) => `floxide.dev/workflow-deployment=${name}`;

let cp: ControlPlane;
let redis: RedisServer;
let client: Redis;
let apps: AppsV1Api;
let core: CoreV1Api;
let custom: CustomObjectsApi;
const running: RunningOperator[] = [];

function start(identity: string, metrics = new OperatorMetrics({ defaultMetrics: false })) {
  return startOperatorAsServiceAccount(cp, { identity, namespaces: [NS], metrics }).then((operator) => {
    running.push(operator);
    return operator;
  });
}

before(async () => {
  [cp, redis] = await Promise.all([startControlPlane(), startRedis()]);
  apps = cp.kubeConfig.makeApiClient(AppsV1Api);
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
  client = new Redis(redis.url).on("error", () => undefined);
  await installOperatorResources(cp, [NS]);
});

after(async () => {
  for (const operator of running) await operator.stop();
  client?.disconnect();
  await redis?.stop();
  await cp?.stop();
});

const create = (name: string, scaling: Record<string, unknown>) =>
  custom.createNamespacedCustomObject({
    ...WFD_GROUP,
    namespace: NS,
    body: workflowDeployment(name, NS, redis.url, { scaling }),
  });
const replicasOf = async (name: string) =>
  (await apps.readNamespacedDeployment({ namespace: NS, name })).spec?.replicas;
const livePods = async (name: string) =>
  (await core.listNamespacedPod({ namespace: NS, labelSelector: SELECTOR(name) })).items.filter(
    (pod) => !pod.metadata?.deletionTimestamp,
  );
const reconcileCount = async (metrics: OperatorMetrics) =>
  (await metrics.reconciles.get()).values.reduce((sum, value) => sum + value.value, 0);

test("with two operators only the Lease holder reconciles; the standby takes over when it goes", async () => {
  const metricsA = new OperatorMetrics({ defaultMetrics: false });
  const metricsB = new OperatorMetrics({ defaultMetrics: false });
  const a = await start("operator-a", metricsA);
  await waitFor(() => a.isLeader(), { timeoutMs: DEADLINE, message: "a to lead" });
  const b = await start("operator-b", metricsB);
  await create("first", { minReplicas: 1 });
  await waitFor(async () => (await replicasOf("first")) === 1, { timeoutMs: DEADLINE, message: "first" });
  assert.ok(!b.isLeader());
  assert.equal(await reconcileCount(metricsB), 0, "the standby did not reconcile");
  await waitFor(async () => (await reconcileCount(metricsA)) > 0, {
    timeoutMs: DEADLINE,
    message: "a reconciled",
  });

  await a.stop();
  await waitFor(() => b.isLeader(), { timeoutMs: DEADLINE, message: "b to take over" });
  const lease = (await custom.getNamespacedCustomObject({
    group: "coordination.k8s.io",
    version: "v1",
    plural: "leases",
    namespace: OPERATOR_NS,
    name: "floxide-operator",
  })) as { spec: { holderIdentity: string; leaseTransitions: number } };
  assert.equal(lease.spec.holderIdentity, "operator-b");
  await create("second", { minReplicas: 2 });
  await waitFor(async () => (await replicasOf("second")) === 2, {
    timeoutMs: DEADLINE,
    message: "second by b",
  });

  // A replacement converges on what b left: no duplicate, no orphan.
  await b.stop();
  await create("third", { minReplicas: 1 });
  const c = await start("operator-c");
  await waitFor(() => c.isLeader(), { timeoutMs: DEADLINE, message: "c to lead" });
  await waitFor(async () => (await replicasOf("third")) === 1, {
    timeoutMs: DEADLINE,
    message: "third by c",
  });
  const deployments = (await apps.listNamespacedDeployment({ namespace: NS })).items;
  assert.deepEqual(deployments.map((d) => d.metadata?.name).sort(), ["first", "second", "third"]);
  for (const deployment of deployments) assert.equal(deployment.metadata?.ownerReferences?.length, 1);
});

test("scale-in keeps the pods holding leases: they get the higher deletion cost and idle pods go", async () => {
  await waitFor(() => running.some((operator) => operator.isLeader()), {
    timeoutMs: DEADLINE,
    message: "a leader",
  });
  const name = "costly";
  const keys = new WorkflowKeys(name);
  const key = (suffix: "ready" | "leases" | "workers") => keys.key(suffix);
  await create(name, {
    minReplicas: 0,
    maxReplicas: 5,
    pollIntervalSeconds: 1,
    scaleDownStabilizationSeconds: 2,
  });
  await pushBacklog(client, name, 40);
  await waitFor(async () => (await livePods(name)).length === 4, { timeoutMs: DEADLINE, message: "4 pods" });
  const pods = (await livePods(name)).map((pod) => pod.metadata!.name!).sort();
  const busy = pods.slice(0, 2);
  const expires = Date.now() + 600_000;
  for (const pod of pods) {
    const liveness = {
      workerId: pod,
      status: busy.includes(pod) ? "busy" : "idle",
      inFlight: busy.includes(pod) ? 1 : 0,
      at: Date.now(),
    };
    await client.hset(key("workers"), pod, `${expires}|${JSON.stringify(liveness)}`);
  }
  // Two items in flight (one per busy worker), nothing waiting: the policy wants 1, the floor is 2.
  await client.multi().del(key("ready")).zadd(key("leases"), expires, "lease-1", expires, "lease-2").exec();
  await waitFor(async () => (await replicasOf(name)) === 2, { timeoutMs: DEADLINE, message: "2 replicas" });
  await waitFor(async () => (await livePods(name)).length === 2, {
    timeoutMs: DEADLINE,
    message: "2 pods left",
  });
  const left = await livePods(name);
  assert.deepEqual(left.map((pod) => pod.metadata!.name).sort(), busy);
  for (const pod of left) {
    assert.equal(pod.metadata?.annotations?.["controller.kubernetes.io/pod-deletion-cost"], "101");
  }
});
