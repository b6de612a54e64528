/**
 * TypeBox schemas of what the store's read-only readers get back from Redis (queue depth,
 * worker liveness), and the one decoder they share: a reply that does not match is an
 * InvalidItem error naming what was read and where it differs, never a NaN or a TypeError later.
 */
import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { FloxideError } from "../../sdk/index.ts";
import type { WorkerLiveness } from "../types.ts";

const Count = Type.Integer({ minimum: 0 });

/** The record heartbeat.lua stores per worker (after its `<expiresAt>|` prefix). */
export const WorkerLivenessSchema = Type.Object({
  workerId: Type.String(),
  status: Type.Union([Type.Literal("idle"), Type.Literal("busy"), Type.Literal("draining")]),
  inFlight: Count,
  at: Type.Number(),
  version: Type.Optional(Type.String()),
});

/** The read-only liveness script's reply: Redis' clock (ms) and the workers hash, flat. */
export const LivenessReplySchema = Type.Tuple([Type.Integer(), Type.Array(Type.String())]);

/** LLEN ready, ZCARD leases, ZCARD delayed, LLEN dead: one workflow's depth. */
export const QueueDepthReplySchema = Type.Tuple([Count, Count, Count, Count]);

// The store's type and the schema must agree; a drift fails the compile here.
const sameLiveness: Static<typeof WorkerLivenessSchema> extends WorkerLiveness ? true : false = true;
void sameLiveness;

/** `value` as `schema` describes it, or an InvalidItem error saying what and where. */
export function decodeReply<T extends TSchema>(schema: T, value: unknown, what: string): Static<T> {
  if (Value.Check(schema, value)) return value;
  const first = Value.Errors(schema, value).First();
  const where = first === undefined || first.path === "" ? "" : ` at ${first.path}`;
  throw new FloxideError(
    "InvalidItem",
    `malformed ${what} read from Redis${where}: ${first?.message ?? "does not match its schema"}`,
    { what },
  );
}

/** LLEN ready, ZCARD leases, ZCARD delayed of one workflow version. */
export const VersionDepthReplySchema = Type.Tuple([Count, Count, Count]);
