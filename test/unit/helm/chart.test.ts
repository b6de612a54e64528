// The Helm chart without a cluster: lint, what `helm template` renders for default and
// non-default values, the values schema, and the copies that must not drift (the CRD, the RBAC
// rules of deploy/rbac, the operator flags the chart passes).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { parseTableFlags } from "../../../cli/options.ts";
import { loadOperatorConfig, OPERATOR_OPTIONS } from "../../../operator/config.ts";
import {
  CHART_DIR,
  EVERYTHING_ON,
  REPO_ROOT,
  findManifest,
  helm,
  parseManifests,
  renderChart,
  valueArgs,
  type Manifest,
} from "./helm-cli.ts";

const CRD_SOURCE = join(REPO_ROOT, "crds", "workflowdeployments.floxide.dev.yaml");
const CRD_CHART_COPY = join(CHART_DIR, "files", "workflowdeployments.floxide.dev.yaml");
const RBAC_SOURCE = join(REPO_ROOT, "deploy", "rbac", "operator.yaml");

type Rules = { apiGroups: string[]; resources: string[]; verbs: string[] }[];
interface Container {
  name: string;
  args: string[];
  env: { name: string; value?: string; valueFrom?: unknown }[];
  securityContext: Record<string, unknown>;
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
}
const podSpec = (deployment: Manifest) =>
  (
    deployment.spec as {
      template: { spec: { containers: Container[]; securityContext: Record<string, unknown> } };
    }
  ).template.spec;
const operatorContainer = (manifests: Manifest[]): Container => {
  const container = podSpec(findManifest(manifests, "Deployment", "floxide-operator")).containers[0];
  assert.ok(container, "the operator Deployment has a container");
  return container;
};
const rulesOf = (manifest: Manifest): Rules => manifest.rules as Rules;

/** The env the kubelet would give the operator container (fieldRefs resolved). */
function operatorEnv(container: Container, namespace: string, pod: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const variable of container.env) {
    if (variable.value !== undefined) env[variable.name] = variable.value;
    const path = (variable.valueFrom as { fieldRef?: { fieldPath: string } } | undefined)?.fieldRef
      ?.fieldPath;
    if (path === "metadata.namespace") env[variable.name] = namespace;
    if (path === "metadata.name") env[variable.name] = pod;
  }
  return env;
}

describe("helm lint", () => {
  test("passes with the default values and with every opt-in switched on", async () => {
    for (const values of [{}, EVERYTHING_ON]) {
      const result = await helm(["lint", "--strict", CHART_DIR, ...valueArgs(values)]);
      assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    }
  });
});

describe("the CRD", () => {
  test("the chart's copy is byte for byte crds/workflowdeployments.floxide.dev.yaml", () => {
    const source = readFileSync(CRD_SOURCE, "utf8");
    const copy = readFileSync(CRD_CHART_COPY, "utf8");
    assert.ok(
      copy === source,
      "helm/floxide/files/ has a stale CRD: run `cp crds/workflowdeployments.floxide.dev.yaml helm/floxide/files/`",
    );
  });

  test("renders under templates/ with the source's spec, kept on uninstall", async () => {
    const { manifests } = await renderChart();
    const crd = findManifest(manifests, "CustomResourceDefinition");
    const source = parseYaml(readFileSync(CRD_SOURCE, "utf8")) as Manifest;
    assert.deepEqual(crd.spec, source.spec);
    assert.equal(crd.metadata.name, source.metadata.name);
    assert.equal(crd.metadata.annotations?.["helm.sh/resource-policy"], "keep");
    assert.equal(crd.metadata.labels?.["app.kubernetes.io/part-of"], "floxide");
  });

  test("crds.install=false leaves it out; crds.keep=false drops the keep policy", async () => {
    const without = await renderChart({ "crds.install": false });
    assert.equal(without.manifests.filter((m) => m.kind === "CustomResourceDefinition").length, 0);
    const unkept = await renderChart({ "crds.keep": false });
    assert.equal(findManifest(unkept.manifests, "CustomResourceDefinition").metadata.annotations, undefined);
  });
});

