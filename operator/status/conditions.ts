// Status of a WorkflowDeployment, computed from what the reconcile observed. Pure: the caller
// passes `now`. There is no kubelet in some clusters (and pods may be Pending for long in any),
// so Ready means "the operator's work is done and current", not "every pod is ready": pod
// readiness is reported in readyReplicas and in the Ready message.
import type { V1Deployment } from "@kubernetes/client-node";
import type {
  Condition,
  ConditionStatus,
  WorkflowDeployment,
  WorkflowDeploymentStatus,
} from "../api/workflow-deployment.ts";
import { selectorString } from "../build/labels.ts";
import type { BacklogObservation, ScalingDecision } from "../policy/scaling.ts";

export type ConditionType = "Ready" | "Scaling" | "StoreReachable" | "Degraded";

export interface ConditionInput {
  readonly type: ConditionType;
  readonly status: ConditionStatus;
  readonly reason: string;
  readonly message: string;
}

export interface StatusInput {
  readonly wfd: WorkflowDeployment;
  readonly now: Date;
  /** The Deployment as the API server returned it after the apply (undefined if it failed). */
  readonly deployment: V1Deployment | undefined;
  /** Why applying the children failed, if it did. */
  readonly applyError: string | undefined;
  readonly decision: ScalingDecision;
  readonly observation: BacklogObservation | undefined;
  readonly observedAt: Date | undefined;
  /** Replicas before this reconcile applied `decision.desired` (undefined: no Deployment). */
  readonly previousReplicas: number | undefined;
}

/** Replaces the condition of the same type; lastTransitionTime moves only when status changes. */
export function setCondition(
  conditions: readonly Condition[],
  next: ConditionInput,
  generation: number,
  now: Date,
): Condition[] {
  const previous = conditions.find((condition) => condition.type === next.type);
  const lastTransitionTime =
    previous && previous.status === next.status ? previous.lastTransitionTime : now.toISOString();
  const condition: Condition = { ...next, lastTransitionTime, observedGeneration: generation };
  return [...conditions.filter((existing) => existing.type !== next.type), condition];
}

function deploymentCondition(deployment: V1Deployment | undefined, type: string, status: string) {
  return deployment?.status?.conditions?.find((c) => c.type === type && c.status === status);
}

export function computeConditions(input: StatusInput): ConditionInput[] {
  const { deployment, applyError, decision, observation, wfd } = input;
  const status = deployment?.status;
  const current = status?.replicas ?? 0;
  const ready = status?.readyReplicas ?? 0;
  const controllerCaughtUp =
    deployment !== undefined && (status?.observedGeneration ?? 0) >= (deployment.metadata?.generation ?? 0);

  const storeReachable: ConditionInput = !observation
    ? {
        type: "StoreReachable",
        status: "Unknown",
        reason: "NotPolledYet",
        message: "the backlog has not been read yet",
      }
    : observation.ok
      ? {
          type: "StoreReachable",
          status: "True",
          reason: "BacklogRead",
          message: "the backlog was read from Redis",
        }
      : {
          type: "StoreReachable",
          status: "False",
          reason: observation.reason ?? "RedisUnreachable",
          message: observation.error,
        };

  const failed = deploymentCondition(deployment, "ReplicaFailure", "True");
  const stuck = deploymentCondition(deployment, "Progressing", "False");
  const degraded: ConditionInput = applyError
    ? { type: "Degraded", status: "True", reason: "ApplyFailed", message: applyError }
    : failed
      ? {
          type: "Degraded",
          status: "True",
          reason: failed.reason ?? "ReplicaFailure",
          message: failed.message ?? "",
        }
      : stuck
        ? {
            type: "Degraded",
            status: "True",
            reason: stuck.reason ?? "ProgressDeadlineExceeded",
            message: stuck.message ?? "",
          }
        : observation && !observation.ok
          ? {
              type: "Degraded",
              status: "True",
              reason: "StoreUnreachable",
              message: "replicas are held while Redis is unreachable",
            }
          : { type: "Degraded", status: "False", reason: "AsExpected", message: "no problem seen" };

  const scaling: ConditionInput = !wfd.spec.scaling.enabled
    ? { type: "Scaling", status: "False", reason: "ScalingDisabled", message: decision.message }
    : current !== decision.desired
      ? {
          type: "Scaling",
          status: "True",
          reason: current < decision.desired ? "ScalingUp" : "ScalingDown",
          message: `${current} -> ${decision.desired} replicas: ${decision.message}`,
        }
      : { type: "Scaling", status: "False", reason: decision.reason, message: decision.message };

  const readyCondition: ConditionInput = applyError
    ? { type: "Ready", status: "False", reason: "ApplyFailed", message: applyError }
    : !controllerCaughtUp
      ? {
          type: "Ready",
          status: "False",
          reason: "DeploymentPending",
          message: "the Deployment controller has not observed the latest spec yet",
        }
      : observation && !observation.ok
        ? { type: "Ready", status: "False", reason: "StoreUnreachable", message: observation.error }
        : {
            type: "Ready",
            status: "True",
            reason: "Reconciled",
            message: `Deployment, Service and PodDisruptionBudget are up to date; ${ready}/${decision.desired} pods ready`,
          };
  return [readyCondition, scaling, storeReachable, degraded];
}

export function computeStatus(input: StatusInput): WorkflowDeploymentStatus {
  const { wfd, now, deployment, decision, observation, observedAt } = input;
  const previous = wfd.status ?? {};
  const generation = wfd.metadata.generation;
  let conditions: Condition[] = previous.conditions ?? [];
  for (const condition of computeConditions(input))
    conditions = setCondition(conditions, condition, generation, now);
  const scaled = input.previousReplicas !== undefined && input.previousReplicas !== decision.desired;
  const lastActiveAt = decision.memory.lastActiveAt;
  return {
    observedGeneration: generation,
    replicas: deployment?.status?.replicas ?? 0,
    readyReplicas: deployment?.status?.readyReplicas ?? 0,
    desiredReplicas: decision.desired,
    ...(observation?.ok ? { busyWorkers: observation.busyWorkers, backlog: { ...observation.depth } } : {}),
    ...(observation?.ok && observedAt ? { lastPollTime: observedAt.toISOString() } : {}),
    ...(!observation?.ok && previous.backlog ? { backlog: previous.backlog } : {}),
    ...(!observation?.ok && previous.lastPollTime ? { lastPollTime: previous.lastPollTime } : {}),
    ...(lastActiveAt !== undefined ? { lastActiveTime: new Date(lastActiveAt).toISOString() } : {}),
    ...(scaled
      ? { lastScaleTime: now.toISOString() }
      : previous.lastScaleTime
        ? { lastScaleTime: previous.lastScaleTime }
        : {}),
    selector: selectorString(wfd),
    conditions: conditions.sort((a, b) => ORDER.indexOf(a.type) - ORDER.indexOf(b.type)),
  };
}

const ORDER = ["Ready", "Scaling", "StoreReachable", "Degraded"];

/** Equal apart from lastPollTime, which ticks on every poll (an unchanged status is not rewritten). */
export function sameStatus(a: WorkflowDeploymentStatus | undefined, b: WorkflowDeploymentStatus): boolean {
  const strip = (status: WorkflowDeploymentStatus | undefined) =>
    canonical({ ...status, lastPollTime: undefined });
  return strip(a) === strip(b);
}

/** JSON with sorted keys and no undefined members: the API server does not keep key order. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, member]) => member !== undefined)
      .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
    return `{${entries.map(([key, member]) => `${JSON.stringify(key)}:${canonical(member)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
