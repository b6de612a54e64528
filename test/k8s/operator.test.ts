// The operator against a real control plane and a real redis-server, running as its
// ServiceAccount with exactly the RBAC in deploy/rbac (impersonation). There is no kubelet:
// pods stay Pending, so nothing here waits for ready pods.
import { after, before, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PolicyV1Api,
  type V1Deployment,
} from "@kubernetes/client-node";
import { Redis } from "ioredis";
import { parseAllDocuments } from "yaml";
import { logTails, startControlPlane, type ControlPlane } from "../support/control-plane.ts";
import { startRedis, type RedisServer } from "../support/redis.ts";
import {
  clearBacklog,
  installOperatorResources,
  pushBacklog,
  kubectl as kubectlOn,
  startOperatorAsServiceAccount,
  workflowDeployment,
  WFD_GROUP as group,
} from "../support/operator.ts";
import { waitFor } from "../support/wait.ts";
import { WORKER_OPTIONS } from "../../contract/index.ts";
import { createRedisBackend } from "../../worker/store/index.ts";
import type { RunningOperator } from "../../operator/manager.ts";
import type { WorkflowDeploymentStatus } from "../../operator/api/workflow-deployment.ts";

const DEADLINE = 60_000;
const NS = "apps";

let cp: ControlPlane;
let redis: RedisServer;
let operator: RunningOperator;
let apps: AppsV1Api;
let core: CoreV1Api;
let custom: CustomObjectsApi;
let client: Redis;

const kubectl = (...args: string[]): Promise<string> => kubectlOn(cp, ...args);
const startAsServiceAccount = (identity: string): Promise<RunningOperator> =>
  startOperatorAsServiceAccount(cp, { identity, namespaces: [] });

before(async () => {
  [cp, redis] = await Promise.all([startControlPlane(), startRedis()]);
  apps = cp.kubeConfig.makeApiClient(AppsV1Api);
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
  client = new Redis(redis.url).on("error", () => undefined);
  await installOperatorResources(cp, [NS]);
  operator = await startAsServiceAccount("operator-a");
  await waitFor(() => operator.isLeader(), { timeoutMs: DEADLINE, message: "operator-a to lead" });
});

after(async () => {
  await operator?.stop();
  client?.disconnect();
  await redis?.stop();
  await cp?.stop();
});

function clusterTest(name: string, body: (t: TestContext) => Promise<void>): void {
  test(name, async (t) => {
    try {
      await body(t);
    } catch (error) {
      if (process.env.FLOXIDE_TEST_LOG) t.diagnostic(logTails(cp, 20));
      throw error;
    }
  });
}

const wfd = (name: string, spec: Record<string, unknown> = {}) =>
  workflowDeployment(name, NS, redis.url, spec);

const getWfd = async (name: string) =>
  (await custom.getNamespacedCustomObject({ ...group, namespace: NS, name })) as {
    metadata: { generation: number };
    status?: WorkflowDeploymentStatus;
  };
const condition = (status: WorkflowDeploymentStatus | undefined, type: string) =>
  status?.conditions?.find((c) => c.type === type);
const replicasOf = async (name: string) =>
  (await apps.readNamespacedDeployment({ namespace: NS, name })).spec?.replicas;

