/**
 * TypeBox schemas of what the store's read-only readers get back from Redis (queue depth,
 * worker liveness), and the one decoder every read of the store shares (record-schemas.ts holds
 * the records the store writes): a value that does not match is an InvalidItem error naming
 * what was read and where it differs, never a NaN or a TypeError later. Each schema is compiled
 * once (TypeCompiler), on its first use; a check then allocates nothing.
 */
import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { TypeCompiler, type TypeCheck } from "@sinclair/typebox/compiler";
import { ValueErrorType, type ValueError } from "@sinclair/typebox/errors";
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
  concurrency: Type.Optional(Type.Integer({ minimum: 1 })),
  // A DNS name (a pod's name) is at most 253 characters.
  host: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
});

/** The read-only liveness script's reply: Redis' clock (ms) and the workers hash, flat. */
export const LivenessReplySchema = Type.Tuple([Type.Integer(), Type.Array(Type.String())]);

/** LLEN ready, ZCARD leases, ZCARD delayed, LLEN dead: one workflow's depth. */
export const QueueDepthReplySchema = Type.Tuple([Count, Count, Count, Count]);

// The store's type and the schema must agree; a drift fails the compile here.
const sameLiveness: Static<typeof WorkerLivenessSchema> extends WorkerLiveness ? true : false = true;
void sameLiveness;

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

/** The compiled check of `schema`, made on first use and kept as long as the schema lives. */
export function compiledCheck<T extends TSchema>(schema: T): TypeCheck<T> {
  let check = compiled.get(schema) as TypeCheck<T> | undefined;
  if (check === undefined) {
    check = TypeCompiler.Compile(schema);
    compiled.set(schema, check);
  }
  return check;
}

/** `value` as `schema` describes it, or an InvalidItem error saying what and where. */
export function decodeReply<T extends TSchema>(schema: T, value: unknown, what: string): Static<T> {
  const check = compiledCheck(schema);
  if (check.Check(value)) return value;
  throw malformed(what, mismatch(check, value));
}

/** The InvalidItem error of a value read from Redis that is not what the store wrote. */
export function malformed(what: string, problem: string): FloxideError {
  return new FloxideError("InvalidItem", `malformed ${what} read from Redis${problem}`, { what });
}

/**
 * Where and how `value` differs from the schema, as `: <problem>` or ` at <path>: <problem>`.
 * Fields the schema does not allow come first, all of them: a record with a field this worker
 * does not know was written by something else and would lose part of its meaning.
 */
function mismatch(check: TypeCheck<TSchema>, value: unknown): string {
  const errors = [...check.Errors(value)];
  const unknown = errors.filter((error) => error.type === ValueErrorType.ObjectAdditionalProperties);
  const first = unknown[0];
  if (first !== undefined) {
    const parent = first.path.slice(0, first.path.lastIndexOf("/"));
    const names = unknown
      .filter((error) => error.path.slice(0, error.path.lastIndexOf("/")) === parent)
      .map((error) => `"${unescape(error.path.slice(parent.length + 1))}"`);
    return `${parent === "" ? "" : ` at ${parent}`}: unknown field${names.length > 1 ? "s" : ""} ${names.join(", ")}`;
  }
  const error = errors[0];
  if (error === undefined) return ": does not match its schema";
  return `${error.path === "" ? "" : ` at ${error.path}`}: ${describe(error)}`;
}

/** A JSON pointer segment back to the field name. */
const unescape = (segment: string): string => segment.replaceAll("~1", "/").replaceAll("~0", "~");

/** TypeBox's message, with the allowed values of a union of literals and what was found. */
function describe(error: ValueError): string {
  const choices = (error.schema.anyOf as TSchema[] | undefined)?.map((option) => option.const as unknown);
  const expected =
    choices !== undefined && choices.every((choice) => typeof choice === "string")
      ? `Expected one of ${choices.map((choice) => `"${choice}"`).join(", ")}`
      : error.message;
  if (error.type === ValueErrorType.ObjectRequiredProperty) return expected;
  const found = JSON.stringify(error.value) ?? String(error.value);
  return `${expected}, found ${found.length > 60 ? `${found.slice(0, 57)}...` : found}`;
}

/** LLEN ready, ZCARD leases, ZCARD delayed of one workflow version. */
export const VersionDepthReplySchema = Type.Tuple([Count, Count, Count]);
