// The worker Deployment of a WorkflowDeployment, as a server-side-apply body: only the fields
// the operator means to own. The worker is configured through its contract (contract/): every
// variable name below comes from WORKER_OPTIONS.
import type {
  V1Container,
  V1Deployment,
  V1EnvVar,
  V1PodSpec,
  V1Volume,
  V1VolumeMount,
} from "@kubernetes/client-node";
import { optionEnv, WORKER_OPTIONS, type WorkerOption } from "../../contract/index.ts";
import type { WorkflowDeployment } from "../api/workflow-deployment.ts";
import {
  childMetadata,
  commonLabels,
  deploymentName,
  METRICS_PORT_NAME,
  versionSelectorLabels,
} from "./labels.ts";

export const WORKER_CONTAINER = "worker";
/**
 * `floxide worker` as the worker base image runs it (Dockerfile.worker's ENTRYPOINT, kept equal
 * by test/unit/helm/images.test.ts): node by absolute path, since the image has no shell and no
 * /usr/bin/env to resolve `floxide`'s shebang. `spec.args` follow it.
 */
export const WORKER_COMMAND: readonly string[] = [
  "/usr/local/bin/node",
  "/opt/floxide/dist/cli/bin.js",
  "worker",
];
/** Seconds added to the drain timeout: SIGTERM delivery, closing connections, flushing logs. */
export const GRACE_MARGIN_SECONDS = 15;
const REDIS_CA_DIR = "/etc/floxide/redis-ca";
const NON_ROOT_UID = 1000;

/**
 * The worker options the operator leaves to their defaults (or to `spec.env` / `spec.args`), and
 * why. Every other worker option is set from the spec; a test holds the two lists together.
 */
export const WORKER_OPTIONS_LEFT_TO_DEFAULTS: Readonly<Partial<Record<WorkerOption, string>>> = {
  host: "the pod listens on every address",
  blockMs: "an engine tuning knob, not part of the WorkflowDeployment spec",
  retentionSeconds: "not part of the WorkflowDeployment spec yet (set it with spec.env)",
};

const fromSecret = (option: WorkerOption, ref: { name: string; key: string }): V1EnvVar => ({
  name: WORKER_OPTIONS[option].env,
  valueFrom: { secretKeyRef: { ...ref } },
});

export function workerEnv(wfd: WorkflowDeployment): V1EnvVar[] {
  const { spec } = wfd;
  const { redis } = spec;
  const env: V1EnvVar[] = optionEnv(WORKER_OPTIONS, {
    workflow: spec.module,
    workflowVersion: spec.version,
    redisUrl: redis.url,
    redisUsername: redis.username,
    redisTlsCaFile: redis.tls?.caSecretRef ? `${REDIS_CA_DIR}/${redis.tls.caSecretRef.key}` : undefined,
    redisMode: redis.mode,
    redisSentinelName: redis.sentinelName,
    keyPrefix: spec.keyPrefix,
    partitions: spec.partitions,
    concurrency: spec.concurrency,
    port: spec.metricsPort,
    drainTimeoutSeconds: spec.drainTimeoutSeconds,
    leaseMs: spec.leaseMs,
    durability: spec.durability,
    logLevel: spec.logLevel,
  });
  if (redis.urlSecretRef) env.push(fromSecret("redisUrl", redis.urlSecretRef));
  if (redis.passwordSecretRef) env.push(fromSecret("redisPassword", redis.passwordSecretRef));
  env.push({ name: WORKER_OPTIONS.workerId.env, valueFrom: { fieldRef: { fieldPath: "metadata.name" } } });
  for (const extra of spec.env ?? []) env.push(extra as V1EnvVar);
  return env;
}

