import { test } from "node:test";
import assert from "node:assert/strict";
import {
  buildDeployment,
  buildDisruptionBudget,
  buildService,
  selectorString,
  WORKER_COMMAND,
  WORKER_CONTAINER,
} from "../../../operator/build/index.ts";
import { WORKER_OPTIONS } from "../../../contract/index.ts";
import { workflowDeployment } from "./fixtures.ts";

const envOf = (wfd = workflowDeployment()) =>
  new Map(buildDeployment(wfd, 2).spec!.template.spec!.containers[0]!.env!.map((e) => [e.name, e]));

test("the Deployment runs `floxide worker` with the spec as FLOXIDE_* variables and POD_NAME from the downward API", () => {
  const env = envOf(
    workflowDeployment({ concurrency: 8, drainTimeoutSeconds: 90, leaseMs: 20000, logLevel: "debug" }),
  );
  const value = (name: string) => env.get(name)?.value;
  assert.equal(value(WORKER_OPTIONS.workflow.env), "/app/orders.js");
  assert.equal(value(WORKER_OPTIONS.redisUrl.env), "redis://redis:6379");
  assert.equal(value(WORKER_OPTIONS.redisMode.env), "standalone");
  assert.equal(value(WORKER_OPTIONS.keyPrefix.env), "floxide");
  assert.equal(value(WORKER_OPTIONS.concurrency.env), "8");
  assert.equal(value(WORKER_OPTIONS.port.env), "8080");
  assert.equal(value(WORKER_OPTIONS.drainTimeoutSeconds.env), "90");
  assert.equal(value(WORKER_OPTIONS.leaseMs.env), "20000");
  assert.equal(value(WORKER_OPTIONS.logLevel.env), "debug");
  assert.deepEqual(env.get(WORKER_OPTIONS.workerId.env)?.valueFrom, {
    fieldRef: { fieldPath: "metadata.name" },
  });
  const container = buildDeployment(workflowDeployment(), 2).spec!.template.spec!.containers[0]!;
  assert.deepEqual(container.command, ["/usr/local/bin/node", "/opt/floxide/dist/cli/bin.js", "worker"]);
  assert.deepEqual(container.command, WORKER_COMMAND);
  assert.equal(container.name, WORKER_CONTAINER);
});

test("Redis URL, password and CA come from Secret references, never copied into the Deployment", () => {
  const wfd = workflowDeployment({
    redis: {
      url: undefined,
      urlSecretRef: { name: "redis", key: "url" },
      passwordSecretRef: { name: "redis", key: "password" },
      username: "app",
      mode: "sentinel",
      sentinelName: "main",
      tls: { caSecretRef: { name: "redis-ca", key: "ca.crt" } },
    },
  });
  const env = envOf(wfd);
  assert.deepEqual(env.get(WORKER_OPTIONS.redisUrl.env)?.valueFrom, {
    secretKeyRef: { name: "redis", key: "url" },
  });
  assert.deepEqual(env.get(WORKER_OPTIONS.redisPassword.env)?.valueFrom, {
    secretKeyRef: { name: "redis", key: "password" },
  });
  assert.equal(env.get(WORKER_OPTIONS.redisUsername.env)?.value, "app");
  assert.equal(env.get(WORKER_OPTIONS.redisSentinelName.env)?.value, "main");
  assert.equal(env.get(WORKER_OPTIONS.redisTlsCaFile.env)?.value, "/etc/floxide/redis-ca/ca.crt");
  const pod = buildDeployment(wfd, 1).spec!.template.spec!;
  assert.deepEqual(pod.volumes?.find((v) => v.name === "redis-ca")?.secret, {
    secretName: "redis-ca",
    items: [{ key: "ca.crt", path: "ca.crt" }],
  });
  assert.ok(
    pod.containers[0]!.volumeMounts?.some((m) => m.mountPath === "/etc/floxide/redis-ca" && m.readOnly),
  );
});

test("the pod is restricted: non-root, no privilege escalation, read-only root, no capabilities, RuntimeDefault seccomp", () => {
  const pod = buildDeployment(workflowDeployment(), 1).spec!.template.spec!;
  const security = pod.containers[0]!.securityContext!;
  assert.equal(pod.securityContext?.runAsNonRoot, true);
  assert.equal(pod.securityContext?.seccompProfile?.type, "RuntimeDefault");
  assert.equal(security.allowPrivilegeEscalation, false);
  assert.equal(security.readOnlyRootFilesystem, true);
  assert.deepEqual(security.capabilities, { drop: ["ALL"] });
  assert.equal(pod.automountServiceAccountToken, false);
  assert.ok(
    pod.containers[0]!.volumeMounts?.some((m) => m.mountPath === "/tmp"),
    "a writable /tmp",
  );
});

