/**
 * The versions of a workflow in Redis (keys.ts `versions`): the rollout state create-run.lua
 * chooses a new run's version from (written by write-rollout.lua) and the registered versions,
 * decoded here; depth.ts reads each version's queue depth.
 */
import { FloxideError } from "../../sdk/index.ts";
import type { Rollout } from "../types.ts";
import { checkRolloutRequest, type RolloutRequest } from "../versions.ts";
import type { RedisClient } from "./connection.ts";
import { checkVersion, WorkflowKeys } from "./keys.ts";
import { keysFor, runScript } from "./scripts.ts";

const corrupt = (key: string, what: string): FloxideError =>
  new FloxideError(
    "InvalidItem",
    `${key}: ${what}; write the rollout again (the operator does on its next reconcile)`,
    { key },
  );

/** The field of `versions` that registers a version (create-run.lua and write-rollout.lua write it). */
export const versionField = (version: string): string => `v:${version}`;

/** The rollout and the registered versions (with when each was first used) of a `versions` hash. */
export function decodeVersionsHash(
  key: string,
  hash: Readonly<Record<string, string>>,
): { rollout: Rollout; since: Map<string, number> } {
  const since = new Map<string, number>();
  for (const [field, value] of Object.entries(hash)) {
    if (!field.startsWith(versionField(""))) continue;
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

/**
 * Checks the request and returns the arguments of write-rollout.lua after the common ones.
 * `until`: the ramp's end a partition takes when it does not run that ramp yet (partition 0's, so
 * every partition's ramp ends at the same instant); none: a period from now.
 */
export function rolloutArgs(request: RolloutRequest, until?: number): (string | number)[] {
  const { current, ramp } = checkRolloutRequest(request);
  checkVersion(current);
  if (ramp !== null) checkVersion(ramp.version);
  return [current, ramp?.version ?? "", ramp?.percent ?? 0, ramp?.periodMs ?? 0, until ?? ""];
}

/**
 * Writes a rollout to a workflow's partitions, `write(partition index, until)` each: partition 0
 * first, then the others with its ramp's end, so the ramp ends at one instant for the workflow
 * (each partition's own clock reading would differ by the writes' spacing). Returns the ramp's end
 * (Redis clock, ms) or null for no ramp.
 */
export async function writeRolloutToPartitions(
  partitions: number,
  write: (partition: number, until?: number) => Promise<number>,
): Promise<number | null> {
  const first = await write(0);
  const until = first < 0 ? undefined : first;
  await Promise.all(Array.from({ length: partitions - 1 }, (_, i) => write(i + 1, until)));
  return until ?? null;
}

/** The keys of each of a workflow's partitions (the rollout lives in every one: keys.ts). */
const partitionKeys = (workflow: string, prefix: string | undefined, partitions: number): WorkflowKeys[] =>
  new WorkflowKeys(workflow, prefix).partitions(partitions);

/**
 * Writes the rollout of `workflow` with any client (the operator's own connection): the same
 * function the store calls, on every partition (writeRolloutToPartitions). Returns the ramp's end
 * (Redis clock, ms) or null for no ramp.
 */
export async function writeRolloutWith(
  client: RedisClient,
  workflow: string,
  request: RolloutRequest,
  prefix?: string,
  partitions = 1,
): Promise<number | null> {
  const all = partitionKeys(workflow, prefix, partitions);
  return writeRolloutToPartitions(partitions, async (partition, until) => {
    const keys = all[partition] as WorkflowKeys;
    const args = [keys.base, 0, ...rolloutArgs(request, until)];
    return Number(await runScript(client, "write-rollout", keysFor(keys, "write-rollout"), args));
  });
}

/** Forgets a retired version of `workflow` (see forget-version.lua) with any client: true when every partition did. */
export async function forgetVersionWith(
  client: RedisClient,
  workflow: string,
  version: string,
  prefix?: string,
  partitions = 1,
): Promise<boolean> {
  const forgotten = await Promise.all(
    partitionKeys(workflow, prefix, partitions).map(async (keys) => {
      const args = [keys.base, 0, checkVersion(version)];
      return Number(await runScript(client, "forget-version", keysFor(keys, "forget-version"), args)) === 1;
    }),
  );
  return forgotten.every(Boolean);
}
