// The Helm chart against a real control plane (Kubernetes 1.34): rendered manifests pass the API
// server's validation (server-side dry run), `helm install` creates everything, the operator run
// with the chart's ServiceAccount identity and arguments reconciles and scales an example,
// `helm upgrade` with a changed CRD keeps WorkflowDeployments, `helm uninstall` keeps the CRD
// and the users' resources. No kubelet: the operator runs here as a child process.
import { after, before, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { cp as copyDir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  ApiextensionsV1Api,
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  RbacAuthorizationV1Api,
} from "@kubernetes/client-node";
import { Redis } from "ioredis";
import { parse as parseYaml, parseAllDocuments, stringify as toYaml } from "yaml";
import { logTails, startControlPlane, type ControlPlane } from "../support/control-plane.ts";
import { startRedis, type RedisServer } from "../support/redis.ts";
import { pushBacklog, waitEstablished } from "../support/operator.ts";
import { waitFor } from "../support/wait.ts";
import {
  CHART_DIR,
  EVERYTHING_ON,
  REPO_ROOT,
  findManifest,
  helm,
  parseManifests,
  renderChart,
} from "../unit/helm/helm-cli.ts";

const execFileAsync = promisify(execFile);
const DEADLINE = 60_000;
const RELEASE = "floxide";
const OPERATOR_NS = "floxide-system";
const APPS_NS = "apps";
const CRD_NAME = "workflowdeployments.floxide.dev";
const wfdGroup = { group: "floxide.dev", version: "v1alpha1", plural: "workflowdeployments" };

let cp: ControlPlane;
let redis: RedisServer;
let client: Redis;
let workDir: string;
let operator: ChildProcess | undefined;
const operatorLogs: string[] = [];

async function kubectl(args: readonly string[], input?: string): Promise<string> {
  const child = execFileAsync(cp.binaries.kubectl, ["--kubeconfig", cp.kubeconfigPath, ...args], {
    timeout: 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (input !== undefined) child.child.stdin?.end(input);
  try {
    return (await child).stdout;
  } catch (error) {
    const failed = error as { stderr?: string; message: string };
    throw new Error(`kubectl ${args.join(" ")} failed: ${failed.stderr ?? failed.message}`, { cause: error });
  }
}

async function helmOk(...args: string[]): Promise<string> {
  const result = await helm(args, { kubeconfig: cp.kubeconfigPath });
  assert.equal(result.code, 0, `helm ${args.join(" ")}:\n${result.stderr}`);
  return result.stdout;
}

// prometheus-operator's CRDs are not vendored here: these stand-ins only make the API server
// accept the kinds, so the dry run checks their metadata but not their spec.
const monitoringCrd = (kind: string, plural: string) => ({
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: `${plural}.monitoring.coreos.com` },
  spec: {
    group: "monitoring.coreos.com",
    names: { kind, plural, listKind: `${kind}List`, singular: kind.toLowerCase() },
    scope: "Namespaced",
    versions: [
      {
        name: "v1",
        served: true,
        storage: true,
        schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
      },
    ],
  },
});

before(async () => {
  [cp, redis] = await Promise.all([startControlPlane(), startRedis()]);
  client = new Redis(redis.url).on("error", () => undefined);
  workDir = await mkdtemp(join(tmpdir(), "floxide-helm-test-"));
  const core = cp.kubeConfig.makeApiClient(CoreV1Api);
  for (const name of [OPERATOR_NS, APPS_NS, "team-a", "team-b"]) {
    await core.createNamespace({ body: { metadata: { name } } });
  }
  const stubs = [
    monitoringCrd("ServiceMonitor", "servicemonitors"),
    monitoringCrd("PodMonitor", "podmonitors"),
  ];
  await kubectl(["apply", "-f", "-"], stubs.map((crd) => toYaml(crd)).join("---\n"));
  await waitEstablished(
    kubectl,
    "servicemonitors.monitoring.coreos.com",
    "podmonitors.monitoring.coreos.com",
  );
});

after(async () => {
  await stopOperator();
  client?.disconnect();
  await redis?.stop();
  await cp?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

function clusterTest(name: string, body: (t: TestContext) => Promise<void>): void {
  test(name, async (t) => {
    try {
      await body(t);
    } catch (error) {
      t.diagnostic(`operator log tail:\n${operatorLogs.slice(-30).join("")}`);
      if (process.env.FLOXIDE_TEST_LOG) t.diagnostic(logTails(cp, 20));
      throw error;
    }
  });
}

/**
 * Server-side dry run: the CRD first (nothing else can be checked against it before it exists).
 * Documents are passed as helm wrote them: re-serializing could unquote YAML 1.1 booleans ("no").
 */
async function validateOnServer(yaml: string): Promise<void> {
  const documents = parseAllDocuments(yaml).filter((document) => document.contents !== null);
  const isCrd = (document: (typeof documents)[number]) =>
    (document.toJS() as { kind?: string }).kind === "CustomResourceDefinition";
  const crds = documents.filter(isCrd).map(String);
  const rest = documents.filter((document) => !isCrd(document)).map(String);
  if (crds.length > 0) {
    const out = await kubectl(["apply", "--dry-run=server", "-f", "-"], crds.join("---\n"));
    assert.match(out, /workflowdeployments\.floxide\.dev (created|configured|unchanged) \(server dry run\)/);
  }
  const applied = await kubectl(["apply", "--dry-run=server", "-f", "-"], rest.join("---\n"));
  assert.equal(applied.trim().split("\n").length, rest.length, applied);
}

clusterTest(
  "helm template output (default and non-default values) passes the API server's validation",
  async () => {
    for (const values of [
      {},
      EVERYTHING_ON,
      { "rbac.scope": "namespaced", "operator.watchNamespaces": ["team-a", "team-b"], "crds.install": false },
    ]) {
      const { yaml } = await renderChart(values);
      await validateOnServer(yaml).catch((error: Error) => {
        throw new Error(`values ${JSON.stringify(values)}: ${error.message}`);
      });
    }
  },
);

/** The operator as the chart's Deployment would run it: its args and env, its ServiceAccount. */
async function startOperatorFromRelease(): Promise<void> {
  const manifests = parseManifests(await helmOk("get", "manifest", RELEASE, "-n", OPERATOR_NS));
  const deployment = findManifest(manifests, "Deployment", "floxide-operator") as unknown as {
    spec: {
      template: {
        spec: {
          serviceAccountName: string;
          containers: {
            args: string[];
            env: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
          }[];
        };
      };
    };
  };
  const pod = deployment.spec.template.spec;
  const [container] = pod.containers;
  assert.ok(container);
  const env: Record<string, string> = {};
  for (const variable of container.env) {
    const path = variable.valueFrom?.fieldRef?.fieldPath;
    if (variable.value !== undefined) env[variable.name] = variable.value;
    else if (path === "metadata.namespace") env[variable.name] = OPERATOR_NS;
    else if (path === "metadata.name") env[variable.name] = "floxide-operator-7d9f-abcde";
  }
  const kubeconfigPath = join(workDir, "operator.kubeconfig");
  const asServiceAccount = cp.kubeConfigFor({ namespace: OPERATOR_NS, name: pod.serviceAccountName });
  await writeFile(kubeconfigPath, toYaml(JSON.parse(asServiceAccount.exportConfig())), { mode: 0o600 });
  // The chart's args, then what differs outside a pod: the kubeconfig and a free local port.
  const args = [...container.args, "--kubeconfig", kubeconfigPath, "--port", "0", "--host", "127.0.0.1"];
  const child = spawn(process.execPath, ["cli/main.ts", "operator", ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env, FLOXIDE_LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  operator = child;
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => operatorLogs.push(chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => operatorLogs.push(chunk));
  const died = new AbortController();
  void once(child, "exit").then(() =>
    died.abort(new Error(`the operator exited: ${operatorLogs.join("").slice(-2000)}`)),
  );
  await waitFor(() => operatorLogs.join("").includes('"msg":"Operator started"'), {
    timeoutMs: DEADLINE,
    message: "the operator to start",
    signal: died.signal,
  });
}

async function stopOperator(): Promise<void> {
  const child = operator;
  operator = undefined;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  await exited;
}

clusterTest(
  "helm install creates everything; the operator with the chart's identity reconciles and scales an example",
  async () => {
    await helmOk("install", RELEASE, CHART_DIR, "--namespace", OPERATOR_NS);
    const manifests = parseManifests(await helmOk("get", "manifest", RELEASE, "-n", OPERATOR_NS));
    assert.ok(manifests.length >= 8);
    for (const manifest of manifests) {
      const namespaced = manifest.metadata.namespace ? ["-n", manifest.metadata.namespace] : [];
      await kubectl(["get", manifest.kind, manifest.metadata.name, ...namespaced, "-o", "name"]);
    }
    await waitEstablished(kubectl, CRD_NAME);
    // The operator pod stays Pending (no kubelet): the operator runs here, as the chart would run it.
    await startOperatorFromRelease();
    const coordination = cp.kubeConfig.makeApiClient(CoordinationV1Api);
    const lease = await waitFor(
      async () => {
        const found = await coordination.readNamespacedLease({
          namespace: OPERATOR_NS,
          name: "floxide-operator",
        });
        return found.spec?.holderIdentity ? found : undefined;
      },
      { timeoutMs: DEADLINE, message: "the leader Lease (through the chart's Role)" },
    );
    assert.equal(lease.spec?.holderIdentity, "floxide-operator-7d9f-abcde");

    const example = (await readFile(join(REPO_ROOT, "crds", "examples", "minimal.yaml"), "utf8")).replace(
      /url: redis:\/\/\S+/,
      `url: ${redis.url}`,
    );
    await kubectl(["apply", "-n", APPS_NS, "-f", "-"], example);
    const apps = cp.kubeConfig.makeApiClient(AppsV1Api);
    const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    const deployment = await waitFor(
      () => apps.readNamespacedDeployment({ namespace: APPS_NS, name: "orders" }),
      {
        timeoutMs: DEADLINE,
        message: "the worker Deployment of the example",
      },
    );
    assert.equal(deployment.metadata?.ownerReferences?.[0]?.name, "orders");
    assert.equal(deployment.spec?.template.spec?.containers[0]?.image, "ghcr.io/example/orders-worker:1.0.0");
    type Status = { observedGeneration?: number; conditions?: { type: string; status: string }[] };
    await waitFor(
      async () => {
        const wfd = (await custom.getNamespacedCustomObject({
          ...wfdGroup,
          namespace: APPS_NS,
          name: "orders",
        })) as {
          status?: Status;
        };
        const reachable = wfd.status?.conditions?.find((c) => c.type === "StoreReachable");
        return wfd.status?.observedGeneration === 1 && reachable?.status === "True";
      },
      { timeoutMs: DEADLINE, message: "status observedGeneration 1 and StoreReachable=True" },
    );
    // A backlog of 25 ready items: 10 per pod by default -> 3 pods.
    await pushBacklog(client, "orders", 25);
    await waitFor(
      async () =>
        (await apps.readNamespacedDeployment({ namespace: APPS_NS, name: "orders" })).spec?.replicas === 3,
      { timeoutMs: DEADLINE, message: "the example scaled to 3 replicas" },
    );
  },
);

clusterTest("helm upgrade with a changed CRD updates it and keeps the WorkflowDeployments", async () => {
  const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
  const before = (await custom.getNamespacedCustomObject({
    ...wfdGroup,
    namespace: APPS_NS,
    name: "orders",
  })) as {
    metadata: { uid: string };
  };
  // The next chart version: the CRD gains a printer column.
  const nextChart = join(workDir, "floxide");
  await copyDir(CHART_DIR, nextChart, { recursive: true });
  const crdPath = join(nextChart, "files", "workflowdeployments.floxide.dev.yaml");
  const crd = parseYaml(await readFile(crdPath, "utf8")) as {
    spec: { versions: { additionalPrinterColumns: { name: string; type: string; jsonPath: string }[] }[] };
  };
  crd.spec.versions[0]!.additionalPrinterColumns.push({
    name: "Dead",
    type: "integer",
    jsonPath: ".status.backlog.dead",
  });
  await writeFile(crdPath, toYaml(crd));
  await helmOk("upgrade", RELEASE, nextChart, "--namespace", OPERATOR_NS);
  const extensions = cp.kubeConfig.makeApiClient(ApiextensionsV1Api);
  const updated = await extensions.readCustomResourceDefinition({ name: CRD_NAME });
  assert.ok(
    updated.spec.versions[0]?.additionalPrinterColumns?.some((column) => column.name === "Dead"),
    "the new column",
  );
  const after = (await custom.getNamespacedCustomObject({
    ...wfdGroup,
    namespace: APPS_NS,
    name: "orders",
  })) as {
    metadata: { uid: string };
  };
  assert.equal(after.metadata.uid, before.metadata.uid);
  assert.match(await kubectl(["get", "wfd", "orders", "-n", APPS_NS]), /DEAD/);
});

clusterTest("helm uninstall removes the operator but keeps the CRD and the users' resources", async () => {
  await stopOperator();
  await helmOk("uninstall", RELEASE, "--namespace", OPERATOR_NS);
  const apps = cp.kubeConfig.makeApiClient(AppsV1Api);
  const rbac = cp.kubeConfig.makeApiClient(RbacAuthorizationV1Api);
  const core = cp.kubeConfig.makeApiClient(CoreV1Api);
  await waitFor(
    async () => {
      const names = (await apps.listNamespacedDeployment({ namespace: OPERATOR_NS })).items.map(
        (d) => d.metadata?.name,
      );
      return !names.includes("floxide-operator");
    },
    { timeoutMs: DEADLINE, message: "the operator Deployment to go" },
  );
  const clusterRoles = (await rbac.listClusterRole()).items.map((role) => role.metadata?.name);
  assert.ok(!clusterRoles.includes("floxide-operator"), "the ClusterRole is gone");
  const serviceAccounts = (await core.listNamespacedServiceAccount({ namespace: OPERATOR_NS })).items.map(
    (sa) => sa.metadata?.name,
  );
  assert.ok(!serviceAccounts.includes("floxide-operator"), "the ServiceAccount is gone");
  const extensions = cp.kubeConfig.makeApiClient(ApiextensionsV1Api);
  const crd = await extensions.readCustomResourceDefinition({ name: CRD_NAME });
  assert.equal(crd.metadata?.deletionTimestamp, undefined, "the CRD is kept, not being deleted");
  const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
  await custom.getNamespacedCustomObject({ ...wfdGroup, namespace: APPS_NS, name: "orders" });
  const workers = await apps.readNamespacedDeployment({ namespace: APPS_NS, name: "orders" });
  assert.equal(workers.metadata?.deletionTimestamp, undefined, "the workers' Deployment stays");
});
