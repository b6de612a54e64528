// The operator's only door to the API server: every write it makes, behind a small interface
// so the reconciler does not know client-node's call conventions (1.x: object parameters,
// Content-Type per call for patches).
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  PolicyV1Api,
  setHeaderOptions,
  type KubeConfig,
  type KubernetesObject,
  type V1Pod,
} from "@kubernetes/client-node";
import { GROUP, PLURAL, VERSION, type WorkflowDeploymentStatus } from "../api/workflow-deployment.ts";
import { FIELD_MANAGER } from "../build/labels.ts";

export interface EventInput {
  readonly namespace: string;
  readonly regarding: { kind: string; apiVersion: string; name: string; uid: string };
  readonly type: "Normal" | "Warning";
  readonly reason: string;
  readonly message: string;
}

export interface Cluster {
  /** Server-side apply with the operator's field manager, forcing ownership of what it sets. */
  apply<T extends KubernetesObject>(object: T): Promise<T>;
  deletePodDisruptionBudget(namespace: string, name: string): Promise<void>;
  /**
   * Sets only spec.replicas (a merge patch): for an old version's Deployment, whose pod template
   * the current spec no longer describes and must not be re-applied.
   */
  scaleDeployment(namespace: string, name: string, replicas: number): Promise<void>;
  /** Deletes a retired version's Deployment (gone already is fine). */
  deleteDeployment(namespace: string, name: string): Promise<void>;
  patchWorkflowDeploymentStatus(
    namespace: string,
    name: string,
    status: WorkflowDeploymentStatus,
  ): Promise<void>;
  listPods(namespace: string, labelSelector: string): Promise<V1Pod[]>;
  annotatePod(namespace: string, name: string, annotations: Record<string, string>): Promise<void>;
  recordEvent(event: EventInput): Promise<void>;
}

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

export const isNotFound = (error: unknown): boolean => error instanceof ApiException && error.code === 404;

/** An ApiException's status message (not its whole body and headers). */
export function describeApiError(error: unknown): string {
  if (error instanceof ApiException) {
    try {
      let body: unknown = error.body;
      // client-node 1.x hands some bodies over JSON-encoded twice (a string holding the JSON).
      for (let depth = 0; depth < 2 && typeof body === "string"; depth += 1) body = JSON.parse(body);
      const message = (body as { message?: unknown } | null)?.message;
      if (typeof message === "string" && message !== "") return `${error.code}: ${message}`;
    } catch {
      // not JSON: fall through to the generic message
    }
    return `HTTP ${error.code}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** Rejects after `ms`: a hung request (seen as a 2-minute "socket hang up") must not stall a key. */
function withTimeout<T>(call: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  call.catch(() => undefined);
  return Promise.race([call, deadline]).finally(() => clearTimeout(timer));
}

/** Every method of `cluster` bounded by `timeoutMs`. */
function bounded(cluster: Cluster, timeoutMs: number): Cluster {
  const wrapped = {} as Record<string, unknown>;
  for (const [name, method] of Object.entries(cluster) as [
    string,
    (...args: unknown[]) => Promise<unknown>,
  ][]) {
    wrapped[name] = (...args: unknown[]) => withTimeout(method(...args), timeoutMs, name);
  }
  return wrapped as unknown as Cluster;
}

export function kubernetesCluster(
  kubeConfig: KubeConfig,
  reportingInstance: string,
  timeoutMs = 30_000,
): Cluster {
  return bounded(unboundedCluster(kubeConfig, reportingInstance), timeoutMs);
}

function unboundedCluster(kubeConfig: KubeConfig, reportingInstance: string): Cluster {
  const objects = KubernetesObjectApi.makeApiClient(kubeConfig);
  const custom = kubeConfig.makeApiClient(CustomObjectsApi);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const policy = kubeConfig.makeApiClient(PolicyV1Api);
  const apps = kubeConfig.makeApiClient(AppsV1Api);
  return {
    apply: (object) =>
      objects.patch(object, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply),
    async deletePodDisruptionBudget(namespace, name) {
      try {
        await policy.deleteNamespacedPodDisruptionBudget({ namespace, name });
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    },
    async scaleDeployment(namespace, name, replicas) {
      await apps.patchNamespacedDeployment(
        { namespace, name, body: { spec: { replicas } }, fieldManager: FIELD_MANAGER },
        mergePatch,
      );
    },
    async deleteDeployment(namespace, name) {
      try {
        await apps.deleteNamespacedDeployment({ namespace, name, propagationPolicy: "Background" });
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    },
    async patchWorkflowDeploymentStatus(namespace, name, status) {
      await custom.patchNamespacedCustomObjectStatus(
        {
          group: GROUP,
          version: VERSION,
          plural: PLURAL,
          namespace,
          name,
          body: { status },
          fieldManager: FIELD_MANAGER,
        },
        mergePatch,
      );
    },
    async listPods(namespace, labelSelector) {
      return (await core.listNamespacedPod({ namespace, labelSelector })).items;
    },
    async annotatePod(namespace, name, annotations) {
      await core.patchNamespacedPod(
        { namespace, name, body: { metadata: { annotations } }, fieldManager: FIELD_MANAGER },
        mergePatch,
      );
    },
    async recordEvent(event) {
      const now = new Date();
      await core.createNamespacedEvent({
        namespace: event.namespace,
        body: {
          metadata: { generateName: `${event.regarding.name}.`, namespace: event.namespace },
          involvedObject: { ...event.regarding, namespace: event.namespace },
          type: event.type,
          reason: event.reason,
          message: event.message,
          source: { component: FIELD_MANAGER },
          reportingComponent: FIELD_MANAGER,
          reportingInstance,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
    },
  };
}
