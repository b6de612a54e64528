// The chart's console (ui.enabled): off by default; on, a Deployment running `floxide ui` with
// the variables of its own option table, the token from a Secret, and a Service.
import assert from "node:assert/strict";
import { test } from "node:test";
import { UI_OPTIONS } from "../../../console/server/options.ts";
import { REDIS_OPTIONS } from "../../../contract/index.ts";
import { CHART_DIR, findManifest, helm, renderChart, valueArgs, type Manifest } from "./helm-cli.ts";

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}
interface Container {
  command: string[];
  args?: string[];
  env: EnvVar[];
  ports: { containerPort: number }[];
  securityContext: Record<string, unknown>;
}
const containerOf = (manifests: Manifest[]): Container =>
  (
    findManifest(manifests, "Deployment", "floxide-ui").spec as {
      template: { spec: { containers: Container[] } };
    }
  ).template.spec.containers[0] as Container;

const ON = {
  "ui.enabled": true,
  "ui.redisUrl": "redis://redis.floxide:6379",
  "ui.workflows": ["video", "billing"],
};

test("the defaults deploy no console", async () => {
  const { manifests } = await renderChart();
  assert.equal(
    manifests.some((m) => m.metadata.name.includes("-ui")),
    false,
  );
});

test("ui.enabled: floxide ui in a Deployment, its variables from the option tables, the token from a Secret", async () => {
  const { manifests } = await renderChart(ON);
  const container = containerOf(manifests);
  assert.deepEqual(container.command.slice(-2), ["/opt/floxide/dist/cli/bin.js", "ui"]);
  const known = new Set<string>(
    [...Object.values(UI_OPTIONS), ...Object.values(REDIS_OPTIONS)].map((spec) => spec.env),
  );
  for (const variable of container.env)
    assert.ok(known.has(variable.name), `${variable.name} is an option's variable`);
  const env = Object.fromEntries(container.env.map((v) => [v.name, v]));
  assert.equal(env[UI_OPTIONS.host.env]?.value, "0.0.0.0");
  assert.equal(env[UI_OPTIONS.workflow.env]?.value, "video,billing");
  assert.equal(env[REDIS_OPTIONS.redisUrl.env]?.value, "redis://redis.floxide:6379");
  assert.deepEqual(env[UI_OPTIONS.authToken.env]?.valueFrom?.secretKeyRef, {
    name: "floxide-ui-token",
    key: "token",
  });
  const secret = findManifest(manifests, "Secret", "floxide-ui-token");
  const token = Buffer.from((secret.data as { token: string }).token, "base64").toString();
  assert.ok(token.length >= 16, "a token the console accepts beyond loopback");
  assert.equal(container.securityContext.readOnlyRootFilesystem, true);
  const service = findManifest(manifests, "Service", "floxide-ui");
  assert.deepEqual((service.spec as { ports: { port: number }[] }).ports[0]?.port, 8090);
  assert.equal(container.args, undefined);
});

test("ui.readOnly and an existing token Secret; the Redis URL from a Secret", async () => {
  const { manifests } = await renderChart({
    "ui.enabled": true,
    "ui.readOnly": true,
    "ui.redisUrlSecret": { name: "redis-credentials", key: "url" },
    "ui.auth.existingSecret": "my-console-token",
  });
  const container = containerOf(manifests);
  assert.deepEqual(container.args, ["--read-only"]);
  const env = Object.fromEntries(container.env.map((v) => [v.name, v]));
  assert.deepEqual(env[REDIS_OPTIONS.redisUrl.env]?.valueFrom?.secretKeyRef, {
    name: "redis-credentials",
    key: "url",
  });
  assert.deepEqual(env[UI_OPTIONS.authToken.env]?.valueFrom?.secretKeyRef, {
    name: "my-console-token",
    key: "token",
  });
  assert.equal(
    manifests.some((m) => m.kind === "Secret"),
    false,
    "no Secret of the chart's own",
  );
});

test("ui.kube: the console runs with --kube as a ServiceAccount that may only get and list WorkflowDeployments", async () => {
  const podOf = (manifests: Manifest[]) =>
    (
      findManifest(manifests, "Deployment", "floxide-ui").spec as {
        template: { spec: { serviceAccountName?: string; automountServiceAccountToken: boolean } };
      }
    ).template.spec;
  const off = await renderChart(ON);
  assert.equal(podOf(off.manifests).automountServiceAccountToken, false, "no token without ui.kube");
  const rules = [{ apiGroups: ["floxide.dev"], resources: ["workflowdeployments"], verbs: ["get", "list"] }];
  const everywhere = await renderChart({ ...ON, "ui.kube.enabled": true });
  assert.deepEqual(containerOf(everywhere.manifests).args, ["--kube"]);
  assert.deepEqual(podOf(everywhere.manifests), {
    ...podOf(everywhere.manifests),
    serviceAccountName: "floxide-ui",
    automountServiceAccountToken: true,
  });
  findManifest(everywhere.manifests, "ServiceAccount", "floxide-ui");
  assert.deepEqual(findManifest(everywhere.manifests, "ClusterRole", "floxide-ui").rules, rules);
  assert.deepEqual(findManifest(everywhere.manifests, "ClusterRoleBinding", "floxide-ui").subjects, [
    {
      kind: "ServiceAccount",
      name: "floxide-ui",
      namespace: findManifest(everywhere.manifests, "Deployment", "floxide-ui").metadata.namespace,
    },
  ]);
  const one = await renderChart({
    ...ON,
    "ui.readOnly": true,
    "ui.kube.enabled": true,
    "ui.kube.namespace": "apps",
  });
  assert.deepEqual(containerOf(one.manifests).args, ["--read-only", "--kube", "--kube-namespace", "apps"]);
  const role = findManifest(one.manifests, "Role", "floxide-ui");
  assert.equal(role.metadata.namespace, "apps");
  assert.deepEqual(role.rules, rules);
  assert.equal(findManifest(one.manifests, "RoleBinding", "floxide-ui").metadata.namespace, "apps");
  assert.equal(
    one.manifests.some((m) => m.kind === "ClusterRole" && m.metadata.name === "floxide-ui"),
    false,
  );
});

test("ui.enabled without a Redis is refused with a clear message; lint passes with it on", async () => {
  const refused = await helm(["template", "floxide", CHART_DIR, ...valueArgs({ "ui.enabled": true })]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /ui\.enabled needs ui\.redisUrl or ui\.redisUrlSecret\.name/);
  const badPort = await helm(["template", "floxide", CHART_DIR, ...valueArgs({ ...ON, "ui.port": 70000 })]);
  assert.match(badPort.stderr, /at '\/ui\/port'/);
  const lint = await helm(["lint", "--strict", CHART_DIR, ...valueArgs(ON)]);
  assert.equal(lint.code, 0, `${lint.stdout}\n${lint.stderr}`);
});
