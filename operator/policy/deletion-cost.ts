// Which pods the ReplicaSet should remove first when the scaler lowers replicas. The
// ReplicaSet deletes the lowest `controller.kubernetes.io/pod-deletion-cost` first (after
// unscheduled / not-ready pods), so workers holding leases get a high cost and idle ones a low
// one. Costs are written only right before a scale-down, and only where they change: every
// write is a pod update on the API server.
import type { WorkerLiveness } from "../../worker/store/index.ts";

export const DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost";
export const IDLE_COST = -100;
export const UNKNOWN_COST = 0;
export const BUSY_BASE_COST = 100;
const MAX_COST = 1_000_000;

export interface PodCostView {
  readonly name: string;
  /** The annotation's current value, if any. */
  readonly cost: string | undefined;
}

export interface CostPatch {
  readonly pod: string;
  readonly cost: number;
}

/** Busy workers: 100 + items in flight; idle: -100; pods with no liveness record: 0. */
export function deletionCost(worker: WorkerLiveness | undefined): number {
  if (!worker) return UNKNOWN_COST;
  if (worker.status === "busy" || worker.inFlight > 0) {
    return Math.min(MAX_COST, BUSY_BASE_COST + Math.max(0, worker.inFlight));
  }
  return IDLE_COST;
}

export function deletionCostPatches(
  pods: readonly PodCostView[],
  workers: readonly WorkerLiveness[],
): CostPatch[] {
  const byId = new Map(workers.map((worker) => [worker.workerId, worker]));
  return pods
    .map((pod) => ({ pod: pod.name, cost: deletionCost(byId.get(pod.name)), current: pod.cost }))
    .filter((entry) => (entry.current ?? String(UNKNOWN_COST)) !== String(entry.cost))
    .map(({ pod, cost }) => ({ pod, cost }));
}

/** Workers that hold at least one lease: the floor of a scale-down. */
export const busyWorkerCount = (workers: readonly WorkerLiveness[]): number =>
  workers.filter(
    (worker) => worker.status !== "draining" && (worker.status === "busy" || worker.inFlight > 0),
  ).length;
