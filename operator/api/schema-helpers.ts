// Small TypeBox constructors that only produce what a Kubernetes structural schema accepts:
// every node typed, string maps as additionalProperties (not patternProperties), enums as
// `enum` (not anyOf/const), and a description everywhere.
import { Type, type TSchema, type TUnsafe } from "@sinclair/typebox";

export interface Bounds {
  minimum?: number;
  maximum?: number;
}

export const text = (description: string, extra: Record<string, unknown> = {}) =>
  Type.String({ description, ...extra });

export const int = (description: string, bounds: Bounds & { default?: number } = {}) =>
  Type.Integer({ description, format: "int32", ...bounds });

export const bool = (description: string, defaultValue?: boolean) =>
  Type.Boolean({ description, ...(defaultValue === undefined ? {} : { default: defaultValue }) });

export function oneOfStrings<const T extends readonly string[]>(
  description: string,
  values: T,
  defaultValue?: T[number],
): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({
    type: "string",
    enum: [...values],
    description,
    ...(defaultValue === undefined ? {} : { default: defaultValue }),
  });
}

export const stringMap = (description: string): TUnsafe<Record<string, string>> =>
  Type.Unsafe<Record<string, string>>({
    type: "object",
    additionalProperties: { type: "string" },
    description,
  });

/** A Kubernetes quantity ("500m", "1Gi", 2). */
export const quantity = (description: string): TUnsafe<string | number> =>
  Type.Unsafe<string | number>({ "x-kubernetes-int-or-string": true, description });

export const quantityMap = (description: string): TUnsafe<Record<string, string | number>> =>
  Type.Unsafe<Record<string, string | number>>({
    type: "object",
    additionalProperties: { "x-kubernetes-int-or-string": true },
    description,
  });

/** An object whose inner shape the API server validates elsewhere (e.g. a pod spec fragment). */
export const openObject = <T = Record<string, unknown>>(description: string): TUnsafe<T> =>
  Type.Unsafe<T>({ type: "object", "x-kubernetes-preserve-unknown-fields": true, description });

export interface CelRule {
  rule: string;
  message: string;
  fieldPath?: string;
  reason?: "FieldValueInvalid" | "FieldValueForbidden" | "FieldValueRequired" | "FieldValueDuplicate";
}

/** Attaches CEL rules (x-kubernetes-validations) to a schema node. */
export function withRules<T extends TSchema>(schema: T, rules: readonly CelRule[]): T {
  return { ...schema, "x-kubernetes-validations": rules };
}