clusterTest(
  "the CRD and every example apply; invalid WorkflowDeployments are rejected naming the field",
  async () => {
    await kubectl("apply", "-n", NS, "-f", "crds/examples/");
    await kubectl("delete", "-n", NS, "-f", "crds/examples/", "--wait=false");
    const invalid: [Record<string, unknown>, RegExp][] = [
      [{ image: undefined }, /spec\.image: Required value/],
      [{ workflow: undefined }, /spec\.workflow: Required value/],
      [{ module: "" }, /spec\.module/],
      [{ workflow: "a{b}" }, /spec\.workflow/],
      [{ redis: {} }, /exactly one of spec\.redis\.url and spec\.redis\.urlSecretRef/],
      [
        { redis: { url: "redis://r:6379", urlSecretRef: { name: "s", key: "k" } } },
        /exactly one of spec\.redis\.url and spec\.redis\.urlSecretRef/,
      ],
      [{ redis: { url: "http://r" } }, /spec\.redis\.url/],
      [{ redis: { url: "redis://r", mode: "sentinel" } }, /spec\.redis\.sentinelName/],
      [{ redis: { url: "redis://r", mode: "ring" } }, /spec\.redis\.mode/],
      [{ scaling: { minReplicas: 5, maxReplicas: 2 } }, /spec\.scaling\.minReplicas/],
      [{ scaling: { maxReplicas: 0 } }, /spec\.scaling\.maxReplicas/],
      [{ scaling: { targetPerReplica: 0 } }, /spec\.scaling\.targetPerReplica/],
      [{ scaling: { pollIntervalSeconds: 0 } }, /spec\.scaling\.pollIntervalSeconds/],
      [{ scaling: { enabled: false } }, /spec\.replicas/],
      [{ concurrency: 0 }, /spec\.concurrency/],
      [{ env: [{ name: "FLOXIDE_REDIS_URL", value: "x" }] }, /spec\.env/],
      [{ drainTimeoutSeconds: -1 }, /spec\.drainTimeoutSeconds/],
      [{ partitions: 0 }, /spec\.partitions/],
      [{ partitions: 65 }, /spec\.partitions/],
      [{ workflow: "a#1" }, /spec\.workflow/],
    ];
    for (const [index, [patch, message]] of invalid.entries()) {
      const body = wfd(`invalid-${index}`, patch);
      await assert.rejects(
        custom.createNamespacedCustomObject({ ...group, namespace: NS, body }),
        (error: unknown) => {
          assert.ok(error instanceof ApiException, String(error));
          assert.equal(error.code, 422, `${JSON.stringify(patch)}: ${error.body}`);
          assert.match(String(error.body), message, JSON.stringify(patch));
          return true;
        },
      );
    }
    await custom.createNamespacedCustomObject({ ...group, namespace: NS, body: wfd("immutable") });
    await assert.rejects(
      custom.patchNamespacedCustomObject({
        ...group,
        namespace: NS,
        name: "immutable",
        body: [{ op: "replace", path: "/spec/workflow", value: "other" }],
      }),
      (error: unknown) =>
        error instanceof ApiException && /spec\.workflow is immutable/.test(String(error.body)),
    );
  },
);

