/**
 * The local scaler: the operator's loop in miniature. Every poll it reads the backlog and the
 * workers' liveness from the store, asks the operator's pure policy (`decideReplicas`) for the
 * replica count, and applies it to a Fleet instead of a Deployment.
 */
import type { ScalingSpec } from "../../operator/api/workflow-deployment.ts";
import {
  decideReplicas,
  emptyMemory,
  type BacklogObservation,
  type ScalingMemory,
  type ScalingReason,
} from "../../operator/policy/scaling.ts";
import type { QueueDepth, WorkflowStore } from "../../worker/store/index.ts";
import type { Fleet } from "./fleet.ts";

export interface ScaleEvent {
  /** Milliseconds since the scaler started. */
  readonly atMs: number;
  readonly from: number;
  readonly to: number;
  readonly reason: ScalingReason;
  readonly message: string;
}

/** A scale event as the local loop prints it. */
export const describeScale = (event: ScaleEvent): string =>
  `scale: ${event.from} -> ${event.to} workers (${event.reason}: ${event.message})`;

export interface ScalerSnapshot {
  readonly depth: QueueDepth | undefined;
  readonly desired: number;
  readonly reason: ScalingReason | undefined;
  readonly busyWorkers: number;
}

/** Fast settings for a laptop: visible scale-up from zero and back down within seconds. */
export function localScaling(maxReplicas: number, targetPerReplica: number): ScalingSpec {
  return {
    enabled: true,
    minReplicas: 0,
    maxReplicas,
    targetPerReplica,
    activationThreshold: 0,
    pollIntervalSeconds: 1,
    scaleUpStabilizationSeconds: 0,
    scaleDownStabilizationSeconds: 2,
    cooldownSeconds: 2,
  };
}

export class LocalScaler {
  readonly history: ScaleEvent[] = [];
  maxReplicas = 0;
  private memory: ScalingMemory = emptyMemory();
  private readonly startedAt: number;
  private snapshot: ScalerSnapshot = { depth: undefined, desired: 0, reason: undefined, busyWorkers: 0 };

  private readonly store: WorkflowStore;
  private readonly fleet: Fleet;
  private readonly scaling: ScalingSpec;
  private readonly onScale: (event: ScaleEvent) => void;
  private readonly now: () => number;

  constructor(
    store: WorkflowStore,
    fleet: Fleet,
    scaling: ScalingSpec,
    onScale: (event: ScaleEvent) => void = () => undefined,
    now: () => number = Date.now,
  ) {
    this.store = store;
    this.fleet = fleet;
    this.scaling = scaling;
    this.onScale = onScale;
    this.now = now;
    this.startedAt = now();
  }

  get last(): ScalerSnapshot {
    return this.snapshot;
  }

  /** One poll: observe, decide, apply. Never throws: a store error keeps the current count. */
  async tick(): Promise<ScalerSnapshot> {
    // A held fleet starts nothing: deciding now would announce a scale-up that cannot happen.
    if (this.fleet.held) return this.snapshot;
    const members = new Set(this.fleet.ids());
    let observation: BacklogObservation;
    let idle = new Set<string>();
    let depth: QueueDepth | undefined;
    try {
      const [read, workers] = await Promise.all([this.store.depth(), this.store.listWorkers()]);
      depth = read;
      const mine = workers.filter((worker) => members.has(worker.workerId));
      idle = new Set(mine.filter((worker) => worker.status === "idle").map((worker) => worker.workerId));
      const busyWorkers = mine.filter((worker) => worker.status === "busy").length;
      observation = { ok: true, depth, busyWorkers };
    } catch (error) {
      observation = { ok: false, error: (error as Error).message };
    }
    const current = this.fleet.size;
    const decision = decideReplicas({
      scaling: this.scaling,
      specReplicas: undefined,
      current,
      observation,
      memory: this.memory,
      now: this.now(),
    });
    this.memory = decision.memory;
    if (decision.desired !== current) {
      const event: ScaleEvent = {
        atMs: this.now() - this.startedAt,
        from: current,
        to: decision.desired,
        reason: decision.reason,
        message: decision.message,
      };
      this.history.push(event);
      this.fleet.scaleTo(decision.desired, idle);
      this.maxReplicas = Math.max(this.maxReplicas, decision.desired);
      this.onScale(event);
    }
    this.snapshot = {
      depth,
      desired: decision.desired,
      reason: decision.reason,
      busyWorkers: observation.ok ? observation.busyWorkers : this.snapshot.busyWorkers,
    };
    return this.snapshot;
  }
}

/** "0 -> 4 -> 0": the replica counts the scaler went through. */
export function scalePath(history: readonly ScaleEvent[]): string {
  if (history.length === 0) return "0";
  return [history[0]?.from ?? 0, ...history.map((event) => event.to)].join(" -> ");
}
