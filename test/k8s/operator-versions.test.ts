// Safe upgrades on a real control plane and a real redis-server: one worker Deployment per live
// version of a WorkflowDeployment, runs pinned to the version they started on, an old version
// drained by its own backlog (in Redis) and retired, a rollback while it drains, the ramp written
// to the store. There is no kubelet: the "pods" of each version are worker pools in this process,
// run against the same Redis with a module of that version.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { AppsV1Api, CoreV1Api, CustomObjectsApi, type V1Deployment } from "@kubernetes/client-node";
import { Redis } from "ioredis";
import type { WorkflowDeploymentStatus } from "../../operator/api/workflow-deployment.ts";
import type { RunningOperator } from "../../operator/manager.ts";
import { Orchestrator, WorkerPool } from "../../worker/engine/index.ts";
import { next, node, workflow } from "../../worker/sdk/index.ts";
import { createRedisBackend, WorkflowKeys, type RedisBackend } from "../../worker/store/index.ts";
import { startControlPlane, type ControlPlane } from "../support/control-plane.ts";
import {
  installOperatorResources,
  kubectl as kubectlOn,
  startOperatorAsServiceAccount,
  workflowDeployment,
  WFD_GROUP as group,
} from "../support/operator.ts";
import { startRedis, type RedisServer } from "../support/redis.ts";
import { waitFor } from "../support/wait.ts";

const DEADLINE = 60_000;
const NS = "upgrades";

let cp: ControlPlane;
let redis: RedisServer;
let operator: RunningOperator;
let apps: AppsV1Api;
let core: CoreV1Api;
let custom: CustomObjectsApi;
let client: Redis;
let backend: RedisBackend;

before(async () => {
  [cp, redis] = await Promise.all([startControlPlane(), startRedis()]);
  apps = cp.kubeConfig.makeApiClient(AppsV1Api);
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
  client = new Redis(redis.url).on("error", () => undefined);
  backend = createRedisBackend({ connection: redis.url });
  await installOperatorResources(cp, [NS]);
  operator = await startOperatorAsServiceAccount(cp, { identity: "operator-v", namespaces: [] });
  await waitFor(() => operator.isLeader(), { timeoutMs: DEADLINE, message: "the operator to lead" });
});

after(async () => {
  await operator?.stop();
  await backend?.close();
  client?.disconnect();
  await redis?.stop();
  await cp?.stop();
});

const getWfd = async (name: string) =>
  (await custom.getNamespacedCustomObject({ ...group, namespace: NS, name })) as {
    status?: WorkflowDeploymentStatus;
  };
const deployment = async (name: string): Promise<V1Deployment | null> =>
  (await apps.listNamespacedDeployment({ namespace: NS })).items.find((d) => d.metadata?.name === name) ??
  null;
const setVersion = (name: string, version: string) =>
  custom.patchNamespacedCustomObject({
    ...group,
    namespace: NS,
    name,
    body: [{ op: "replace", path: "/spec/version", value: version }],
  });
const versionOf = (status: WorkflowDeploymentStatus | undefined, version: string) =>
  status?.versions?.find((v) => v.version === version);
const create = (name: string, spec: Record<string, unknown>) =>
  custom.createNamespacedCustomObject({
    ...group,
    namespace: NS,
    body: workflowDeployment(name, NS, redis.url, spec),
  });
/** The status once `holds` is true of it. */
const statusWhere = (name: string, holds: (status: WorkflowDeploymentStatus) => boolean, message: string) =>
  waitFor(
    async () => {
      const { status } = await getWfd(name);
      return status !== undefined && holds(status) ? status : null;
    },
    { timeoutMs: DEADLINE, message },
  );
const reasons = async (name: string) =>
  (await core.listNamespacedEvent({ namespace: NS, fieldSelector: `involvedObject.name=${name}` })).items.map(
    (e) => `${e.reason}: ${e.message}`,
  );

/** A one-node workflow of `name` at `version`, whose output names the version that ran it. */
const module = (name: string, version: string) =>
  workflow({ name, version, start: "work", nodes: [node<unknown, string>("work", () => next(version))] });

async function startRuns(name: string, count: number): Promise<string[]> {
  const def = module(name, "1");
  const orchestrator = new Orchestrator(backend.forWorkflow(name, def.version), def);
  return Promise.all(Array.from({ length: count }, async () => (await orchestrator.start({})).runId));
}

