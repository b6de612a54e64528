// reconcile(key): level-triggered and idempotent. It reads the WorkflowDeployment and its
// Deployment from the informer caches, decides the replicas from the latest backlog reading,
// ranks pods for deletion before a scale-down, applies the Deployment, Service and
// PodDisruptionBudget with server-side apply, writes the status subresource when it changed, and
// records Events on transitions. Garbage collection of the children is ownerReferences' job.
import type { V1Deployment } from "@kubernetes/client-node";
import type { Logger } from "pino";
import {
  API_VERSION,
  KIND,
  type WorkflowDeployment,
  type WorkflowDeploymentStatus,
} from "../api/workflow-deployment.ts";
import {
  buildDeployment,
  buildDisruptionBudget,
  buildService,
  deploymentName,
  selectorString,
} from "../build/index.ts";
import type { Cluster } from "../kube/cluster.ts";
import { describeApiError } from "../kube/cluster.ts";
import { DELETION_COST_ANNOTATION, busyWorkerCount, deletionCostPatches } from "../policy/deletion-cost.ts";
import {
  decideReplicas,
  emptyMemory,
  type BacklogObservation,
  type ScalingDecision,
} from "../policy/scaling.ts";
import { computeStatus, sameStatus } from "../status/conditions.ts";
import type { ReconcileResult } from "../runtime/work-queue.ts";
import type { Observation, ScalerState } from "./scaler-state.ts";
import {
  versionKey,
  versionObservation,
  VersionSet,
  type VersionEvent,
  type VersionsDeps,
} from "./versions.ts";

export interface ReconcilerMetrics {
  observe(wfd: WorkflowDeployment, status: WorkflowDeploymentStatus): void;
  forget(namespace: string, name: string): void;
}

export interface ReconcilerDeps {
  readonly cluster: Cluster;
  readonly getWorkflowDeployment: (namespace: string, name: string) => WorkflowDeployment | undefined;
  readonly getDeployment: (namespace: string, name: string) => V1Deployment | undefined;
  readonly state: ScalerState;
  readonly logger: Logger;
  readonly metrics?: ReconcilerMetrics;
  /** The rollout writes of WorkflowDeployments with spec.version (absent: versions are not managed). */
  readonly versions?: Pick<VersionsDeps, "writer" | "target">;
  /** A full pass at least this often even without events (default 5 min). */
  readonly resyncMs?: number;
  readonly now?: () => number;
}

function toObservation(
  observation: Observation | undefined,
  version: string | undefined,
): BacklogObservation | undefined {
  if (!observation) return undefined;
  if (version !== undefined) return versionObservation(observation.reading, version);
  const { reading } = observation;
  return reading.ok
    ? { ok: true, depth: reading.depth, busyWorkers: busyWorkerCount(reading.workers) }
    : reading;
}

export class Reconciler {
  private readonly now: () => number;

  private readonly deps: ReconcilerDeps;
  private readonly versions: VersionSet | undefined;

  constructor(deps: ReconcilerDeps) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
    this.versions =
      deps.versions &&
      new VersionSet({
        ...deps.versions,
        cluster: deps.cluster,
        getDeployment: deps.getDeployment,
        state: deps.state,
      });
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const [namespace, name] = splitKey(key);
    const { deps } = this;
    const wfd = deps.getWorkflowDeployment(namespace, name);
    if (!wfd) {
      deps.state.forget(key);
      deps.metrics?.forget(namespace, name);
      return {};
    }
    if (wfd.metadata.deletionTimestamp) return {};
    const log = deps.logger.child({ workflowDeployment: key, workflow: wfd.spec.workflow });
    const now = this.now();

    // With spec.version, the Deployment of that version, scaled by that version's backlog; the
    // other versions are the versions step's (below).
    const { version } = wfd.spec;
    const existing = deps.getDeployment(namespace, deploymentName(wfd));
    const current = existing?.spec?.replicas;
    const observation = deps.state.observation(key);
    const memoryKey = version === undefined ? key : versionKey(key, version);
    const lastActive = wfd.status?.lastActiveTime ? Date.parse(wfd.status.lastActiveTime) : undefined;
    const decision = decideReplicas({
      scaling: wfd.spec.scaling,
      specReplicas: wfd.spec.replicas,
      current,
      observation: toObservation(observation, version),
      memory: deps.state.memory(memoryKey) ?? emptyMemory(lastActive),
      now,
    });
    if (observation && deps.state.isNew(memoryKey, observation))
      deps.state.consume(memoryKey, observation, decision.memory);

    if (current !== undefined && decision.desired < current && observation?.reading.ok) {
      await this.rankPodsForDeletion(wfd, observation, log);
    }

