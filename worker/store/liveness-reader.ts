/**
 * The read-only reader of worker liveness, for the operator and the CLI: which workers of a
 * workflow are alive, judged by the Redis clock (as heartbeat.lua writes it), never by the
 * reader's clock. It only reads: unlike the store's list-workers script it never prunes.
 * Records are decoded with a TypeBox schema; a malformed one is skipped and reported.
 */
import { Type, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import type { RedisClient } from "./redis/connection.ts";
import { WorkflowKeys } from "./redis/keys.ts";
import type { WorkerLiveness } from "./types.ts";

export const WorkerLivenessSchema = Type.Object({
  workerId: Type.String(),
  status: Type.Union([Type.Literal("idle"), Type.Literal("busy"), Type.Literal("draining")]),
  inFlight: Type.Integer({ minimum: 0 }),
  at: Type.Number(),
});
// The store's type and the schema must agree; a drift fails the compile here.
const sameShape: Static<typeof WorkerLivenessSchema> extends WorkerLiveness ? true : false = true;
void sameShape;

/** Redis' clock (ms) and the workers hash, in one read-only script: one slot, one round trip. */
const READ_WORKERS = `
local t = redis.call('TIME')
return { tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), redis.call('HGETALL', KEYS[1]) }
`;

export const LivenessReplySchema = Type.Tuple([Type.Integer(), Type.Array(Type.String())]);

export interface LivenessReading {
  readonly workers: readonly WorkerLiveness[];
  /** Entries that did not decode, with why (a corrupt entry never hides the others). */
  readonly malformed: readonly string[];
}

/** Decodes the `<expiresAt>|<liveness JSON>` entries alive at `now` (Redis ms). */
export function decodeLivenessEntries(flat: readonly string[], now: number): LivenessReading {
  const workers: WorkerLiveness[] = [];
  const malformed: string[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const id = flat[i] as string;
    const value = flat[i + 1] as string;
    const sep = value.indexOf("|");
    const expires = Number(value.slice(0, sep));
    if (sep < 0 || !Number.isFinite(expires)) {
      malformed.push(`${id}: no '<expiresAt>|' prefix`);
      continue;
    }
    if (expires <= now) continue;
    let record: unknown;
    try {
      record = JSON.parse(value.slice(sep + 1));
    } catch (error) {
      malformed.push(`${id}: ${(error as Error).message}`);
      continue;
    }
    if (Value.Check(WorkerLivenessSchema, record)) workers.push(record);
    else malformed.push(`${id}: ${[...Value.Errors(WorkerLivenessSchema, record)][0]?.message ?? "invalid"}`);
  }
  return { workers, malformed };
}

/** The live workers of `workflow` under `prefix`, by the Redis clock. */
export async function readWorkerLiveness(
  redis: RedisClient,
  workflow: string,
  prefix?: string,
): Promise<LivenessReading> {
  const key = new WorkflowKeys(workflow, prefix).key("workers");
  const reply: unknown = await redis.eval(READ_WORKERS, 1, key);
  if (!Value.Check(LivenessReplySchema, reply)) {
    throw new Error(`unexpected reply to the liveness read of '${workflow}': ${JSON.stringify(reply)}`);
  }
  return decodeLivenessEntries(reply[1], reply[0]);
}
