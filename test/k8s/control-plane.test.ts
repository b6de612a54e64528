// The test control plane is a real Kubernetes: these tests check, against it, each thing the
// operator, `kubectl apply` and `helm install` suites rely on.
import { after, before, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  ApiException,
  ApiextensionsV1Api,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  RbacAuthorizationV1Api,
  type V1CustomResourceDefinition,
  type V1Deployment,
} from "@kubernetes/client-node";
import {
  ControlPlaneAssetsMissing,
  locateBinaries,
  logTails,
  startControlPlane,
  type ControlPlane,
} from "../support/control-plane.ts";
import { waitFor } from "../support/wait.ts";

const execFileAsync = promisify(execFile);
// Controllers react within a second or two; generous deadlines keep a loaded CI machine green.
const CONTROLLER_DEADLINE_MS = 60_000;

let controlPlane: ControlPlane;
let scratch: string;
const namespaces: string[] = [];

before(async () => {
  controlPlane = await startControlPlane();
  scratch = await mkdtemp(join(tmpdir(), "floxide-k8s-test-"));
});

after(async () => {
  // On an existing cluster the namespaces would outlive the run; locally stop() discards all.
  if (controlPlane?.existingCluster) {
    const core = controlPlane.kubeConfig.makeApiClient(CoreV1Api);
    await Promise.all(namespaces.map((name) => core.deleteNamespace({ name }).catch(() => undefined)));
  }
  await controlPlane?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** A test that, when it fails, prints the tails of the control-plane logs. */
function clusterTest(name: string, body: (t: TestContext) => Promise<void>): void {
  test(name, async (t) => {
    try {
      await body(t);
    } catch (error) {
      t.diagnostic(logTails(controlPlane));
      throw error;
    }
  });
}

const suffix = (): string => randomBytes(3).toString("hex");

async function createNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${suffix()}`;
  await controlPlane.kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
  namespaces.push(name);
  return name;
}

async function isGone(read: () => Promise<unknown>): Promise<boolean> {
  try {
    await read();
    return false;
  } catch (error) {
    if (error instanceof ApiException && error.code === 404) return true;
    throw error;
  }
}

function apiError(code: number, bodyIncludes?: string): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof ApiException, `expected an ApiException, got ${String(error)}`);
    assert.equal(error.code, code, String(error.body));
    if (bodyIncludes) assert.match(String(error.body), new RegExp(bodyIncludes));
    return true;
  };
}

async function run(binary: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  try {
    const { stdout } = await execFileAsync(binary, args, {
      env: { ...process.env, ...env },
      timeout: 60_000,
    });
    return stdout;
  } catch (error) {
    const { stderr } = error as { stderr?: string };
    throw new Error(`${binary} ${args.join(" ")} failed: ${(error as Error).message}\n${stderr ?? ""}`, {
      cause: error,
    });
  }
}

test("without binaries, the harness says to run scripts/provision.sh k8s", () => {
  assert.throws(
    () => locateBinaries({ FLOXIDE_K8S_ASSETS: join(tmpdir(), "floxide-no-such-assets") }),
    (error: unknown) =>
      error instanceof ControlPlaneAssetsMissing && /bash scripts\/provision\.sh k8s/.test(error.message),
  );
});

clusterTest("a Deployment gets a ReplicaSet and Pending pods from the controller manager", async () => {
  const namespace = await createNamespace("deploy");
  const apps = controlPlane.kubeConfig.makeApiClient(AppsV1Api);
  const core = controlPlane.kubeConfig.makeApiClient(CoreV1Api);
  await apps.createNamespacedDeployment({ namespace, body: pauseDeployment("web", 2) });

  const replicaSet = await waitFor(
    async () =>
      (await apps.listNamespacedReplicaSet({ namespace })).items.find((rs) =>
        rs.metadata?.ownerReferences?.some((owner) => owner.kind === "Deployment" && owner.name === "web"),
      ),
    { timeoutMs: CONTROLLER_DEADLINE_MS, message: "a ReplicaSet owned by Deployment web" },
  );
  const pods = await waitFor(
    async () => {
      const { items } = await core.listNamespacedPod({ namespace, labelSelector: "app=web" });
      return items.length === 2 ? items : undefined;
    },
    { timeoutMs: CONTROLLER_DEADLINE_MS, message: "2 pods of Deployment web" },
  );
  for (const pod of pods) {
    assert.equal(pod.metadata?.ownerReferences?.[0]?.uid, replicaSet.metadata?.uid);
    // No scheduler or kubelet here; a real cluster may well run them.
    if (!controlPlane.existingCluster) assert.equal(pod.status?.phase, "Pending");
  }
});

clusterTest("a CRD's CEL rule rejects a violating object with the rule's message", async () => {
  const group = `t${suffix()}.test.floxide.dev`;
  const extensions = controlPlane.kubeConfig.makeApiClient(ApiextensionsV1Api);
  const custom = controlPlane.kubeConfig.makeApiClient(CustomObjectsApi);
  const crd = await extensions.createCustomResourceDefinition({ body: rangeCrd(group) });
  const name = crd.metadata?.name ?? "";
  try {
    await waitFor(
      async () => {
        const { status } = await extensions.readCustomResourceDefinition({ name });
        return status?.conditions?.some((c) => c.type === "Established" && c.status === "True");
      },
      { message: `CRD ${name} to be Established` },
    );
    const namespace = await createNamespace("cel");
    const range = (objectName: string, min: number, max: number): object => ({
      apiVersion: `${group}/v1`,
      kind: "Range",
      metadata: { name: objectName },
      spec: { min, max },
    });
    const create = (body: object) =>
      custom.createNamespacedCustomObject({ group, version: "v1", namespace, plural: "ranges", body });
    // Established can precede the new endpoint being served for a moment.
    await waitFor(() => create(range("valid", 1, 5)), { message: "a valid Range to be accepted" });
    await assert.rejects(create(range("inverted", 5, 1)), apiError(422, "min must not exceed max"));
  } finally {
    await extensions.deleteCustomResourceDefinition({ name });
  }
});

clusterTest("deleting an owner garbage-collects its dependent", async () => {
  const namespace = await createNamespace("gc");
  const core = controlPlane.kubeConfig.makeApiClient(CoreV1Api);
  const owner = await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: "owner" } } });
  const ownerReference = {
    apiVersion: "v1",
    kind: "ConfigMap",
    name: "owner",
    uid: owner.metadata?.uid ?? "",
  };
  await core.createNamespacedConfigMap({
    namespace,
    body: { metadata: { name: "dependent", ownerReferences: [ownerReference] } },
  });

  await core.deleteNamespacedConfigMap({ namespace, name: "owner" });

  await waitFor(() => isGone(() => core.readNamespacedConfigMap({ namespace, name: "dependent" })), {
    timeoutMs: CONTROLLER_DEADLINE_MS,
    message: "the dependent ConfigMap to be garbage-collected",
  });
});

clusterTest("kubectl apply -f and kubectl get work against it", async () => {
  const namespace = await createNamespace("kubectl");
  const manifest = join(scratch, `configmap-${namespace}.yaml`);
  await writeFile(
    manifest,
    [
      "apiVersion: v1",
      "kind: ConfigMap",
      "metadata:",
      "  name: applied",
      `  namespace: ${namespace}`,
      "data:",
      "  greeting: hello",
      "",
    ].join("\n"),
  );
  const kubectl = (...args: string[]) =>
    run(controlPlane.binaries.kubectl, [`--kubeconfig=${controlPlane.kubeconfigPath}`, ...args]);

  assert.match(await kubectl("apply", "-f", manifest), /configmap\/applied created/);
  assert.match(await kubectl("apply", "-f", manifest), /configmap\/applied unchanged/);
  const greeting = await kubectl(
    "get",
    "configmap",
    "applied",
    "-n",
    namespace,
    "-o",
    "jsonpath={.data.greeting}",
  );
  assert.equal(greeting, "hello");
});

clusterTest("helm runs and reaches the API server", async () => {
  // Keep helm's cache and config out of $HOME.
  const helmEnv = {
    HELM_CACHE_HOME: join(scratch, "helm-cache"),
    HELM_CONFIG_HOME: join(scratch, "helm-config"),
    HELM_DATA_HOME: join(scratch, "helm-data"),
  };
  const helm = (...args: string[]) => run(controlPlane.binaries.helm, args, helmEnv);

  assert.match(await helm("version", "--short"), /^v\d+\.\d+\.\d+/);
  const releases = await helm(
    "list",
    "--all-namespaces",
    "--output=json",
    `--kubeconfig=${controlPlane.kubeconfigPath}`,
  );
  // A real cluster may have releases; the harness's own has none.
  assert.ok(Array.isArray(JSON.parse(releases)), releases);
});

clusterTest("an impersonated ServiceAccount without a RoleBinding is refused (403)", async () => {
  const namespace = await createNamespace("rbac");
  const admin = controlPlane.kubeConfig;
  await admin
    .makeApiClient(CoreV1Api)
    .createNamespacedServiceAccount({ namespace, body: { metadata: { name: "reader" } } });
  const asReader = controlPlane.kubeConfigFor({ namespace, name: "reader" }).makeApiClient(CoreV1Api);

  await assert.rejects(
    asReader.listNamespacedConfigMap({ namespace }),
    apiError(403, "system:serviceaccount:" + namespace + ":reader"),
  );

  // The refusal comes from RBAC, not from a broken identity: a RoleBinding lets it through.
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({
    namespace,
    body: {
      metadata: { name: "configmap-reader" },
      rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["list"] }],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name: "reader-reads-configmaps" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "configmap-reader" },
      subjects: [{ kind: "ServiceAccount", name: "reader", namespace }],
    },
  });
  await waitFor(() => asReader.listNamespacedConfigMap({ namespace }), {
    message: "the bound ServiceAccount to list ConfigMaps",
  });
});

function pauseDeployment(name: string, replicas: number): V1Deployment {
  const labels = { app: name };
  return {
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: "pause", image: "registry.k8s.io/pause:3.10" }] },
      },
    },
  };
}

function rangeCrd(group: string): V1CustomResourceDefinition {
  return {
    metadata: { name: `ranges.${group}` },
    spec: {
      group,
      scope: "Namespaced",
      names: { kind: "Range", plural: "ranges", singular: "range", listKind: "RangeList" },
      versions: [
        {
          name: "v1",
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: "object",
              properties: {
                spec: {
                  type: "object",
                  required: ["min", "max"],
                  properties: { min: { type: "integer" }, max: { type: "integer" } },
                  x_kubernetes_validations: [
                    { rule: "self.min <= self.max", message: "min must not exceed max" },
                  ],
                },
              },
            },
          },
        },
      ],
    },
  };
}