    let applyError: string | undefined;
    let deployment: V1Deployment | undefined;
    try {
      deployment = await deps.cluster.apply(buildDeployment(wfd, decision.desired));
      await deps.cluster.apply(buildService(wfd));
      const budget = buildDisruptionBudget(wfd);
      if (budget) await deps.cluster.apply(budget);
      else await deps.cluster.deletePodDisruptionBudget(namespace, name);
    } catch (error) {
      applyError = describeApiError(error);
      log.warn({ err: error }, "Applying the worker objects failed");
    }

    let versionEvents: readonly VersionEvent[] = [];
    let versionStatus = {};
    if (version !== undefined && this.versions) {
      const outcome = await this.versions.reconcile(
        wfd,
        key,
        observation,
        { deployment: deployment ?? existing, desired: decision.desired },
        now,
        log,
      );
      versionEvents = outcome.events;
      versionStatus = outcome.status;
    }

    const status = {
      ...computeStatus({
        wfd,
        now: new Date(now),
        deployment: deployment ?? existing,
        applyError,
        decision,
        observation: toObservation(observation, undefined),
        observedAt: observation ? new Date(observation.at) : undefined,
        previousReplicas: current,
      }),
      ...versionStatus,
    };
    const created = existing === undefined && !applyError;
    await this.recordTransitions(wfd, status, decision, current, created, versionEvents, log);
    if (!sameStatus(wfd.status, status)) {
      await deps.cluster.patchWorkflowDeploymentStatus(namespace, name, status);
    }
    deps.metrics?.observe(wfd, status);
    if (applyError) throw new Error(`applying the children of ${key} failed: ${applyError}`);
    return { requeueAfterMs: deps.resyncMs ?? 300_000 };
  }

  /** Best-effort: a failure is logged and the scale-down goes ahead (workers drain on SIGTERM). */
  private async rankPodsForDeletion(
    wfd: WorkflowDeployment,
    observation: Observation,
    log: Logger,
  ): Promise<void> {
    if (!observation.reading.ok) return;
    const { namespace } = wfd.metadata;
    try {
      const pods = await this.deps.cluster.listPods(namespace, selectorString(wfd));
      const patches = deletionCostPatches(
        pods
          .filter((pod) => !pod.metadata?.deletionTimestamp)
          .map((pod) => ({
            name: pod.metadata!.name!,
            cost: pod.metadata?.annotations?.[DELETION_COST_ANNOTATION],
          })),
        observation.reading.workers,
      );
      await Promise.all(
        patches.map((patch) =>
          this.deps.cluster.annotatePod(namespace, patch.pod, {
            [DELETION_COST_ANNOTATION]: String(patch.cost),
          }),
        ),
      );
      if (patches.length > 0) log.info({ patches }, "Set pod deletion costs before scaling down");
    } catch (error) {
      log.warn({ err: error }, "Setting pod deletion costs failed; scaling down anyway");
    }
  }

  private async recordTransitions(
    wfd: WorkflowDeployment,
    status: WorkflowDeploymentStatus,
    decision: ScalingDecision,
    current: number | undefined,
    created: boolean,
    versionEvents: readonly VersionEvent[],
    log: Logger,
  ): Promise<void> {
    const before = (type: string) => wfd.status?.conditions?.find((c) => c.type === type);
    const after = (type: string) => status.conditions?.find((c) => c.type === type);
    const events: { type: "Normal" | "Warning"; reason: string; message: string }[] = [];
    if (created)
      events.push({
        type: "Normal",
        reason: "Created",
        message:
          wfd.spec.version === undefined
            ? `created the worker Deployment with ${decision.desired} replicas`
            : `created the worker Deployment ${deploymentName(wfd)} of version ${wfd.spec.version} with ${decision.desired} replicas`,
      });
    events.push(...versionEvents);
    if (current !== undefined && decision.desired !== current) {
      events.push({ type: "Normal", reason: decision.reason, message: decision.message });
    }
    const store = after("StoreReachable");
    if (store?.status === "False" && before("StoreReachable")?.status !== "False") {
      events.push({ type: "Warning", reason: "StoreUnreachable", message: store.message });
    }
    if (store?.status === "True" && before("StoreReachable")?.status === "False") {
      events.push({ type: "Normal", reason: "StoreReachable", message: "the backlog can be read again" });
    }
    const degraded = after("Degraded");
    if (degraded?.reason === "ApplyFailed" && before("Degraded")?.reason !== "ApplyFailed") {
      events.push({ type: "Warning", reason: "ApplyFailed", message: degraded.message });
    }
    for (const event of events) {
      log.info({ reason: event.reason }, event.message);
      try {
        await this.deps.cluster.recordEvent({
          namespace: wfd.metadata.namespace,
          regarding: { apiVersion: API_VERSION, kind: KIND, name: wfd.metadata.name, uid: wfd.metadata.uid },
          ...event,
        });
      } catch (error) {
        log.warn({ err: error, reason: event.reason }, "Recording an Event failed");
      }
    }
  }
}

export function splitKey(key: string): [string, string] {
  const slash = key.indexOf("/");
  return [key.slice(0, slash), key.slice(slash + 1)];
}
