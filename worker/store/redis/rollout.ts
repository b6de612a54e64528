/**
 * The versions of a workflow in Redis (keys.ts `versions`): the rollout state create-run.lua
 * chooses a new run's version from (written by write-rollout.lua) and the registered versions,
 * decoded here; depth.ts reads each version's queue depth.
 */
import { FloxideError } from "../../sdk/index.ts";
import type { Rollout } from "../types.ts";
import { checkRolloutRequest, type RolloutRequest } from "../versions.ts";
import { checkVersion } from "./keys.ts";

const corrupt = (key: string, what: string): FloxideError =>
  new FloxideError(
    "InvalidItem",
    `${key}: ${what}; write the rollout again (the operator does on its next reconcile)`,
    { key },
  );

/** The rollout and the registered versions (with when each was first used) of a `versions` hash. */
export function decodeVersionsHash(
  key: string,
  hash: Readonly<Record<string, string>>,
): { rollout: Rollout; since: Map<string, number> } {
  const since = new Map<string, number>();
  for (const [field, value] of Object.entries(hash)) {
    if (!field.startsWith("v:")) continue;
    const at = Number(value);
    if (!Number.isFinite(at)) throw corrupt(key, `field ${field} is not a time`);
    since.set(field.slice(2), at);
  }
  const rampVersion = hash["ramp-version"];
  let ramp: Rollout["ramp"] = null;
  if (rampVersion !== undefined) {
    const percent = Number(hash["ramp-percent"]);
    const until = Number(hash["ramp-until"]);
    if (!(percent >= 0 && percent <= 100) || !Number.isFinite(until)) {
      throw corrupt(key, "the ramp is not a percentage and a time");
    }
    ramp = { version: rampVersion, percent, until };
  }
  return { rollout: { current: hash["current"] ?? null, ramp }, since };
}

export { checkRolloutRequest, type RolloutRequest };

/** Checks the request and returns the arguments of write-rollout.lua after the common ones. */
export function rolloutArgs(request: RolloutRequest): (string | number)[] {
  const { current, ramp } = checkRolloutRequest(request);
  checkVersion(current);
  if (ramp !== null) checkVersion(ramp.version);
  return [current, ramp?.version ?? "", ramp?.percent ?? 0, ramp?.periodMs ?? 0];
}
