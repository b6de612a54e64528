/**
 * `floxide ui --kube` against a real kube-apiserver: the Workflows view shows each workflow's
 * WorkflowDeployments with the desired/current/ready replicas of their status, limited to one
 * namespace with --kube-namespace; an account without RBAC `list` gets the API server's refusal
 * on the page, not a broken page.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { startConsole, type RunningConsole } from "../../console/server/main.ts";
import { launchBrowser, withPage } from "../support/browser.ts";
import { startControlPlane, type ControlPlane } from "../support/control-plane.ts";
import { installOperatorResources, WFD_GROUP, workflowDeployment } from "../support/operator.ts";
import { startRedis, type RedisServer } from "../support/redis.ts";

const NS = "console-kube";
const OTHER_NS = "console-kube-other";
const WORKFLOW = "kube-shown";

let cp: ControlPlane;
let redis: RedisServer;
let scratch: string;
const consoles: RunningConsole[] = [];

interface WorkflowsView {
  workflows: { name: string; deployments: unknown }[];
  kube: { problem: string | null; malformed: string[] } | null;
}

type KubeSettings = { namespace?: string; kubeconfigPath: string } | undefined;

async function openConsole(kube: KubeSettings): Promise<RunningConsole> {
  const ui = await startConsole({
    host: "127.0.0.1",
    port: 0,
    readOnly: true,
    workflows: [WORKFLOW],
    redis: { redisUrl: redis.url },
    env: {},
    kube,
  });
  consoles.push(ui);
  return ui;
}

async function workflowsView(kube: KubeSettings): Promise<WorkflowsView> {
  const ui = await openConsole(kube);
  const response = await fetch(`${ui.url}api/workflows`);
  assert.equal(response.status, 200);
  return (await response.json()) as WorkflowsView;
}

before(async () => {
  [cp, redis] = await Promise.all([startControlPlane(), startRedis()]);
  scratch = mkdtempSync(join(tmpdir(), "console-kube-"));
  await installOperatorResources(cp, [NS, OTHER_NS], { rbac: false });
  const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
  const status = {
    "": { desiredReplicas: 3, replicas: 2, readyReplicas: 1 },
    other: { desiredReplicas: 1, replicas: 1, readyReplicas: 1 },
  };
  for (const [namespace, name, reported] of [
    [NS, "shown", status[""]],
    [OTHER_NS, "shown-too", status.other],
  ] as const) {
    const body = workflowDeployment(name, namespace, redis.url);
    await custom.createNamespacedCustomObject({
      ...WFD_GROUP,
      namespace,
      body: { ...body, spec: { ...body.spec, workflow: WORKFLOW } },
    });
    await custom.patchNamespacedCustomObjectStatus(
      { ...WFD_GROUP, namespace, name, body: { status: reported } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
  }
});

after(async () => {
  for (const ui of consoles) await ui.close();
  await redis?.stop();
  await cp?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

test("the Workflows view shows each WorkflowDeployment of the workflow with its replicas", async (t) => {
  const view = await workflowsView({ kubeconfigPath: cp.kubeconfigPath });
  assert.deepEqual(view.kube, { problem: null, malformed: [] });
  assert.deepEqual(view.workflows.find((w) => w.name === WORKFLOW)?.deployments, [
    { namespace: NS, name: "shown", workflow: WORKFLOW, desired: 3, current: 2, ready: 1 },
    { namespace: OTHER_NS, name: "shown-too", workflow: WORKFLOW, desired: 1, current: 1, ready: 1 },
  ]);
  // And the page draws them.
  const browser = await launchBrowser();
  if ("skip" in browser) return t.skip(browser.skip);
  try {
    const ui = await openConsole({ kubeconfigPath: cp.kubeconfigPath });
    await withPage(browser, t.name, async (page) => {
      await page.goto(ui.url);
      const cell = page.locator(`tr[data-workflow="${WORKFLOW}"] [data-deployment="${NS}/shown"]`);
      await cell.waitFor({ timeout: 15_000 });
      assert.match((await cell.textContent()) ?? "", /2 of 3, 1 ready/);
    });
  } finally {
    await browser.close();
  }
});

test("--kube-namespace limits the list to one namespace; without --kube there is no column", async () => {
  const view = await workflowsView({ kubeconfigPath: cp.kubeconfigPath, namespace: OTHER_NS });
  assert.deepEqual(
    (view.workflows[0]?.deployments as { name: string }[]).map((d) => d.name),
    ["shown-too"],
  );
  const without = await workflowsView(undefined);
  assert.equal(without.kube, null);
  assert.equal(without.workflows[0]?.deployments, null);
});

test("an account without RBAC list: the page gets the API server's refusal, the rest of the view works", async () => {
  const account = { namespace: NS, name: "no-rights" };
  await cp.kubeConfig.makeApiClient(CoreV1Api).createNamespacedServiceAccount({
    namespace: account.namespace,
    body: { metadata: { name: account.name } },
  });
  const kubeconfigPath = join(scratch, "no-rights.kubeconfig");
  writeFileSync(kubeconfigPath, cp.kubeConfigFor(account).exportConfig(), { mode: 0o600 });
  const view = await workflowsView({ kubeconfigPath });
  assert.match(view.kube?.problem ?? "", /HTTP 403.*RBAC `list` on workflowdeployments/);
  assert.deepEqual(view.workflows[0]?.deployments, []);
  assert.equal(view.workflows[0]?.name, WORKFLOW);
});
