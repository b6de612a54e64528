// The versions step of a reconcile, for a WorkflowDeployment with spec.version: it writes the
// rollout new runs are pinned by (once Redis was read), scales each old version's
// Deployment by that version's own backlog with the same policy (down to zero: it takes no new
// runs), retires a version whose backlog stayed empty for retireAfterSeconds (Deployment
// deleted, version forgotten in Redis), and returns the status fields and Events of it all.
// spec.version's own Deployment is applied by the reconciler like an unversioned one; an old
// version's is only scaled (the spec no longer describes its pod template).
import type { V1Deployment } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { WorkflowDeployment, WorkflowDeploymentStatus } from "../api/workflow-deployment.ts";
import type { BacklogReading, BacklogTarget, VersionWriter } from "../backlog/reader.ts";
import { deploymentName } from "../build/labels.ts";
import type { Cluster } from "../kube/cluster.ts";
import { busyWorkerCount } from "../policy/deletion-cost.ts";
import { decideReplicas, emptyMemory, type BacklogObservation } from "../policy/scaling.ts";
import { desiredRollout, planVersions, type PlannedVersion } from "../policy/versions.ts";
import type { RolloutRequest } from "../../worker/store/index.ts";
import type { Observation, ScalerState } from "./scaler-state.ts";

export interface VersionEvent {
  readonly type: "Normal" | "Warning";
  readonly reason: string;
  readonly message: string;
}

export interface VersionsDeps {
  readonly cluster: Cluster;
  readonly getDeployment: (namespace: string, name: string) => V1Deployment | undefined;
  readonly state: ScalerState;
  /** Where the rollout is written; resolves the WorkflowDeployment's Redis (Secrets included). */
  readonly writer: VersionWriter;
  readonly target: (wfd: WorkflowDeployment) => Promise<BacklogTarget>;
}

export interface VersionsOutcome {
  readonly status: Pick<WorkflowDeploymentStatus, "currentVersion" | "drainingVersions" | "versions">;
  readonly events: readonly VersionEvent[];
}

/** The state key of one version's scaling memory. */
export const versionKey = (key: string, version: string): string => `${key}@${version}`;

/** One version's part of a reading: its own backlog and busy workers. */
export function versionObservation(
  reading: BacklogReading | undefined,
  version: string,
): BacklogObservation | undefined {
  if (!reading) return undefined;
  if (!reading.ok) return reading;
  const found = reading.versions.versions.find((v) => v.version === version);
  const depth = {
    ready: found?.ready ?? 0,
    inFlight: found?.inFlight ?? 0,
    delayed: found?.delayed ?? 0,
    dead: 0,
  };
  const workers = reading.workers.filter((worker) => worker.version === version);
  return { ok: true, depth, busyWorkers: busyWorkerCount(workers) };
}

const pick = (currentVersion: string | undefined) => (currentVersion === undefined ? {} : { currentVersion });
const iso = (ms: number | undefined): string | undefined =>
  ms === undefined ? undefined : new Date(ms).toISOString();

export class VersionSet {
  private readonly deps: VersionsDeps;

  constructor(deps: VersionsDeps) {
    this.deps = deps;
  }

  /**
   * `main`: spec.version's Deployment after the reconciler applied it, and the replicas it
   * wants. Errors of the rollout write are thrown (the key is retried); scaling an old version
   * is best-effort per version (logged, retried on the next pass).
   */
  async reconcile(
    wfd: WorkflowDeployment,
    key: string,
    observation: Observation | undefined,
    main: { readonly deployment: V1Deployment | undefined; readonly desired: number },
    now: number,
    log: Logger,
  ): Promise<VersionsOutcome> {
    const version = wfd.spec.version as string;
    const { namespace } = wfd.metadata;
    const previous = wfd.status?.versions ?? [];
    const reading = observation?.reading;
    const { rollout, written } = await this.rollout(wfd, reading, now);
    const backlog = reading?.ok
      ? new Map(reading.versions.versions.map((v) => [v.version, v.ready + v.inFlight + v.delayed]))
      : undefined;
    const candidates = new Set([...previous.map((v) => v.version), rollout.current, version]);
    const deployed = new Set(
      [...candidates].filter((v) => this.deps.getDeployment(namespace, deploymentName(wfd, v)) !== undefined),
    );
    const plan = planVersions({
      rollout,
      previous,
      backlog,
      deployed,
      now,
      retireAfterSeconds: wfd.spec.rollout.retireAfterSeconds,
    });

    const entries: NonNullable<WorkflowDeploymentStatus["versions"]> = [];
    for (const planned of plan) {
      let replicas = 0;
      let desired = 0;
      if (planned.version === version) {
        replicas = main.deployment?.status?.replicas ?? 0;
        desired = main.desired;
      } else if (planned.state !== "retired" || planned.retireNow) {
        ({ replicas, desired } = await this.scaleOld(wfd, key, planned, observation, now, log));
      }
      entries.push({
        version: planned.version,
        state: planned.state,
        replicas,
        desiredReplicas: desired,
        ...(planned.backlog !== undefined ? { backlog: planned.backlog } : {}),
        ...(planned.drainedSince !== undefined ? { drainedSince: iso(planned.drainedSince) } : {}),
        ...(planned.retiredAt !== undefined ? { retiredTime: iso(planned.retiredAt) } : {}),
        ...(planned.stranded ? { stranded: true } : {}),
      });
    }
    return {
      status: {
        // Only what Redis holds: before the first write there is no current version yet.
        ...(written ? { currentVersion: rollout.current } : pick(wfd.status?.currentVersion)),
        drainingVersions: plan.filter((p) => p.state === "draining").length,
        versions: entries,
      },
      events: transitions(previous, plan, rollout),
    };
  }

