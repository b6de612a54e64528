/**
 * What the store can hold: a value that JSON represents exactly and every decoder on the way
 * (V8's JSON.parse, Lua's cjson for entries off the fast path) reads back. Checked where values
 * enter (a run's input at start, a node's outputs and events at the end of its step), so a
 * value the store would mangle or refuse later is refused at once, naming the reason, instead of
 * wedging a run or being retried although it cannot succeed.
 */

/**
 * The deepest nesting of arrays and objects a stored value may have. Lua's cjson refuses more
 * than 1000 levels, and the store wraps a value in up to three more (item, join input, dead
 * letter); 512 leaves room and is far beyond any real payload.
 */
export const MAX_JSON_DEPTH = 512;

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const keySegment = (key: string): string =>
  /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;

/**
 * A problem found inside a value: what is wrong, and the path segments to it from the innermost
 * out (appended as the search returns, so a value with no problem builds no path at all).
 */
interface Problem {
  readonly what: string;
  readonly segments: string[];
}

const problemAt = (what: string): Problem => ({ what, segments: [] });

function check(current: unknown, depth: number, ancestors: Set<object>): Problem | null {
  switch (typeof current) {
    case "string":
      return LONE_SURROGATE.test(current)
        ? problemAt(" is a string with a lone UTF-16 surrogate (not valid Unicode)")
        : null;
    case "number":
    case "boolean":
    case "undefined":
      return null;
    case "bigint":
      return problemAt(" is a BigInt (JSON has no BigInt; convert it to a string or number)");
    case "function":
      return problemAt(" is a function (not JSON)");
    case "symbol":
      return problemAt(" is a symbol (not JSON)");
  }
  if (current === null) return null;
  let object = current as object;
  const toJSON = (object as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === "function") {
    const converted: unknown = toJSON.call(object);
    if (typeof converted !== "object" || converted === null) return check(converted, depth, ancestors);
    object = converted;
  }
  if (depth >= MAX_JSON_DEPTH) return problemAt(` is nested deeper than ${MAX_JSON_DEPTH} levels`);
  if (ancestors.has(object)) return problemAt(" is a circular reference");
  ancestors.add(object);
  try {
    if (Array.isArray(object)) {
      for (let i = 0; i < object.length; i += 1) {
        const problem = check(object[i] as unknown, depth + 1, ancestors);
        if (problem !== null) {
          problem.segments.push(`[${i}]`);
          return problem;
        }
      }
      return null;
    }
    for (const key of Object.keys(object)) {
      if (LONE_SURROGATE.test(key))
        return { what: ": the key has a lone UTF-16 surrogate", segments: [keySegment(key)] };
      const problem = check((object as Record<string, unknown>)[key], depth + 1, ancestors);
      if (problem !== null) {
        problem.segments.push(keySegment(key));
        return problem;
      }
    }
    return null;
  } finally {
    ancestors.delete(object);
  }
}

/**
 * Why `value` cannot be stored, or null if it can. `undefined` (as JSON.stringify treats it:
 * null at the top and in arrays, an absent key in objects) is allowed; functions, symbols,
 * BigInts, circular structures, lone UTF-16 surrogates (in strings or keys) and nesting deeper
 * than MAX_JSON_DEPTH are not. The reason names where, from `path`: `value.items[2]["a b"] is a
 * BigInt ...`.
 */
export function unstorableReason(value: unknown, path = "value"): string | null {
  // A string or number (most outputs) needs no walk.
  if (typeof value === "number" || typeof value === "boolean" || value === null || value === undefined)
    return null;
  try {
    const problem = check(value, 0, new Set<object>());
    return problem === null ? null : `${path}${problem.segments.reverse().join("")}${problem.what}`;
  } catch (error) {
    // A getter or toJSON that throws: JSON.stringify would throw the same.
    return `${path} cannot be read: ${error instanceof Error ? error.message : "a getter threw"}`;
  }
}

/**
 * The most values one `nextAll` may fan out to. A larger fan-out is refused with InvalidOutput
 * naming this limit (never retried: it cannot succeed). Follow-ups above a few thousand are
 * staged in chunks under the step's lease and published by its commit (worker/store/redis/
 * stage.ts), so this bounds the memory of one step, not the size of a Redis call.
 */
export const MAX_FAN_OUT = 1_000_000;
