/**
 * What a node returns. `next` sends one output to every successor, `nextAll` fans out one item
 * per output (per successor), `hold` parks the item until the run is resumed or cancelled,
 * `abort` fails the whole run without retries.
 */
export type Transition<O = unknown> =
  | { readonly kind: "next"; readonly output: O }
  | { readonly kind: "nextAll"; readonly outputs: readonly O[] }
  | { readonly kind: "hold"; readonly reason?: string }
  | { readonly kind: "abort"; readonly error: string };

export const next = <O>(output: O): Transition<O> => ({ kind: "next", output });
export const nextAll = <O>(outputs: readonly O[]): Transition<O> => ({ kind: "nextAll", outputs });
export const hold = (reason?: string): Transition<never> =>
  reason === undefined ? { kind: "hold" } : { kind: "hold", reason };
export const abort = (error: string | Error): Transition<never> => ({
  kind: "abort",
  error: typeof error === "string" ? error : error.message,
});

/** An output addressed to a routed edge: the edge maps `tag` to successors, which get `value`. */
export interface Tagged<T extends string = string, V = unknown> {
  readonly tag: T;
  readonly value: V;
}

export const tagged = <T extends string, V>(tag: T, value: V): Tagged<T, V> => ({ tag, value });

export function isTransition(value: unknown): value is Transition {
  if (typeof value !== "object" || value === null) return false;
  const kind = (value as { kind?: unknown }).kind;
  if (kind === "next") return "output" in value;
  if (kind === "nextAll") return Array.isArray((value as { outputs?: unknown }).outputs);
  if (kind === "hold") return true;
  if (kind === "abort") return typeof (value as { error?: unknown }).error === "string";
  return false;
}

export function isTagged(value: unknown): value is Tagged {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { tag?: unknown }).tag === "string" &&
    "value" in value
  );
}
