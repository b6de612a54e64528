// The scaling policy: a pure function from (spec, current replicas, one backlog observation,
// memory of earlier recommendations) to the desired replica count. Nothing here reads a clock
// or Redis; the scaler passes `now` and the observation in.
//
//   backlog     = ready + inFlight              (delayed retries and dead letters do not count)
//   recommended = clamp(ceil(backlog / targetPerReplica), min, max)
//   from 0      : 1+ only when backlog > activationThreshold
//   to 0        : only when minReplicas = 0, the backlog is empty, and it has been empty for
//                 cooldownSeconds (the cooldown governs every step to zero, the window does not)
//   scale up    : to the lowest recommendation of the scale-up window
//   scale down  : to the highest recommendation of the scale-down window (the HPA's
//                 stabilization), and never below the number of workers holding leases
//   store error : keep the current count
import type { QueueDepth } from "../../worker/store/index.ts";
import type { ScalingSpec } from "../api/workflow-deployment.ts";

export interface Recommendation {
  readonly at: number;
  readonly replicas: number;
}

/** What the policy remembers between polls of one WorkflowDeployment. */
export interface ScalingMemory {
  readonly recommendations: readonly Recommendation[];
  /** Last time (ms) the backlog was not empty; undefined = not seen since the operator started. */
  readonly lastActiveAt: number | undefined;
}

export type BacklogObservation =
  | { readonly ok: true; readonly depth: QueueDepth; readonly busyWorkers: number }
  | {
      readonly ok: false;
      readonly error: string;
      /** The StoreReachable reason (default RedisUnreachable), e.g. PartitionMismatch. */
      readonly reason?: string;
    };

export interface ScalingInput {
  readonly scaling: ScalingSpec;
  /** spec.replicas: what decides when scaling is disabled. */
  readonly specReplicas: number | undefined;
  /** The Deployment's spec.replicas now (undefined: there is no Deployment yet). */
  readonly current: number | undefined;
  readonly observation: BacklogObservation | undefined;
  readonly memory: ScalingMemory;
  readonly now: number;
}

export type ScalingReason =
  | "ScalingDisabled"
  | "NotPolledYet"
  | "StoreUnreachable"
  | "Activated"
  | "ScaledUp"
  | "ScaledDown"
  | "ScaledToZero"
  | "Stable"
  | "HeldByStabilization"
  | "HeldByBusyWorkers"
  | "BelowActivation"
  | "CoolingDown";

export interface ScalingDecision {
  readonly desired: number;
  readonly reason: ScalingReason;
  readonly message: string;
  readonly memory: ScalingMemory;
}

export const emptyMemory = (lastActiveAt?: number): ScalingMemory => ({
  recommendations: [],
  lastActiveAt,
});

const clamp = (value: number, min: number, max: number): number => Math.min(max, Math.max(min, value));

export function decideReplicas(input: ScalingInput): ScalingDecision {
  const { scaling, observation, memory, now } = input;
  const initial = scaling.enabled ? scaling.minReplicas : (input.specReplicas ?? 0);
  const current = input.current ?? initial;
  if (!scaling.enabled) {
    const desired = input.specReplicas ?? current;
    return { desired, reason: "ScalingDisabled", message: `spec.replicas is ${desired}`, memory };
  }
  if (!observation) {
    const desired = clamp(current, scaling.minReplicas, scaling.maxReplicas);
    return { desired, reason: "NotPolledYet", message: "the backlog has not been read yet", memory };
  }
  if (!observation.ok) {
    return {
      desired: current,
      reason: "StoreUnreachable",
      message: `keeping ${current} replicas: ${observation.error}`,
      memory,
    };
  }

  const backlog = observation.depth.ready + observation.depth.inFlight;
  const lastActiveAt = backlog > 0 ? now : (memory.lastActiveAt ?? now);
  const idleForMs = now - lastActiveAt;
  const window = Math.max(scaling.scaleUpStabilizationSeconds, scaling.scaleDownStabilizationSeconds) * 1000;

  let recommended = clamp(
    Math.ceil(backlog / scaling.targetPerReplica),
    scaling.minReplicas,
    scaling.maxReplicas,
  );
  let zeroReason: ScalingReason | undefined;
  if (scaling.minReplicas === 0) {
    if (current === 0) {
      // From zero only the activation threshold matters.
      recommended = backlog > scaling.activationThreshold ? Math.max(recommended, 1) : 0;
      if (recommended === 0) zeroReason = "BelowActivation";
    } else if (backlog === 0 && idleForMs >= scaling.cooldownSeconds * 1000) {
      recommended = 0;
    } else {
      recommended = Math.max(recommended, 1);
      if (backlog === 0) zeroReason = "CoolingDown";
    }
  }

  // With no memory (a new WorkflowDeployment, or the operator restarted), the current count
  // counts as a recommendation made now, so a restart never skips the scale-down window.
  const earlier =
    memory.recommendations.length === 0 && input.current !== undefined
      ? [{ at: now, replicas: input.current }]
      : memory.recommendations.filter((entry) => now - entry.at < window);
  const recommendations = [...earlier, { at: now, replicas: recommended }];
  const nextMemory: ScalingMemory = { recommendations, lastActiveAt };
  const within = (seconds: number): number[] => [
    ...earlier.filter((entry) => now - entry.at < seconds * 1000).map((entry) => entry.replicas),
    recommended,
  ];

  let desired: number;
  let reason: ScalingReason;
  if (recommended > current) {
    desired = Math.max(current, Math.min(...within(scaling.scaleUpStabilizationSeconds)));
    reason = desired === current ? "HeldByStabilization" : current === 0 ? "Activated" : "ScaledUp";
  } else if (recommended < current) {
    // Scaling to zero is the cooldown's call (the backlog is empty, so nobody holds a lease).
    desired =
      recommended === 0 ? 0 : Math.min(current, Math.max(...within(scaling.scaleDownStabilizationSeconds)));
    reason = desired === current ? "HeldByStabilization" : desired === 0 ? "ScaledToZero" : "ScaledDown";
    const busyFloor = Math.min(observation.busyWorkers, current);
    if (desired < busyFloor) {
      desired = busyFloor;
      reason = desired === current ? "HeldByBusyWorkers" : reason;
    }
  } else {
    desired = current;
    reason = zeroReason ?? "Stable";
  }
  const message =
    `backlog ${backlog} (ready ${observation.depth.ready}, in flight ${observation.depth.inFlight}), ` +
    `${observation.busyWorkers} busy workers, recommended ${recommended}, ${current} -> ${desired}`;
  return { desired, reason, message, memory: nextMemory };
}
