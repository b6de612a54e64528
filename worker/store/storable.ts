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

const describeKey = (path: string, key: string): string =>
  /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;

/**
 * Why `value` cannot be stored, or null if it can. `undefined` (as JSON.stringify treats it:
 * null at the top and in arrays, an absent key in objects) is allowed; functions, symbols,
 * BigInts, circular structures, lone UTF-16 surrogates (in strings or keys) and nesting deeper
 * than MAX_JSON_DEPTH are not.
 */
export function unstorableReason(value: unknown, path = "value"): string | null {
  const ancestors = new Set<object>();
  const check = (current: unknown, at: string, depth: number): string | null => {
    switch (typeof current) {
      case "string":
        return LONE_SURROGATE.test(current)
          ? `${at} is a string with a lone UTF-16 surrogate (not valid Unicode)`
          : null;
      case "number":
      case "boolean":
      case "undefined":
        return null;
      case "bigint":
        return `${at} is a BigInt (JSON has no BigInt; convert it to a string or number)`;
      case "function":
        return `${at} is a function (not JSON)`;
      case "symbol":
        return `${at} is a symbol (not JSON)`;
    }
    if (current === null) return null;
    let object = current as object;
    const toJSON = (object as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === "function") {
      const converted: unknown = toJSON.call(object);
      if (typeof converted !== "object" || converted === null) return check(converted, at, depth);
      object = converted;
    }
    if (depth >= MAX_JSON_DEPTH) return `${at} is nested deeper than ${MAX_JSON_DEPTH} levels`;
    if (ancestors.has(object)) return `${at} is a circular reference`;
    ancestors.add(object);
    try {
      if (Array.isArray(object)) {
        for (let i = 0; i < object.length; i += 1) {
          const problem = check(object[i] as unknown, `${at}[${i}]`, depth + 1);
          if (problem !== null) return problem;
        }
        return null;
      }
      for (const key of Object.keys(object)) {
        const keyAt = describeKey(at, key);
        if (LONE_SURROGATE.test(key)) return `${keyAt}: the key has a lone UTF-16 surrogate`;
        const problem = check((object as Record<string, unknown>)[key], keyAt, depth + 1);
        if (problem !== null) return problem;
      }
      return null;
    } finally {
      ancestors.delete(object);
    }
  };
  try {
    return check(value, path, 0);
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
