/**
 * Versions of a workflow, as pure functions shared by both backends, the operator and the CLI:
 * checking a rollout before it is written, and judging each version's backlog (which version is
 * current, which drains, which is stranded: items left and no worker to run them).
 */
import { FloxideError } from "../sdk/index.ts";
import type { QueueDepth, VersionBacklog, WorkerLiveness, WorkflowVersions } from "./types.ts";

/**
 * The version a store serves when it is opened without one (tools that only read or start runs,
 * tests). A worker always opens its store with its workflow module's `version`.
 */
export const DEFAULT_VERSION = "1";

/** What a writer asks for: the ramp's period starts when its version is first written. */
export interface RolloutRequest {
  readonly current: string;
  readonly ramp: { readonly version: string; readonly percent: number; readonly periodMs: number } | null;
}

const invalid = (message: string): FloxideError => new FloxideError("InvalidInput", message);

/** The request, checked; an InvalidInput error saying what to fix otherwise. */
export function checkRolloutRequest(request: RolloutRequest): RolloutRequest {
  if (typeof request.current !== "string" || request.current === "") {
    throw invalid("a rollout needs the current version (a non-empty string)");
  }
  const { ramp } = request;
  if (ramp === null) return request;
  if (typeof ramp.version !== "string" || ramp.version === "") {
    throw invalid("a ramp needs the version it sends new runs to (a non-empty string)");
  }
  if (ramp.version === request.current)
    throw invalid(`the ramp's version '${ramp.version}' is already current`);
  if (!Number.isFinite(ramp.percent) || ramp.percent < 0 || ramp.percent > 100) {
    throw invalid(`a ramp's percent must be between 0 and 100 (got ${ramp.percent})`);
  }
  if (!Number.isInteger(ramp.periodMs) || ramp.periodMs <= 0) {
    throw invalid(`a ramp's period must be a positive number of milliseconds (got ${ramp.periodMs})`);
  }
  return request;
}

export type VersionRole = "current" | "ramping" | "draining" | "idle";

export interface VersionReport extends VersionBacklog {
  readonly role: VersionRole;
  readonly workers: number;
  /**
   * Items are left and no worker of the version is alive, and the version is neither current nor
   * ramping (nothing will start one): they wait until a worker of the version runs again.
   */
  readonly stranded: boolean;
}

export const backlogOf = (v: Pick<VersionBacklog, "ready" | "inFlight" | "delayed">): number =>
  v.ready + v.inFlight + v.delayed;

/** Each version's role, live workers and whether its backlog is stranded. */
export function reportVersions(
  versions: WorkflowVersions,
  workers: readonly WorkerLiveness[],
): VersionReport[] {
  const { rollout } = versions;
  // Without a rollout state (no operator: runs get their starter's version) the newest is current.
  const newest = [...versions.versions].sort((a, b) => b.since - a.since)[0]?.version ?? null;
  const current = rollout.current ?? newest;
  return versions.versions.map((backlog) => {
    const role: VersionRole =
      current === backlog.version
        ? "current"
        : rollout.ramp?.version === backlog.version
          ? "ramping"
          : backlogOf(backlog) > 0
            ? "draining"
            : "idle";
    const live = workers.filter((worker) => worker.version === backlog.version).length;
    const stranded = backlogOf(backlog) > 0 && live === 0 && (role === "draining" || role === "idle");
    return { ...backlog, role, workers: live, stranded };
  });
}

/** A workflow's depth: its versions' queues summed, and its dead letters (shared by all versions). */
export function totalDepth({
  versions,
  dead,
}: {
  readonly versions: readonly VersionBacklog[];
  readonly dead: number;
}): QueueDepth {
  const sum = (field: "ready" | "inFlight" | "delayed"): number =>
    versions.reduce((acc, v) => acc + v[field], 0);
  return { ready: sum("ready"), inFlight: sum("inFlight"), delayed: sum("delayed"), dead };
}