clusterTest("a WorkflowDeployment gets its Deployment, Service and PDB, and reaches Ready", async () => {
  await custom.createNamespacedCustomObject({
    ...group,
    namespace: NS,
    body: wfd("shop", { scaling: { minReplicas: 1, maxReplicas: 5 }, drainTimeoutSeconds: 45 }),
  });
  const deployment = await waitFor(() => apps.readNamespacedDeployment({ namespace: NS, name: "shop" }), {
    timeoutMs: DEADLINE,
    message: "the Deployment",
  });
  const pod = deployment.spec!.template.spec!;
  assert.equal(deployment.spec?.replicas, 1);
  assert.deepEqual(pod.containers[0]!.command, [
    "/usr/local/bin/node",
    "/opt/floxide/dist/cli/bin.js",
    "worker",
  ]);
  assert.equal(pod.terminationGracePeriodSeconds, 60);
  assert.equal(pod.containers[0]!.env?.find((e) => e.name === "FLOXIDE_REDIS_URL")?.value, redis.url);
  assert.equal(deployment.metadata?.ownerReferences?.[0]?.kind, "WorkflowDeployment");
  const service = await waitFor(() => core.readNamespacedService({ namespace: NS, name: "shop" }), {
    timeoutMs: DEADLINE,
  });
  assert.equal(service.spec?.clusterIP, "None");
  const pdb = await waitFor(
    () =>
      cp.kubeConfig
        .makeApiClient(PolicyV1Api)
        .readNamespacedPodDisruptionBudget({ namespace: NS, name: "shop" }),
    { timeoutMs: DEADLINE },
  );
  assert.equal(pdb.spec?.maxUnavailable, 1);
  const status = await waitFor(
    async () => {
      const object = await getWfd("shop");
      const readyCondition = condition(object.status, "Ready");
      // Ready does not wait for the first backlog read (StoreReachable is Unknown until then).
      return readyCondition?.status === "True" &&
        condition(object.status, "StoreReachable")?.status !== "Unknown" &&
        object.status?.observedGeneration === object.metadata.generation
        ? object.status
        : undefined;
    },
    { timeoutMs: DEADLINE, message: "Ready=True with observedGeneration, and the backlog read" },
  );
  assert.equal(condition(status, "StoreReachable")?.status, "True");
  assert.equal(status.selector, "app.kubernetes.io/name=floxide-worker,floxide.dev/workflow-deployment=shop");
  assert.equal(status.readyReplicas, 0, "no kubelet: no pod is ever ready");

  // Editing the spec rolls the Deployment, and the status follows the new generation.
  await custom.patchNamespacedCustomObject({
    ...group,
    namespace: NS,
    name: "shop",
    body: [{ op: "replace", path: "/spec/image", value: "example/worker:2" }],
  });
  await waitFor(
    async () =>
      (await apps.readNamespacedDeployment({ namespace: NS, name: "shop" })).spec?.template.spec
        ?.containers[0]?.image === "example/worker:2",
    { timeoutMs: DEADLINE, message: "the new image in the Deployment" },
  );
  await waitFor(
    async () => {
      const object = await getWfd("shop");
      return object.metadata.generation === 2 && object.status?.observedGeneration === 2;
    },
    { timeoutMs: DEADLINE, message: "observedGeneration 2" },
  );
  const events = await core.listNamespacedEvent({
    namespace: NS,
    fieldSelector: "involvedObject.name=shop",
  });
  assert.ok(
    events.items.some((event) => event.reason === "Created"),
    "a Created event",
  );
});

clusterTest(
  "the backlog scales up, down after the window, to zero after the cooldown, and back from zero",
  async () => {
    const scaling = {
      minReplicas: 0,
      maxReplicas: 5,
      targetPerReplica: 10,
      pollIntervalSeconds: 1,
      scaleDownStabilizationSeconds: 4,
      cooldownSeconds: 8,
    };
    await custom.createNamespacedCustomObject({ ...group, namespace: NS, body: wfd("scaled", { scaling }) });
    await waitFor(async () => (await replicasOf("scaled")) === 0, {
      timeoutMs: DEADLINE,
      message: "0 replicas",
    });
    await pushBacklog(client, "scaled", 35);
    await waitFor(async () => (await replicasOf("scaled")) === 4, {
      timeoutMs: DEADLINE,
      message: "ceil(35/10) = 4",
    });
    await waitFor(async () => (await getWfd("scaled")).status?.backlog?.ready === 35, {
      timeoutMs: DEADLINE,
      message: "status.backlog.ready = 35",
    });

    await clearBacklog(client, "scaled");
    await pushBacklog(client, "scaled", 1);
    const drainedAt = Date.now();
    await waitFor(async () => (await replicasOf("scaled")) === 1, {
      timeoutMs: DEADLINE,
      message: "1 replica",
    });
    assert.ok(Date.now() - drainedAt >= 3_000, "not before the 4 s window");
    await clearBacklog(client, "scaled");
    const emptyAt = Date.now();
    await waitFor(async () => (await replicasOf("scaled")) === 0, { timeoutMs: DEADLINE, message: "zero" });
    assert.ok(Date.now() - emptyAt >= 7_000, "not before the 8 s cooldown");

    await pushBacklog(client, "scaled", 1);
    await waitFor(async () => (await replicasOf("scaled")) === 1, { timeoutMs: DEADLINE, message: "0 -> 1" });
    await clearBacklog(client, "scaled");
  },
);

