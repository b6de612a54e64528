// The worker Deployment of a WorkflowDeployment, as a server-side-apply body: only the fields
// the operator means to own. The worker contract is worker/config/worker-config.ts: `floxide
// worker` configured by FLOXIDE_* variables, POD_NAME as its identity.
import type {
  V1Container,
  V1Deployment,
  V1EnvVar,
  V1PodSpec,
  V1Volume,
  V1VolumeMount,
} from "@kubernetes/client-node";
import type { WorkflowDeployment } from "../api/workflow-deployment.ts";
import { childMetadata, commonLabels, METRICS_PORT_NAME, selectorLabels } from "./labels.ts";

export const WORKER_CONTAINER = "worker";
/** Seconds added to the drain timeout: SIGTERM delivery, closing connections, flushing logs. */
export const GRACE_MARGIN_SECONDS = 15;
const REDIS_CA_DIR = "/etc/floxide/redis-ca";
const NON_ROOT_UID = 1000;

export function workerEnv(wfd: WorkflowDeployment): V1EnvVar[] {
  const { spec } = wfd;
  const { redis } = spec;
  const env: V1EnvVar[] = [{ name: "FLOXIDE_WORKFLOW", value: spec.module }];
  if (redis.url !== undefined) env.push({ name: "FLOXIDE_REDIS_URL", value: redis.url });
  if (redis.urlSecretRef) {
    env.push({ name: "FLOXIDE_REDIS_URL", valueFrom: { secretKeyRef: { ...redis.urlSecretRef } } });
  }
  if (redis.username !== undefined) env.push({ name: "FLOXIDE_REDIS_USERNAME", value: redis.username });
  if (redis.passwordSecretRef) {
    env.push({ name: "FLOXIDE_REDIS_PASSWORD", valueFrom: { secretKeyRef: { ...redis.passwordSecretRef } } });
  }
  if (redis.tls?.caSecretRef) {
    env.push({ name: "FLOXIDE_REDIS_TLS_CA_FILE", value: `${REDIS_CA_DIR}/${redis.tls.caSecretRef.key}` });
  }
  env.push({ name: "FLOXIDE_REDIS_MODE", value: redis.mode });
  if (redis.sentinelName !== undefined) {
    env.push({ name: "FLOXIDE_REDIS_SENTINEL_NAME", value: redis.sentinelName });
  }
  env.push(
    { name: "FLOXIDE_KEY_PREFIX", value: spec.keyPrefix },
    { name: "FLOXIDE_CONCURRENCY", value: String(spec.concurrency) },
    { name: "FLOXIDE_PORT", value: String(spec.metricsPort) },
    { name: "FLOXIDE_DRAIN_TIMEOUT", value: String(spec.drainTimeoutSeconds) },
    { name: "FLOXIDE_LOG_LEVEL", value: spec.logLevel },
  );
  if (spec.leaseMs !== undefined) env.push({ name: "FLOXIDE_LEASE_MS", value: String(spec.leaseMs) });
  env.push({ name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } });
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
    command: ["floxide", "worker"],
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

export function buildDeployment(wfd: WorkflowDeployment, replicas: number): V1Deployment {
  const overrides = wfd.spec.podTemplate;
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: childMetadata(wfd),
    spec: {
      replicas,
      selector: { matchLabels: selectorLabels(wfd) },
      // A new pod must be up before an old one drains: no capacity dip on a spec change.
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: "25%", maxUnavailable: 0 } },
      template: {
        metadata: {
          labels: { ...(overrides?.metadata?.labels ?? {}), ...commonLabels(wfd) },
          ...(overrides?.metadata?.annotations ? { annotations: { ...overrides.metadata.annotations } } : {}),
        },
        spec: applyPodOverrides(podSpec(wfd), overrides?.spec),
      },
    },
  };
}