describe("RBAC", () => {
  const source = parseManifests(readFileSync(RBAC_SOURCE, "utf8"));

  test("cluster scope grants exactly the rules of deploy/rbac/operator.yaml", async () => {
    const { manifests } = await renderChart();
    assert.deepEqual(
      rulesOf(findManifest(manifests, "ClusterRole", "floxide-operator")),
      rulesOf(findManifest(source, "ClusterRole", "floxide-operator")),
    );
    assert.deepEqual(
      rulesOf(findManifest(manifests, "Role", "floxide-operator-leader-election")),
      rulesOf(findManifest(source, "Role", "floxide-operator-leader-election")),
    );
    const binding = findManifest(manifests, "ClusterRoleBinding", "floxide-operator") as Manifest & {
      subjects: unknown[];
    };
    assert.deepEqual(binding.subjects, [
      { kind: "ServiceAccount", name: "floxide-operator", namespace: "floxide-system" },
    ]);
    // Same names as deploy/rbac for a release named floxide: the two can replace each other.
    const names = (list: Manifest[]) =>
      list
        .filter((m) => /Role|ServiceAccount/.test(m.kind))
        .map((m) => `${m.kind}/${m.metadata.name}`)
        .sort();
    assert.deepEqual(names(manifests), names(source));
  });

  test("namespaced scope: a Role with the same rules in each watched namespace, nothing cluster-wide", async () => {
    const { manifests } = await renderChart({
      "rbac.scope": "namespaced",
      "operator.watchNamespaces": ["team-a", "team-b"],
    });
    assert.equal(
      manifests.filter((m) => m.kind.startsWith("Cluster") && m.kind !== "CustomResourceDefinition").length,
      0,
    );
    const expected = rulesOf(findManifest(source, "ClusterRole"));
    for (const namespace of ["team-a", "team-b"]) {
      const role = manifests.find((m) => m.kind === "Role" && m.metadata.namespace === namespace);
      assert.ok(role, `a Role in ${namespace}`);
      assert.deepEqual(rulesOf(role), expected);
      assert.ok(manifests.some((m) => m.kind === "RoleBinding" && m.metadata.namespace === namespace));
    }
    assert.ok(operatorContainer(manifests).args.includes("--namespaces=team-a,team-b"));
  });

  test("namespaced scope without namespaces is refused with a clear message", async () => {
    await assert.rejects(
      renderChart({ "rbac.scope": "namespaced" }),
      /rbac\.scope=namespaced needs operator\.watchNamespaces/,
    );
  });

  test("rbac.create=false renders no roles", async () => {
    const { manifests } = await renderChart({ "rbac.create": false });
    assert.equal(manifests.filter((m) => /Role/.test(m.kind)).length, 0);
  });
});