clusterTest(
  "partitions: 6 scales on the sum of the partitions' backlog; a workflow recorded with another count is refused",
  async () => {
    const scaling = { minReplicas: 0, maxReplicas: 10, targetPerReplica: 10, pollIntervalSeconds: 1 };
    await custom.createNamespacedCustomObject({
      ...group,
      namespace: NS,
      body: wfd("sharded", { partitions: 6, scaling }),
    });
    // Skewed over three of the six partitions: 37 in all, ceil(37 / 10) = 4 replicas.
    for (const [partition, count] of [
      [0, 10],
      [3, 15],
      [5, 12],
    ] as const) {
      await pushBacklog(client, "sharded", count, undefined, { partition, partitions: 6 });
    }
    await waitFor(async () => (await replicasOf("sharded")) === 4, {
      timeoutMs: DEADLINE,
      message: "ceil((10 + 15 + 12) / 10) = 4",
    });
    await waitFor(async () => (await getWfd("sharded")).status?.backlog?.ready === 37, {
      timeoutMs: DEADLINE,
      message: "status.backlog.ready = 37",
    });
    const env = (await apps.readNamespacedDeployment({ namespace: NS, name: "sharded" })).spec?.template.spec
      ?.containers[0]?.env;
    assert.equal(env?.find((e) => e.name === WORKER_OPTIONS.partitions.env)?.value, "6");

    // The workflow "recorded" has 6 partitions in Redis; a WorkflowDeployment of 4 is refused.
    const recorder = createRedisBackend({ connection: redis.url, partitions: 6 });
    try {
      await recorder.forWorkflow("recorded").checkLayout();
    } finally {
      await recorder.close();
    }
    await custom.createNamespacedCustomObject({
      ...group,
      namespace: NS,
      body: wfd("recorded", { workflow: "recorded", partitions: 4, scaling }),
    });
    const refused = await waitFor(
      async () => {
        const found = condition((await getWfd("recorded")).status, "StoreReachable");
        return found?.status === "False" ? found : null;
      },
      { timeoutMs: DEADLINE, message: "StoreReachable=False for the other partition count" },
    );
    assert.match(
      refused.message ?? "",
      /has 6 partition\(s\) in Redis .*configured with 4: set --partitions 6/,
    );
    assert.equal(refused.reason, "PartitionMismatch");
    await custom.deleteNamespacedCustomObject({ ...group, namespace: NS, name: "recorded" });
    await custom.deleteNamespacedCustomObject({ ...group, namespace: NS, name: "sharded" });
  },
);

clusterTest("Redis down: StoreReachable=False and replicas kept; back up: recovers", async () => {
  await custom.createNamespacedCustomObject({
    ...group,
    namespace: NS,
    body: wfd("outage", {
      scaling: {
        minReplicas: 0,
        maxReplicas: 5,
        pollIntervalSeconds: 1,
        cooldownSeconds: 2,
        scaleDownStabilizationSeconds: 1,
      },
    }),
  });
  await pushBacklog(client, "outage", 20);
  await waitFor(async () => (await replicasOf("outage")) === 2, {
    timeoutMs: DEADLINE,
    message: "2 replicas",
  });
  await redis.kill();
  await waitFor(
    async () => condition((await getWfd("outage")).status, "StoreReachable")?.status === "False",
    {
      timeoutMs: DEADLINE,
      message: "StoreReachable=False",
    },
  );
  const status = (await getWfd("outage")).status;
  assert.equal(condition(status, "Degraded")?.status, "True");
  assert.equal(await replicasOf("outage"), 2, "replicas unchanged while Redis is down");
  await redis.restart();
  await waitFor(async () => condition((await getWfd("outage")).status, "StoreReachable")?.status === "True", {
    timeoutMs: DEADLINE,
    message: "StoreReachable=True again",
  });
  client.disconnect();
  client = new Redis(redis.url).on("error", () => undefined);
});