  /** The rollout for spec.version, written on every pass that read Redis (never while unread). */
  private async rollout(
    wfd: WorkflowDeployment,
    reading: BacklogReading | undefined,
    now: number,
  ): Promise<{ rollout: RolloutRequest; written: boolean }> {
    const version = wfd.spec.version as string;
    const previous = wfd.status?.versions ?? [];
    if (!reading?.ok) {
      // Redis unread: the last known rollout stands (for the plan; nothing is written).
      const ramping = previous.find((v) => v.state === "ramping");
      const current = wfd.status?.currentVersion ?? version;
      const ramp = ramping ? { version: ramping.version, percent: 0, periodMs: 0 } : null;
      return { rollout: { current, ramp }, written: false };
    }
    // The status says what this operator last wrote; a reading may predate that write.
    const held = {
      ...reading.versions.rollout,
      current: wfd.status?.currentVersion ?? reading.versions.rollout.current,
    };
    const wasCurrent = previous.some((v) => v.version === version && v.state === "draining");
    const wanted = desiredRollout(version, wfd.spec.rollout, held, wasCurrent, now);
    // Written on every pass, not only when the reading differs: the reading may predate this
    // operator's last write (a rollback right after a change would then be skipped). The write
    // is idempotent (a ramp keeps its end) and one call.
    await this.deps.writer.writeRollout(await this.deps.target(wfd), wanted);
    return { rollout: wanted, written: true };
  }

  /** Scales (or retires) the Deployment of a version other than spec.version by its own backlog. */
  private async scaleOld(
    wfd: WorkflowDeployment,
    key: string,
    planned: PlannedVersion,
    observation: Observation | undefined,
    now: number,
    log: Logger,
  ): Promise<{ replicas: number; desired: number }> {
    const { namespace } = wfd.metadata;
    const name = deploymentName(wfd, planned.version);
    const existing = this.deps.getDeployment(namespace, name);
    const replicas = existing?.status?.replicas ?? 0;
    if (!existing) return { replicas: 0, desired: 0 };
    const current = existing.spec?.replicas;
    try {
      if (planned.retireNow) {
        await this.deps.cluster.scaleDeployment(namespace, name, 0);
        await this.deps.cluster.deleteDeployment(namespace, name);
        await this.deps.writer.forgetVersion(await this.deps.target(wfd), planned.version);
        this.deps.state.forget(versionKey(key, planned.version));
        return { replicas, desired: 0 };
      }
      const memoryKey = versionKey(key, planned.version);
      const decision = decideReplicas({
        // A draining version takes no new runs: it may go to zero whatever minReplicas says. (The
        // old version stays current during a ramp: it keeps the spec's scaling.)
        scaling: planned.state === "draining" ? { ...wfd.spec.scaling, minReplicas: 0 } : wfd.spec.scaling,
        specReplicas: wfd.spec.replicas,
        current,
        observation: versionObservation(observation?.reading, planned.version),
        memory: this.deps.state.memory(memoryKey) ?? emptyMemory(undefined),
        now,
      });
      if (observation && this.deps.state.isNew(memoryKey, observation))
        this.deps.state.consume(memoryKey, observation, decision.memory);
      if (decision.desired !== current) {
        await this.deps.cluster.scaleDeployment(namespace, name, decision.desired);
        log.info({ version: planned.version, from: current, to: decision.desired }, decision.message);
      }
      return { replicas, desired: decision.desired };
    } catch (error) {
      log.warn({ err: error, version: planned.version }, "Scaling an old version failed; retried next pass");
      return { replicas, desired: current ?? 0 };
    }
  }
}

/** Events for versions whose state changed since the last status. */
export function transitions(
  previous: NonNullable<WorkflowDeploymentStatus["versions"]>,
  plan: readonly PlannedVersion[],
  rollout: RolloutRequest,
): VersionEvent[] {
  const before = new Map(previous.map((v) => [v.version, v.state]));
  const events: VersionEvent[] = [];
  for (const planned of plan) {
    const was = before.get(planned.version);
    if (was === planned.state) continue;
    const { version } = planned;
    if (planned.state === "current" && was === "draining")
      events.push({
        type: "Normal",
        reason: "VersionCurrent",
        message: `version ${version} is current again (rollback): new runs go to it`,
      });
    else if (planned.state === "current")
      events.push({
        type: "Normal",
        reason: "VersionCurrent",
        message: `version ${version} is current: new runs go to it`,
      });
    else if (planned.state === "ramping")
      events.push({
        type: "Normal",
        reason: "VersionRamping",
        message: `version ${version} takes ${rollout.ramp?.percent ?? 0}% of new runs for ${Math.round((rollout.ramp?.periodMs ?? 0) / 1000)} s`,
      });
    else if (planned.state === "draining")
      events.push({
        type: "Normal",
        reason: "VersionDraining",
        message: `version ${version} drains: it serves its ${planned.backlog ?? "unknown number of"} pinned items, new runs go to ${rollout.current}`,
      });
    else if (planned.retireNow)
      events.push({
        type: "Normal",
        reason: "VersionRetired",
        message: `version ${version} is retired: its backlog stayed empty, its Deployment was deleted`,
      });
    else if (planned.stranded && was === undefined)
      events.push({
        type: "Warning",
        reason: "VersionStranded",
        message: `version ${version} has ${planned.backlog ?? 0} items and no Deployment: they wait for a worker of that version (set spec.version to ${version} to serve them)`,
      });
  }
  return events;
}