function workerContainer(wfd: WorkflowDeployment): V1Container {
  const { spec } = wfd;
  const mounts: V1VolumeMount[] = [{ name: "tmp", mountPath: "/tmp" }];
  if (spec.redis.tls?.caSecretRef) mounts.push({ name: "redis-ca", mountPath: REDIS_CA_DIR, readOnly: true });
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path, port: METRICS_PORT_NAME },
    periodSeconds,
    failureThreshold,
    timeoutSeconds: 2,
  });
  return {
    name: WORKER_CONTAINER,
    image: spec.image,
    ...(spec.imagePullPolicy ? { imagePullPolicy: spec.imagePullPolicy } : {}),
    command: [...WORKER_COMMAND],
    ...(spec.args?.length ? { args: [...spec.args] } : {}),
    env: workerEnv(wfd),
    ports: [{ name: METRICS_PORT_NAME, containerPort: spec.metricsPort, protocol: "TCP" }],
    ...(spec.resources ? { resources: spec.resources as V1Container["resources"] } : {}),
    startupProbe: probe("/healthz", 2, 30),
    livenessProbe: probe("/healthz", 10, 3),
    readinessProbe: probe("/readyz", 5, 2),
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    },
    volumeMounts: mounts,
  };
}

function podSpec(wfd: WorkflowDeployment): V1PodSpec {
  const { spec } = wfd;
  const volumes: V1Volume[] = [{ name: "tmp", emptyDir: {} }];
  if (spec.redis.tls?.caSecretRef) {
    const ref = spec.redis.tls.caSecretRef;
    volumes.push({
      name: "redis-ca",
      secret: { secretName: ref.name, items: [{ key: ref.key, path: ref.key }] },
    });
  }
  return {
    ...(spec.serviceAccountName ? { serviceAccountName: spec.serviceAccountName } : {}),
    // Workers talk to Redis, not to the API server.
    automountServiceAccountToken: false,
    terminationGracePeriodSeconds: spec.drainTimeoutSeconds + GRACE_MARGIN_SECONDS,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: NON_ROOT_UID,
      runAsGroup: NON_ROOT_UID,
      fsGroup: NON_ROOT_UID,
      seccompProfile: { type: "RuntimeDefault" },
    },
    ...(spec.imagePullSecrets?.length
      ? { imagePullSecrets: spec.imagePullSecrets.map((s) => ({ ...s })) }
      : {}),
    ...(spec.nodeSelector ? { nodeSelector: { ...spec.nodeSelector } } : {}),
    ...(spec.tolerations?.length ? { tolerations: spec.tolerations as V1PodSpec["tolerations"] } : {}),
    ...(spec.affinity ? { affinity: spec.affinity as V1PodSpec["affinity"] } : {}),
    containers: [workerContainer(wfd)],
    volumes,
  };
}

/**
 * spec.podTemplate.spec applied over the generated pod spec: fields replace, except
 * `containers`, where the entry named `worker` is merged into the worker container and other
 * entries are added as sidecars.
 */
export function applyPodOverrides(
  base: V1PodSpec,
  overrides: Record<string, unknown> | undefined,
): V1PodSpec {
  if (!overrides) return base;
  const { containers: extraContainers, ...rest } = overrides as Partial<V1PodSpec>;
  const merged: V1PodSpec = { ...base, ...rest, containers: base.containers };
  for (const container of extraContainers ?? []) {
    const index = merged.containers.findIndex((existing) => existing.name === container.name);
    if (index >= 0) merged.containers[index] = { ...merged.containers[index]!, ...container };
    else merged.containers.push(container);
  }
  return merged;
}

/** The worker Deployment of spec.version (the one version whose pod template the spec describes). */
export function buildDeployment(wfd: WorkflowDeployment, replicas: number): V1Deployment {
  const overrides = wfd.spec.podTemplate;
  const { version } = wfd.spec;
  const labels = versionSelectorLabels(wfd, version);
  const metadata = childMetadata(wfd, deploymentName(wfd));
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { ...metadata, labels: { ...metadata.labels, ...labels } },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      // A new pod must be up before an old one drains: no capacity dip on a spec change.
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: "25%", maxUnavailable: 0 } },
      template: {
        metadata: {
          labels: { ...(overrides?.metadata?.labels ?? {}), ...commonLabels(wfd), ...labels },
          ...(overrides?.metadata?.annotations ? { annotations: { ...overrides.metadata.annotations } } : {}),
        },
        spec: applyPodOverrides(podSpec(wfd), overrides?.spec),
      },
    },
  };
}