test("probes hit /healthz and /readyz on the metrics port; the grace period is the drain timeout plus a margin", () => {
  const deployment = buildDeployment(workflowDeployment({ drainTimeoutSeconds: 100, metricsPort: 9100 }), 1);
  const pod = deployment.spec!.template.spec!;
  const container = pod.containers[0]!;
  assert.deepEqual(container.ports, [{ name: "metrics", containerPort: 9100, protocol: "TCP" }]);
  assert.equal(container.livenessProbe?.httpGet?.path, "/healthz");
  assert.equal(container.readinessProbe?.httpGet?.path, "/readyz");
  assert.equal(container.startupProbe?.httpGet?.port, "metrics");
  assert.equal(pod.terminationGracePeriodSeconds, 115);
});

test("user env, resources, scheduling and pod template overrides land in the pod", () => {
  const wfd = workflowDeployment({
    env: [{ name: "TOKEN", valueFrom: { secretKeyRef: { name: "t", key: "k" } } }],
    resources: { requests: { cpu: "250m" }, limits: { memory: "1Gi" } },
    nodeSelector: { pool: "batch" },
    tolerations: [{ key: "batch", operator: "Exists" }],
    imagePullSecrets: [{ name: "ghcr" }],
    serviceAccountName: "orders",
    podTemplate: {
      metadata: { labels: { team: "shop" }, annotations: { "a/b": "c" } },
      spec: {
        priorityClassName: "batch",
        containers: [
          { name: "worker", workingDir: "/srv" },
          { name: "proxy", image: "envoy" },
        ],
      },
    },
  });
  const template = buildDeployment(wfd, 1).spec!.template;
  const pod = template.spec!;
  assert.deepEqual(envOf(wfd).get("TOKEN")?.valueFrom, { secretKeyRef: { name: "t", key: "k" } });
  assert.deepEqual(pod.containers[0]!.resources, { requests: { cpu: "250m" }, limits: { memory: "1Gi" } });
  assert.equal(pod.containers[0]!.workingDir, "/srv");
  assert.equal(pod.containers[0]!.image, "example/orders:1", "the override merges, it does not replace");
  assert.deepEqual(
    pod.containers.map((c) => c.name),
    ["worker", "proxy"],
  );
  assert.equal(pod.priorityClassName, "batch");
  assert.deepEqual(pod.nodeSelector, { pool: "batch" });
  assert.deepEqual(pod.imagePullSecrets, [{ name: "ghcr" }]);
  assert.equal(pod.serviceAccountName, "orders");
  assert.equal(template.metadata?.labels?.team, "shop");
  assert.equal(template.metadata?.annotations?.["a/b"], "c");
});

test("a user label cannot change the selector labels", () => {
  const wfd = workflowDeployment({
    podTemplate: { metadata: { labels: { "floxide.dev/workflow-deployment": "x" } } },
  });
  const deployment = buildDeployment(wfd, 1);
  assert.equal(deployment.spec!.template.metadata!.labels!["floxide.dev/workflow-deployment"], "orders");
});

test("every child is owned by the WorkflowDeployment (controller, blockOwnerDeletion) and selects the same pods", () => {
  const wfd = workflowDeployment();
  const deployment = buildDeployment(wfd, 4);
  const service = buildService(wfd);
  const budget = buildDisruptionBudget(wfd)!;
  for (const child of [deployment, service, budget]) {
    assert.deepEqual(child.metadata?.ownerReferences, [
      {
        apiVersion: "floxide.dev/v1alpha1",
        kind: "WorkflowDeployment",
        name: "orders",
        uid: "uid-1",
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    assert.equal(child.metadata?.namespace, "shop");
  }
  assert.equal(deployment.spec?.replicas, 4);
  assert.deepEqual(service.spec?.selector, deployment.spec?.selector.matchLabels);
  assert.deepEqual(budget.spec?.selector?.matchLabels, deployment.spec?.selector.matchLabels);
  assert.equal(service.spec?.clusterIP, "None");
  assert.equal(budget.spec?.maxUnavailable, 1);
  assert.equal(
    selectorString(wfd),
    "app.kubernetes.io/name=floxide-worker,floxide.dev/workflow-deployment=orders",
  );
});

test("no PodDisruptionBudget when disabled", () => {
  assert.equal(
    buildDisruptionBudget(workflowDeployment({ disruptionBudget: { enabled: false } })),
    undefined,
  );
});