test("a version change drains the old version's Deployment by its Redis backlog, then retires it; a rollback while it drains keeps its pods", async () => {
  const name = "shop";
  const spec = {
    version: "1",
    scaling: {
      minReplicas: 0,
      maxReplicas: 5,
      pollIntervalSeconds: 1,
      cooldownSeconds: 2,
      scaleDownStabilizationSeconds: 1,
    },
    rollout: { retireAfterSeconds: 3 },
  };
  await create(name, spec);
  await statusWhere(name, (status) => status.currentVersion === "1", "version 1 current");
  assert.ok(await deployment("shop-1"), "the Deployment of version 1");
  const keys = new WorkflowKeys(name);
  assert.equal(await client.hget(keys.key("versions"), "current"), "1", "the rollout in Redis");

  // Five runs on version 1, nobody to run them yet.
  const pinned = await startRuns(name, 5);
  await waitFor(async () => (await deployment("shop-1"))?.spec?.replicas === 1, {
    timeoutMs: DEADLINE,
    message: "v1 scaled up",
  });

  await setVersion(name, "2");
  const draining = await statusWhere(
    name,
    (status) => status.currentVersion === "2" && versionOf(status, "1")?.state === "draining",
    "version 2 current, version 1 draining",
  );
  assert.equal(versionOf(draining, "1")?.backlog, 5);
  assert.equal(draining.drainingVersions, 1);
  assert.ok(await deployment("shop-2"), "the Deployment of version 2");
  const v1Template = JSON.stringify((await deployment("shop-1"))?.spec?.template);
  assert.equal((await deployment("shop-1"))?.spec?.replicas, 1, "still serving its 5 pinned runs");
  // New runs go to version 2, whoever starts them.
  const [fresh] = await startRuns(name, 1);
  assert.equal((await backend.forWorkflow(name).getRun(fresh as string))?.version, "2");

  // Rollback while version 1 drains: current again, its pods untouched.
  await setVersion(name, "1");
  await statusWhere(
    name,
    (status) => status.currentVersion === "1" && versionOf(status, "2")?.state === "draining",
    "version 1 current again, version 2 draining",
  );
  assert.equal(
    JSON.stringify((await deployment("shop-1"))?.spec?.template),
    v1Template,
    "no new pod template",
  );
  assert.equal(await client.hget(keys.key("versions"), "current"), "1");

  // Forward again; version 1's workers finish its runs (and version 2's its one): v1 retires.
  await setVersion(name, "2");
  await statusWhere(name, (status) => status.currentVersion === "2", "v2 current");
  const pools = (["1", "2"] as const).map(
    (version) =>
      new WorkerPool({
        store: backend.forWorkflow(name, version),
        workflow: module(name, version),
        workerId: `pod-v${version}`,
        blockMs: 200,
      }),
  );
  for (const pool of pools) pool.start();
  try {
    const runs = backend.forWorkflow(name);
    for (const runId of pinned) {
      const info = await waitFor(
        async () => {
          const run = await runs.getRun(runId);
          return run?.status === "completed" ? run : null;
        },
        { timeoutMs: DEADLINE },
      );
      assert.deepEqual(
        info.outputs.map((o) => o.value),
        ["1"],
        "a pinned run ran on version 1",
      );
    }
    const retired = await waitFor(
      async () => {
        const { status } = await getWfd(name);
        return versionOf(status, "1")?.state === "retired" && (await deployment("shop-1")) === null
          ? status
          : null;
      },
      { timeoutMs: DEADLINE, message: "version 1 retired and its Deployment deleted" },
    );
    assert.equal(retired.drainingVersions, 0);
    assert.equal(await client.hexists(keys.key("versions"), "v:1"), 0, "version 1 forgotten in Redis");
    assert.ok(await deployment("shop-2"));
    const events = await reasons(name);
    for (const reason of ["Created", "VersionDraining", "VersionCurrent", "VersionRetired"])
      assert.ok(
        events.some((e) => e.startsWith(`${reason}:`)),
        `${reason} in ${events.join("\n")}`,
      );
    // The README's example.
    const table = await kubectlOn(cp, "get", "wfd", name, "-n", NS);
    assert.match(table, /NAME\s+WORKFLOW\s+VERSION\s+DRAINING/);
    assert.match(table, /shop\s+shop\s+2\s+0/);
    process.stdout.write(`# kubectl get wfd ${name}\n${table}`);
  } finally {
    await Promise.all(pools.map((pool) => pool.stop({ graceMs: 2000 })));
  }
});

test("spec.rollout's ramp is written to the store: the new version takes its share of new runs", async () => {
  const name = "ramped";
  const spec = {
    version: "1",
    scaling: { pollIntervalSeconds: 1 },
    rollout: { rampPercent: 25, rampSeconds: 600 },
  };
  await create(name, spec);
  await statusWhere(name, (status) => status.currentVersion === "1", "v1 current");
  await setVersion(name, "2");
  const status = await statusWhere(name, (s) => versionOf(s, "2")?.state === "ramping", "version 2 ramping");
  assert.equal(status.currentVersion, "1", "version 1 takes the rest until the ramp ends");
  const keys = new WorkflowKeys(name);
  assert.deepEqual(await client.hmget(keys.key("versions"), "current", "ramp-version", "ramp-percent"), [
    "1",
    "2",
    "25",
  ]);
  const runs = await startRuns(name, 400);
  const versions = await Promise.all(
    runs.map(async (runId) => (await backend.forWorkflow(name).getRun(runId))?.version),
  );
  const onRamp = versions.filter((v) => v === "2").length;
  // Binomial(400, 0.25): sd 8.7; 5 sd either side.
  assert.ok(onRamp > 100 - 44 && onRamp < 100 + 44, `${onRamp} of 400 on the ramp`);
  assert.ok((await reasons(name)).some((e) => e.startsWith("VersionRamping:")));
});