clusterTest(
  "a missing Redis Secret: StoreReachable=False naming it, an Event; creating it recovers",
  async () => {
    await custom.createNamespacedCustomObject({
      ...group,
      namespace: NS,
      body: wfd("secretless", {
        redis: { urlSecretRef: { name: "secretless-redis", key: "url" } },
        scaling: { minReplicas: 1, maxReplicas: 3, pollIntervalSeconds: 1 },
      }),
    });
    await waitFor(
      async () => condition((await getWfd("secretless")).status, "StoreReachable")?.status === "False",
      { timeoutMs: DEADLINE, message: "StoreReachable=False" },
    );
    const store = condition((await getWfd("secretless")).status, "StoreReachable");
    assert.match(
      store?.message ?? "",
      /^cannot read Secret apps\/secretless-redis: 404: secrets "secretless-redis" not found$/,
    );
    assert.equal(await replicasOf("secretless"), 1, "the Deployment is still applied at minReplicas");
    const events = await core.listNamespacedEvent({
      namespace: NS,
      fieldSelector: "involvedObject.name=secretless",
    });
    assert.ok(
      events.items.some(
        (e) => e.type === "Warning" && /cannot read Secret apps\/secretless-redis/.test(e.message ?? ""),
      ),
      `a Warning Event names the Secret: ${JSON.stringify(events.items.map((e) => e.message))}`,
    );
    await core.createNamespacedSecret({
      namespace: NS,
      body: { metadata: { name: "secretless-redis" }, stringData: { url: redis.url } },
    });
    await waitFor(
      async () => condition((await getWfd("secretless")).status, "StoreReachable")?.status === "True",
      { timeoutMs: DEADLINE, message: "StoreReachable=True once the Secret exists" },
    );
    await custom.deleteNamespacedCustomObject({ ...group, namespace: NS, name: "secretless" });
  },
);

clusterTest("deleting a WorkflowDeployment garbage-collects its children", async () => {
  await custom.deleteNamespacedCustomObject({ ...group, namespace: NS, name: "shop" });
  await waitFor(
    async () => {
      try {
        await apps.readNamespacedDeployment({ namespace: NS, name: "shop" });
        return false;
      } catch (error) {
        return error instanceof ApiException && error.code === 404;
      }
    },
    { timeoutMs: DEADLINE, message: "the Deployment to be collected" },
  );
  const deployments = await apps.listNamespacedDeployment({ namespace: NS });
  assert.ok(!deployments.items.some((d: V1Deployment) => d.metadata?.name === "shop"));
});

test("the shipped RBAC grants exactly these rules", () => {
  const docs = parseAllDocuments(readFileSync("deploy/rbac/operator.yaml", "utf8")).map((doc) => doc.toJS());
  const rules = (kind: string) =>
    docs
      .filter((doc) => doc.kind === kind)
      .flatMap((doc) => doc.rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[])
      .map(
        (rule) =>
          `${rule.apiGroups.join(",") || "core"} ${rule.resources.join(",")}: ${rule.verbs.join(",")}`,
      );
  assert.deepEqual(rules("ClusterRole"), [
    "floxide.dev workflowdeployments: get,list,watch",
    "floxide.dev workflowdeployments/status: get,patch,update",
    "floxide.dev workflowdeployments/finalizers: update",
    "apps deployments: get,list,watch,create,patch,delete",
    "core services: get,create,patch",
    "policy poddisruptionbudgets: get,create,patch,delete",
    "core pods: list,patch",
    "core secrets: get",
    "core events: create,patch",
  ]);
  assert.deepEqual(rules("Role"), ["coordination.k8s.io leases: get,create,update"]);
});
