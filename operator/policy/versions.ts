// The versions of a WorkflowDeployment (pure, table-tested): which version new runs are pinned
// to (the rollout the store must hold), and the state of every version: the one spec.version
// names, the old ones that still serve their pinned runs (draining) until their backlog has been
// zero for retireAfterSeconds, and the retired ones. Level-triggered: computed on every
// reconcile from the spec, the previous status, what Redis holds and the Deployments that exist.
import { MAX_REPORTED_VERSIONS, type RolloutSpec, type VersionStatus } from "../api/workflow-deployment.ts";
import type { Rollout, RolloutRequest } from "../../worker/store/index.ts";

export type VersionState = VersionStatus["state"];

/**
 * The rollout the store should hold for `version`, given the one it holds (`held.current`: what
 * new runs go to now, as the operator last wrote it). A new version ramps (spec.rollout) from that
 * one; a version that has been current before (a rollback to a draining version) takes over at
 * once; a ramp whose period is over completes.
 */
export function desiredRollout(
  version: string,
  spec: RolloutSpec,
  held: Rollout,
  wasCurrent: boolean,
  now: number,
): RolloutRequest {
  const previous = held.current;
  const immediate: RolloutRequest = { current: version, ramp: null };
  if (previous === null || previous === version || wasCurrent) return immediate;
  if (spec.rampPercent === 0 || spec.rampSeconds === 0) return immediate;
  if (held.ramp?.version === version && now >= held.ramp.until) return immediate;
  return {
    current: previous,
    ramp: { version, percent: spec.rampPercent, periodMs: spec.rampSeconds * 1000 },
  };
}

export interface VersionPlanInput {
  /** The rollout being written (or already held). */
  readonly rollout: RolloutRequest;
  readonly previous: readonly VersionStatus[];
  /** Items ready, in flight or delayed per version; undefined when Redis was not read. */
  readonly backlog: ReadonlyMap<string, number> | undefined;
  /** Versions that have a Deployment now. */
  readonly deployed: ReadonlySet<string>;
  readonly now: number;
  readonly retireAfterSeconds: number;
}

export interface PlannedVersion {
  readonly version: string;
  readonly state: VersionState;
  readonly backlog: number | undefined;
  /** A draining version's empty backlog, since (ms). */
  readonly drainedSince?: number;
  /** Retired in this pass: scale to zero, delete the Deployment, forget the version in Redis. */
  readonly retireNow: boolean;
  readonly retiredAt?: number;
  readonly stranded: boolean;
}

/** Retired versions kept in the status, newest first. */
export const RETIRED_KEPT = 5;

const at = (time: string | undefined): number | undefined =>
  time === undefined ? undefined : Date.parse(time);

/** Every version to act on or report: live ones first (current, ramping, draining), then retired. */
export function planVersions(input: VersionPlanInput): PlannedVersion[] {
  const { rollout, previous, backlog, deployed, now } = input;
  const before = new Map(previous.map((entry) => [entry.version, entry]));
  const live = new Set<string>([rollout.current]);
  if (rollout.ramp !== null) live.add(rollout.ramp.version);
  for (const entry of previous) if (entry.state !== "retired") live.add(entry.version);
  for (const version of deployed) live.add(version);

  const planned: PlannedVersion[] = [];
  for (const version of live) {
    const items = backlog?.get(version) ?? (backlog === undefined ? undefined : 0);
    const state: VersionState =
      version === rollout.current ? "current" : version === rollout.ramp?.version ? "ramping" : "draining";
    if (state !== "draining") {
      planned.push({ version, state, backlog: items, retireNow: false, stranded: false });
      continue;
    }
    // Drained only while Redis says so; unread, the clock neither starts nor retires.
    const drainedBefore = at(before.get(version)?.drainedSince);
    const drainedSince =
      items === 0 ? (drainedBefore ?? now) : items === undefined ? drainedBefore : undefined;
    const retireNow =
      items === 0 && drainedSince !== undefined && now - drainedSince >= input.retireAfterSeconds * 1000;
    planned.push(
      retireNow
        ? { version, state: "retired", backlog: 0, retireNow, retiredAt: now, stranded: false }
        : {
            version,
            state,
            backlog: items,
            ...(drainedSince !== undefined ? { drainedSince } : {}),
            retireNow,
            stranded: false,
          },
    );
  }
  // Items of a version nothing serves (retired with items left, or started by hand with another
  // module): reported, never silently dropped.
  const retired: PlannedVersion[] = [];
  for (const [version, items] of backlog ?? []) {
    if (live.has(version) || items === 0) continue;
    const retiredAt = at(before.get(version)?.retiredTime);
    retired.push({
      version,
      state: "retired",
      backlog: items,
      retireNow: false,
      stranded: true,
      ...(retiredAt !== undefined ? { retiredAt } : {}),
    });
  }
  for (const entry of previous) {
    if (
      entry.state !== "retired" ||
      live.has(entry.version) ||
      retired.some((r) => r.version === entry.version)
    )
      continue;
    const retiredAt = at(entry.retiredTime);
    retired.push({
      version: entry.version,
      state: "retired",
      backlog: 0,
      retireNow: false,
      stranded: false,
      ...(retiredAt !== undefined ? { retiredAt } : {}),
    });
  }
  retired.sort((a, b) => Number(b.stranded) - Number(a.stranded) || (b.retiredAt ?? 0) - (a.retiredAt ?? 0));
  const kept = retired
    .filter((entry) => entry.stranded)
    .concat(retired.filter((e) => !e.stranded).slice(0, RETIRED_KEPT));
  return [...planned, ...kept].slice(0, MAX_REPORTED_VERSIONS);
}