describe("the operator Deployment", () => {
  test("runs restricted: non-root, read-only root, no escalation, no capabilities, RuntimeDefault seccomp", async () => {
    const { manifests } = await renderChart();
    const container = operatorContainer(manifests);
    assert.deepEqual(container.securityContext, {
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    const pod = podSpec(findManifest(manifests, "Deployment", "floxide-operator"));
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.deepEqual(pod.securityContext.seccompProfile, { type: "RuntimeDefault" });
    assert.equal(container.livenessProbe.httpGet.path, "/healthz");
    assert.equal(container.readinessProbe.httpGet.path, "/readyz");
    assert.ok(container.resources.requests?.cpu && container.resources.limits?.memory);
  });

  test("passes only flags the operator accepts, and they configure what the values say", async () => {
    const { manifests } = await renderChart({
      "operator.watchNamespaces": ["apps"],
      "operator.concurrency": 7,
      "operator.logLevel": "debug",
      "operator.extraArgs": ["--resync", "120"],
    });
    const container = operatorContainer(manifests);
    const config = loadOperatorConfig(
      parseTableFlags(OPERATOR_OPTIONS, container.args),
      operatorEnv(container, "floxide-system", "floxide-operator-0"),
    );
    assert.deepEqual(config.namespaces, ["apps"]);
    assert.equal(config.concurrency, 7);
    assert.equal(config.logLevel, "debug");
    assert.equal(config.resyncSeconds, 120);
    assert.equal(config.port, 8080);
    assert.equal(config.leaderElect, true);
    assert.equal(config.leaseNamespace, "floxide-system");
    assert.equal(config.leaseName, "floxide-operator");
    assert.equal(config.identity, "floxide-operator-0");
  });

  test("leader election: on for several replicas; off means one replica replaced with Recreate", async () => {
    const several = await renderChart({ "operator.replicas": 3 });
    assert.ok(operatorContainer(several.manifests).args.includes("--leader-elect=true"));
    const single = await renderChart({ "operator.leaderElection.enabled": false });
    assert.ok(operatorContainer(single.manifests).args.includes("--leader-elect=false"));
    const deployment = findManifest(single.manifests, "Deployment", "floxide-operator");
    assert.deepEqual((deployment.spec as { strategy: unknown }).strategy, { type: "Recreate" });
    assert.equal(single.manifests.filter((m) => m.metadata.name.endsWith("leader-election")).length, 0);
    await assert.rejects(
      renderChart({ "operator.replicas": 2, "operator.leaderElection.enabled": false }),
      /operator\.replicas > 1 needs operator\.leaderElection\.enabled=true/,
    );
  });
});

describe("opt-in parts", () => {
  test("the defaults render no monitors, dashboards or Redis", async () => {
    const { manifests } = await renderChart();
    const kinds = manifests.map((m) => `${m.kind}/${m.metadata.name}`).sort();
    assert.deepEqual(kinds, [
      "ClusterRole/floxide-operator",
      "ClusterRoleBinding/floxide-operator",
      "CustomResourceDefinition/workflowdeployments.floxide.dev",
      "Deployment/floxide-operator",
      "Role/floxide-operator-leader-election",
      "RoleBinding/floxide-operator-leader-election",
      "Service/floxide-operator-metrics",
      "ServiceAccount/floxide-operator",
    ]);
  });

  test("switched on: ServiceMonitor and PodMonitor with extra labels, dashboards for the sidecar, Redis", async () => {
    const { manifests } = await renderChart(EVERYTHING_ON);
    const serviceMonitor = findManifest(manifests, "ServiceMonitor");
    assert.equal(serviceMonitor.metadata.labels?.release, "kube-prometheus-stack");
    const podMonitor = findManifest(manifests, "PodMonitor");
    assert.equal(podMonitor.metadata.labels?.release, "kube-prometheus-stack");
    assert.deepEqual((podMonitor.spec as { selector: unknown }).selector, {
      matchLabels: { "app.kubernetes.io/name": "floxide-worker" },
    });
    const dashboards = manifests.filter((m) => m.kind === "ConfigMap");
    const files = readdirSync(join(CHART_DIR, "dashboards")).filter((file) => file.endsWith(".json"));
    assert.equal(dashboards.length, files.length);
    for (const file of files) {
      const configMap = dashboards.find((m) =>
        m.metadata.name.endsWith(`dashboard-${file.replace(".json", "")}`),
      );
      assert.ok(configMap, `a ConfigMap for ${file}`);
      assert.equal(configMap.metadata.labels?.grafana_dashboard, "1");
      const data = (configMap as Manifest & { data: Record<string, string> }).data;
      assert.deepEqual(
        JSON.parse(data[`floxide-${file}`] ?? "null"),
        JSON.parse(readFileSync(join(CHART_DIR, "dashboards", file), "utf8")),
      );
    }
    const redis = findManifest(manifests, "Deployment", "floxide-redis");
    assert.match(redis.metadata.annotations?.["floxide.dev/not-for-production"] ?? "", /single instance/);
    findManifest(manifests, "Service", "floxide-redis");
    findManifest(manifests, "PodDisruptionBudget", "floxide-operator");
    assert.equal(
      findManifest(manifests, "ServiceAccount").metadata.annotations?.["example.com/role"],
      "floxide",
    );
    for (const manifest of manifests)
      assert.equal(
        manifest.metadata.labels?.["example.com/owner"],
        "platform",
        `${manifest.kind} has commonLabels`,
      );
  });
});

describe("values.schema.json", () => {
  const rejected: [string, Record<string, unknown>, RegExp][] = [
    [
      "a string for an integer",
      { "operator.replicas": "two" },
      /at '\/operator\/replicas': got string, want integer/,
    ],
    ["an unknown top-level key", { replicaCount: 2 }, /additional properties 'replicaCount' not allowed/],
    [
      "an unknown nested key",
      { "operator.leaderElection.enable": true },
      /at '\/operator\/leaderElection': additional properties 'enable' not allowed/,
    ],
    [
      "an unknown RBAC scope",
      { "rbac.scope": "global" },
      /at '\/rbac\/scope': value must be one of 'cluster', 'namespaced'/,
    ],
    [
      "a bad log level",
      { "operator.logLevel": "verbose" },
      /at '\/operator\/logLevel': value must be one of/,
    ],
    [
      "a port out of range",
      { "operator.port": 70000 },
      /at '\/operator\/port': maximum: got 70,000, want 65,535/,
    ],
    [
      "a bad scrape interval",
      { "metrics.serviceMonitor.interval": "30 seconds" },
      /at '\/metrics\/serviceMonitor\/interval'/,
    ],
    [
      "a non-string label",
      { "dashboards.labels": { grafana_dashboard: 1 } },
      /at '\/dashboards\/labels\/grafana_dashboard': got number, want string/,
    ],
    [
      "a bad namespace name",
      { "operator.watchNamespaces": ["Team_A"] },
      /at '\/operator\/watchNamespaces\/0'/,
    ],
    ["a bool as a string", { "redis.enabled": "yes" }, /at '\/redis\/enabled': got string, want boolean/],
  ];
  for (const [what, values, message] of rejected) {
    test(`rejects ${what} with a message naming the value`, async () => {
      const result = await helm(["template", "floxide", CHART_DIR, ...valueArgs(values)]);
      assert.notEqual(result.code, 0, `rendered despite ${JSON.stringify(values)}`);
      assert.match(result.stderr, message);
    });
  }

  test("every key of values.yaml is described by the schema", () => {
    const values = parseYaml(readFileSync(join(CHART_DIR, "values.yaml"), "utf8")) as Record<string, unknown>;
    const schema = JSON.parse(readFileSync(join(CHART_DIR, "values.schema.json"), "utf8")) as SchemaNode;
    const missing: string[] = [];
    walkValues(values, schema, "", missing);
    assert.deepEqual(missing, []);
  });
});

interface SchemaNode {
  type?: string;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean | SchemaNode;
}

/** Keys of values.yaml the schema does not name, down to the free-form (map) nodes. */
function walkValues(value: unknown, schema: SchemaNode, path: string, missing: string[]): void {
  if (value === null || typeof value !== "object" || Array.isArray(value) || !schema.properties) return;
  if (schema.additionalProperties !== false) missing.push(`${path || "/"} (schema allows unknown keys)`);
  for (const [key, child] of Object.entries(value)) {
    const childSchema = schema.properties[key];
    if (!childSchema) missing.push(`${path}/${key}`);
    else walkValues(child, childSchema, `${path}/${key}`, missing);
  }
}
