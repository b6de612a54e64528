import { backoffDelayMs } from "../../common/backoff.ts";
import { FloxideError, type Backoff, type RetryOptions } from "../sdk/index.ts";

export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly backoff: Backoff;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly jitter: number;
  readonly retryable: (error: unknown) => boolean;
}

export const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 3,
  backoff: "exponential",
  initialDelayMs: 1000,
  maxDelayMs: 30_000,
  jitter: 0.2,
  retryable: () => true,
};

/** Node options win over workflow defaults, which win over DEFAULT_RETRY. Invalid values throw. */
export function resolveRetry(...layers: (RetryOptions | undefined)[]): RetryPolicy {
  const merged: RetryPolicy = { ...DEFAULT_RETRY };
  for (const layer of layers) {
    if (layer === undefined) continue;
    for (const [key, value] of Object.entries(layer)) {
      if (value !== undefined) (merged as unknown as Record<string, unknown>)[key] = value;
    }
  }
  const bad = (message: string): never => {
    throw new FloxideError("InvalidWorkflow", `retry policy: ${message}`, {
      policy: { ...merged, retryable: undefined },
    });
  };
  if (!Number.isInteger(merged.maxAttempts) || merged.maxAttempts < 1)
    bad("maxAttempts must be an integer >= 1");
  if (!["fixed", "linear", "exponential"].includes(merged.backoff))
    bad(`unknown backoff '${merged.backoff}'`);
  if (!(merged.initialDelayMs >= 0)) bad("initialDelayMs must be >= 0");
  if (!(merged.maxDelayMs >= merged.initialDelayMs)) bad("maxDelayMs must be >= initialDelayMs");
  if (!(merged.jitter >= 0 && merged.jitter <= 1)) bad("jitter must be between 0 and 1");
  return merged;
}

/**
 * Delay before the attempt after `failedAttempt` (1-based): the one backoff formula with the
 * policy's growth, initial delay, cap and jitter (a random share subtracted), in whole ms.
 */
export function retryDelay(
  policy: RetryPolicy,
  failedAttempt: number,
  random: () => number = Math.random,
): number {
  const { backoff: growth, initialDelayMs: initialMs, maxDelayMs: maxMs, jitter } = policy;
  return Math.round(backoffDelayMs({ growth, initialMs, maxMs, jitter }, failedAttempt, random));
}

/** Errors that are never retried: the run asked to stop, or the definition is wrong. */
const FINAL_CODES = new Set([
  "Aborted",
  "Cancelled",
  "UnknownRoute",
  "InvalidItem",
  "InvalidWorkflow",
  "LeaseLost",
  "PayloadTooLarge",
  // A value the store cannot represent is the same value on the next attempt.
  "InvalidOutput",
  // A reducer is a pure function of state and event: it would throw again on a retry.
  "ReducerFailed",
]);

/** Whether the error's code says a retry cannot succeed (false for a value `instanceof` throws on). */
function isFinal(error: unknown): boolean {
  try {
    return error instanceof FloxideError && FINAL_CODES.has(error.code);
  } catch {
    return false;
  }
}

export function shouldRetry(policy: RetryPolicy, failedAttempt: number, error: unknown): boolean {
  if (isFinal(error)) return false;
  if (failedAttempt >= policy.maxAttempts) return false;
  try {
    return policy.retryable(error);
  } catch {
    // A predicate that throws cannot vouch for a retry.
    return false;
  }
}
